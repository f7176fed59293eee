//! `retort.toml`, environment overrides and flags, merged in that order of
//! precedence (flags win). Values in the file may reference `${VAR}` or
//! `${VAR:-default}`. Relative paths in the file are relative to the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::runner::TransactionMode;
use crate::runner::version_table::{self, VersionTable};

/// The file looked for in the current directory when no `--config` is given.
pub const DEFAULT_FILE: &str = "retort.toml";

/// The configuration could not be read or makes no sense.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("config file {} is invalid: {message}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// `${VAR}` names a variable that is not set.
    #[error("{key} in {} references ${{{var}}}, which is not set; set it or write ${{{var}:-default}}", .path.display())]
    MissingVar {
        /// The file.
        path: PathBuf,
        /// The key whose value references it.
        key: &'static str,
        /// The variable.
        var: String,
    },
    /// An unterminated `${`.
    #[error("{key} in {} has an unterminated ${{ in {value:?}", .path.display())]
    BadInterpolation {
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// The raw value.
        value: String,
    },
    /// No database URL anywhere.
    #[error(
        "no database URL: pass --database-url, set RETORT_DATABASE_URL or DATABASE_URL, or set database_url in retort.toml"
    )]
    NoDatabaseUrl,
    /// A database URL of an unknown kind.
    #[error(
        "database URL {0:?} is not supported: use sqlite:PATH, postgres://… or mysql://… (mariadb://…)"
    )]
    BadDatabaseUrl(String),
    /// A bad version table name.
    #[error(transparent)]
    VersionTable(#[from] version_table::BadTableName),
    /// A setting with a value of the wrong form.
    #[error("{key}: {message}")]
    BadValue {
        /// The setting.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    migrations: Option<String>,
    version_table: Option<String>,
    schema: Option<String>,
    lock: Option<bool>,
    lock_timeout: Option<f64>,
    transaction_mode: Option<String>,
    limits: Option<crate::sandbox::LimitsSpec>,
    policy: Option<crate::sandbox::PolicySpec>,
    trust: Option<String>,
    cache_dir: Option<String>,
    revisions: Option<String>,
    interpreters: Option<FileInterpreters>,
    sources: Option<Vec<FileSource>>,
    lint: Option<crate::lint::LintEntry>,
}

/// `[[sources]]`: another chain of revisions (a plugin's, a vendor's) in the
/// same database and version table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSource {
    name: String,
    migrations: String,
    trust: Option<String>,
    schema: Option<String>,
    policy: Option<crate::sandbox::PolicySpec>,
    limits: Option<crate::sandbox::LimitsSpec>,
}

/// One chain of revisions besides the project's own (`[[sources]]`).
#[derive(Debug, Clone)]
pub struct Source {
    /// Its name (what `--source` and the version table's `source` column say).
    pub name: String,
    /// Its migrations directory.
    pub migrations: PathBuf,
    /// Who wrote it (default `third-party`: a source is someone else's code).
    pub trust: crate::sandbox::Trust,
    /// Where its tables live: a PostgreSQL schema, a table prefix on SQLite
    /// and MySQL.
    pub scope: Option<String>,
    /// Its SQL policy.
    pub policy: Option<crate::sandbox::PolicySpec>,
    /// Its budgets.
    pub limits: crate::sandbox::LimitsSpec,
}

/// The name of the project's own chain when there are `[[sources]]`.
pub const APP_SOURCE: &str = "app";

/// `[interpreters]`: where the interpreter components of script revisions are.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileInterpreters {
    dir: Option<String>,
    python: Option<String>,
    js: Option<String>,
}

/// What the command line says, before the file and environment are read.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--database-url URL`.
    pub database_url: Option<String>,
    /// `--migrations DIR`.
    pub migrations: Option<PathBuf>,
    /// `--version-table NAME`.
    pub version_table: Option<String>,
    /// `--schema NAME` (PostgreSQL).
    pub schema: Option<String>,
    /// `--lock-timeout SECONDS`.
    pub lock_timeout: Option<f64>,
    /// `--no-lock`.
    pub no_lock: bool,
    /// `--transaction-mode per-revision|all`.
    pub transaction_mode: Option<String>,
    /// `--trust first-party|third-party`.
    pub trust: Option<String>,
}

/// The merged configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The database URL, if any source gave one.
    pub database_url: Option<String>,
    /// The directory holding revision components.
    pub migrations: PathBuf,
    /// The version table.
    pub version_table: VersionTable,
    /// The PostgreSQL schema for the version table and `search_path`.
    pub schema: Option<String>,
    /// Whether runs take the migration lock.
    pub lock: bool,
    /// How long a run waits for the migration lock.
    pub lock_timeout: std::time::Duration,
    /// How runs use transactions.
    pub transaction_mode: TransactionMode,
    /// Budgets (`[limits]`, with per-revision overrides).
    pub limits: crate::sandbox::LimitsSpec,
    /// `[lint]` (or `lint = "error"`): rules, exemptions and `run`'s gate.
    pub lint: crate::lint::LintSpec,
    /// The SQL policy (`[policy]`, with per-revision overrides); `None` when unset.
    pub policy: Option<crate::sandbox::PolicySpec>,
    /// Who may have written the revisions (`trust`; default first-party).
    pub trust: crate::sandbox::Trust,
    /// The other chains in the same database (`[[sources]]`).
    pub sources: Vec<Source>,
    /// Which chain this configuration runs: `None` without `[[sources]]`,
    /// else [`APP_SOURCE`] or a source's name.
    pub source: Option<String>,
    /// The schema (PostgreSQL) or table prefix (SQLite, MySQL) this chain's
    /// revisions are confined to: a source's `schema`.
    pub scope: Option<String>,
    /// Whether this configuration is one chain of several (from
    /// [`Config::for_source`]): a project opened with it loads no others.
    pub chain_only: bool,
    /// Where revision metadata is cached (default `<migrations>/.retort-cache`;
    /// `off` in the file or `RETORT_CACHE_DIR` disables the cache).
    pub cache_dir: Option<PathBuf>,
    /// Where compiled revisions and interpreters are cached: the machine's
    /// cache (`$XDG_CACHE_HOME/retort`, else `~/.cache/retort`) unless
    /// `cache_dir` is configured (then there); `None`: no compile cache.
    pub compile_dir: Option<PathBuf>,
    /// Where `retort revision` and `retort merge` write new revision crates
    /// (default `revisions` beside the config file, or in the current directory).
    pub revisions: PathBuf,
    /// The interpreter components that run `*.py` and `*.js` revisions
    /// (default `<migrations>/interpreters/{python,js}.wasm`).
    pub interpreters: crate::catalog::InterpreterPaths,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
}

/// How long a run waits for another run's lock unless told otherwise.
pub const DEFAULT_LOCK_TIMEOUT_SECS: f64 = 60.0;

impl Config {
    /// Merges flags, the process environment and the config file.
    ///
    /// Variables not set in the environment are read from the first `.env`
    /// file in the current directory or a parent (as sqlx-cli does), so a
    /// `DATABASE_URL` there is found; the environment wins over it.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        let dotenv = read_dotenv()?;
        Self::load_with_env(overrides, &|name| {
            std::env::var(name)
                .ok()
                .or_else(|| dotenv.get(name).cloned())
        })
    }

    /// [`Config::load`] with the environment supplied by `env` (for tests).
    pub fn load_with_env(
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = overrides
            .config
            .clone()
            .or_else(|| env("RETORT_CONFIG").map(PathBuf::from))
            .or_else(find_config_file);
        let (raw, base) = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                let raw: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.clone(),
                    message: e.message().to_string(),
                })?;
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (raw, base)
            }
            None => (FileConfig::default(), PathBuf::new()),
        };
        let path = file.clone().unwrap_or_default();
        let interp = |key, value: Option<String>| -> Result<Option<String>, ConfigError> {
            value.map(|v| interpolate(&v, env, &path, key)).transpose()
        };
        let file_url =
            interp("database_url", raw.database_url)?.map(|url| relative_sqlite(&url, &base));
        let file_migrations = interp("migrations", raw.migrations)?.map(|m| base.join(m));
        let file_table = interp("version_table", raw.version_table)?;
        let file_schema = interp("schema", raw.schema)?;
        let file_mode = interp("transaction_mode", raw.transaction_mode)?;
        let file_cache = interp("cache_dir", raw.cache_dir)?;
        let file_revisions = interp("revisions", raw.revisions)?.map(|r| base.join(r));
        let raw_interpreters = raw.interpreters.unwrap_or_default();
        let file_interpreters_dir =
            interp("interpreters.dir", raw_interpreters.dir)?.map(|d| base.join(d));
        let file_python =
            interp("interpreters.python", raw_interpreters.python)?.map(|p| base.join(p));
        let file_js = interp("interpreters.js", raw_interpreters.js)?.map(|p| base.join(p));

        let database_url = overrides
            .database_url
            .clone()
            .or_else(|| env("RETORT_DATABASE_URL"))
            .or_else(|| env("DATABASE_URL"))
            .or(file_url);
        if let Some(url) = &database_url
            && crate::dialect::Dialect::from_url(url).is_none()
        {
            return Err(ConfigError::BadDatabaseUrl(url.clone()));
        }
        let migrations = overrides
            .migrations
            .clone()
            .or_else(|| env("RETORT_MIGRATIONS").map(PathBuf::from))
            .or(file_migrations)
            .unwrap_or_else(|| base.join("migrations"));
        let table = overrides
            .version_table
            .clone()
            .or_else(|| env("RETORT_VERSION_TABLE"))
            .or(file_table)
            .unwrap_or_else(|| version_table::DEFAULT_NAME.to_string());
        let schema = overrides
            .schema
            .clone()
            .or_else(|| env("RETORT_SCHEMA"))
            .or(file_schema);
        let seconds = match overrides.lock_timeout {
            Some(s) => s,
            None => match env("RETORT_LOCK_TIMEOUT") {
                Some(text) => text.trim().parse().map_err(|_| ConfigError::BadValue {
                    key: "RETORT_LOCK_TIMEOUT",
                    message: format!("{text:?} is not a number of seconds"),
                })?,
                None => raw.lock_timeout.unwrap_or(DEFAULT_LOCK_TIMEOUT_SECS),
            },
        };
        let lock_timeout =
            std::time::Duration::try_from_secs_f64(seconds).map_err(|_| ConfigError::BadValue {
                key: "lock_timeout",
                message: format!("{seconds} is not a number of seconds >= 0"),
            })?;
        let transaction_mode = match overrides
            .transaction_mode
            .clone()
            .or_else(|| env("RETORT_TRANSACTION_MODE"))
            .or(file_mode)
        {
            Some(text) => text.parse().map_err(|message| ConfigError::BadValue {
                key: "transaction_mode",
                message,
            })?,
            None => TransactionMode::default(),
        };
        let file_trust = interp("trust", raw.trust)?;
        let trust = match overrides
            .trust
            .clone()
            .or_else(|| env("RETORT_TRUST"))
            .or(file_trust)
        {
            Some(text) => text.parse().map_err(|message| ConfigError::BadValue {
                key: "trust",
                message,
            })?,
            None => crate::sandbox::Trust::default(),
        };
        let limits = raw.limits.unwrap_or_default();
        let policy = raw.policy;
        // Validate every budget and policy now, so a typo is a config error
        // before anything runs.
        let bad = |message: String| ConfigError::BadValue {
            key: "retort.toml",
            message,
        };
        validate_rules(&limits, policy.as_ref(), trust).map_err(bad)?;
        let lint = raw
            .lint
            .map(crate::lint::LintEntry::into_spec)
            .unwrap_or_default();
        lint.validate().map_err(|message| ConfigError::BadValue {
            key: "lint",
            message,
        })?;
        let mut sources = Vec::new();
        for raw_source in raw.sources.unwrap_or_default() {
            let source = load_source(raw_source, &base, &path, env)?;
            if sources.iter().any(|s: &Source| s.name == source.name) {
                return Err(ConfigError::BadValue {
                    key: "sources",
                    message: format!("two sources are named {:?}", source.name),
                });
            }
            if let Some(scope) = &source.scope
                && (sources
                    .iter()
                    .any(|s: &Source| s.scope.as_ref() == Some(scope))
                    || schema.as_ref() == Some(scope))
            {
                return Err(ConfigError::BadValue {
                    key: "sources",
                    message: format!(
                        "schema {scope:?} is claimed twice (by source {:?} and another source or the project): each source needs a schema of its own",
                        source.name
                    ),
                });
            }
            sources.push(source);
        }
        // From the environment, a relative directory is relative to the current one.
        let cache_configured = env("RETORT_CACHE_DIR").is_some() || file_cache.is_some();
        let cache_dir = match (env("RETORT_CACHE_DIR"), file_cache) {
            (Some(off), _) | (None, Some(off)) if off == "off" => None,
            (Some(dir), _) => Some(PathBuf::from(dir)),
            (None, Some(dir)) => Some(base.join(dir)),
            (None, None) => Some(crate::catalog::default_cache_dir(&migrations)),
        };
        let revisions = file_revisions.unwrap_or_else(|| base.join("revisions"));
        let mut interpreters = match env("RETORT_INTERPRETERS")
            .map(PathBuf::from)
            .or(file_interpreters_dir)
        {
            Some(dir) => crate::catalog::InterpreterPaths::in_configured_dir(&dir),
            None => crate::catalog::InterpreterPaths::in_dir(&migrations.join("interpreters")),
        };
        for (lang, var, file) in [
            (
                crate::catalog::Language::Python,
                "RETORT_PYTHON_INTERPRETER",
                file_python,
            ),
            (
                crate::catalog::Language::JavaScript,
                "RETORT_JS_INTERPRETER",
                file_js,
            ),
        ] {
            if let Some(path) = env(var).map(PathBuf::from).or(file) {
                interpreters.set(lang, path);
            }
        }
        // The interpreters' compiled code is the same for every project:
        // cached once per machine unless the cache is configured.
        // Compiled code (the revisions' and the interpreters') is valid only
        // on this machine, for this engine: cached once per machine, so
        // every checkout and clone on it shares it, unless the cache is
        // configured.
        let compile_dir = match (&cache_dir, cache_configured) {
            (Some(dir), true) => Some(dir.clone()),
            (None, _) => None,
            (Some(dir), false) => {
                crate::catalog::machine_key::machine_dir_in(env).or_else(|| Some(dir.clone()))
            }
        };
        let interpreters = interpreters.with_cache_dir(compile_dir.clone());
        let source = (!sources.is_empty()).then(|| APP_SOURCE.to_string());
        Ok(Config {
            interpreters,
            limits,
            lint,
            policy,
            trust,
            sources,
            version_table: VersionTable::new(&table)?.for_source(source.as_deref()),
            source,
            scope: None,
            chain_only: false,
            database_url,
            migrations,
            schema,
            lock: !overrides.no_lock && raw.lock.unwrap_or(true),
            lock_timeout,
            transaction_mode,
            cache_dir,
            compile_dir,
            revisions,
            file,
        })
    }

    /// The budgets, policy and deny list of revision `id` (validated when
    /// loaded). Under `third-party` every statement is parsed (an empty
    /// policy if none is set) and no exemption applies.
    pub fn rules_for(&self, id: &str) -> crate::sandbox::Rules {
        let limits = self.limits.for_revision(id).unwrap_or_default();
        let third_party = self.trust == crate::sandbox::Trust::ThirdParty;
        let postgres = self
            .database_url
            .as_deref()
            .and_then(crate::dialect::Dialect::from_url)
            == Some(crate::dialect::Dialect::Postgres);
        // A source's scope: its schema on PostgreSQL, a table prefix
        // (`<scope>_`) elsewhere.
        let (home, table_prefix) = match &self.scope {
            Some(scope) if postgres => (Some(scope.clone()), None),
            Some(scope) => (None, Some(format!("{scope}_"))),
            None => (None, None),
        };
        let scoped_spec;
        let spec = match (&self.scope, third_party) {
            // A third-party source touches only its own schema (prefix)
            // unless its policy names the tables it may touch.
            (Some(scope), true) if self.policy.as_ref().is_none_or(|p| p.tables.is_none()) => {
                let mut spec = self.policy.clone().unwrap_or_default();
                spec.tables = Some(vec![if postgres {
                    format!("{scope}.*")
                } else {
                    format!("{scope}_*")
                }]);
                scoped_spec = spec;
                Some(&scoped_spec)
            }
            _ => self.policy.as_ref(),
        };
        let mut policy = spec.and_then(|p| p.for_revision(id).ok());
        let mut deny = self
            .policy
            .as_ref()
            .and_then(|p| p.deny_list_for(id).ok())
            .unwrap_or_default();
        if third_party {
            policy = policy.or_else(|| crate::sandbox::PolicySpec::default().compile().ok());
            deny = crate::sandbox::DenyList::default();
        }
        let guard = crate::sandbox::Guard::new(&self.version_table.host_tables());
        crate::sandbox::Rules {
            limits,
            policy,
            guard,
            deny,
            home,
            table_prefix: if third_party { table_prefix } else { None },
        }
    }

    /// [`Config::rules_for`] for a dry run's rehearsal: no exemption from
    /// the deny list, whatever the trust (a dry run changes nothing anywhere).
    pub fn rehearsal_rules_for(&self, id: &str) -> crate::sandbox::Rules {
        crate::sandbox::Rules {
            deny: crate::sandbox::DenyList::default(),
            ..self.rules_for(id)
        }
    }

    /// The configuration of chain `name` (`app` for the project's own, or
    /// a `[[sources]]` name): its migrations, trust, scope, policy and
    /// budgets, sharing the database, lock and version table.
    pub fn for_source(&self, name: &str) -> Result<Config, ConfigError> {
        if name == APP_SOURCE {
            return Ok(Config {
                chain_only: true,
                ..self.clone()
            });
        }
        let Some(source) = self.sources.iter().find(|s| s.name == name) else {
            let mut names = vec![APP_SOURCE.to_string()];
            names.extend(self.sources.iter().map(|s| s.name.clone()));
            return Err(ConfigError::BadValue {
                key: "--source",
                message: format!(
                    "there is no source {name:?}; the sources are {}",
                    names.join(", ")
                ),
            });
        };
        let cache_dir = self
            .cache_dir
            .as_ref()
            .map(|_| crate::catalog::default_cache_dir(&source.migrations));
        Ok(Config {
            migrations: source.migrations.clone(),
            trust: source.trust,
            policy: source.policy.clone(),
            limits: source.limits.clone(),
            cache_dir,
            source: Some(source.name.clone()),
            scope: source.scope.clone(),
            version_table: self.version_table.for_source(Some(&source.name)),
            chain_only: true,
            ..self.clone()
        })
    }

    /// Every chain's configuration: the project's own first, then each
    /// `[[sources]]` entry in the order the file lists them.
    pub fn chains(&self) -> Vec<Config> {
        if self.sources.is_empty() || self.chain_only {
            return vec![self.clone()];
        }
        std::iter::once(APP_SOURCE)
            .chain(self.sources.iter().map(|s| s.name.as_str()))
            .filter_map(|name| self.for_source(name).ok())
            .collect()
    }

    /// The database URL, or the error saying how to give one.
    pub fn require_url(&self) -> Result<&str, ConfigError> {
        self.database_url
            .as_deref()
            .ok_or(ConfigError::NoDatabaseUrl)
    }
}

/// A `[[sources]]` entry, validated.
fn load_source(
    raw: FileSource,
    base: &Path,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Source, ConfigError> {
    let bad = |message: String| ConfigError::BadValue {
        key: "sources",
        message,
    };
    let name = raw.name;
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !name_ok || name == APP_SOURCE {
        return Err(bad(format!(
            "source name {name:?} is not valid: use lowercase letters, digits, `_` and `-` (and not {APP_SOURCE:?}, the project's own)"
        )));
    }
    let migrations = base.join(interpolate(
        &raw.migrations,
        env,
        path,
        "sources.migrations",
    )?);
    let trust = match raw.trust {
        Some(text) => text
            .parse()
            .map_err(|m: String| bad(format!("source {name}: {m}")))?,
        None => crate::sandbox::Trust::ThirdParty,
    };
    let scope = raw.schema;
    if let Some(scope) = &scope
        && (scope.is_empty() || !scope.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(bad(format!(
            "source {name}: schema {scope:?} is not valid: use letters, digits and `_`"
        )));
    }
    let limits = raw.limits.unwrap_or_default();
    let policy = raw.policy;
    validate_rules(&limits, policy.as_ref(), trust)
        .map_err(|m| bad(format!("source {name}: {m}")))?;
    Ok(Source {
        name,
        migrations,
        trust,
        scope,
        policy,
        limits,
    })
}

/// Checks every budget and policy (and exemption) of a chain.
fn validate_rules(
    limits: &crate::sandbox::LimitsSpec,
    policy: Option<&crate::sandbox::PolicySpec>,
    trust: crate::sandbox::Trust,
) -> Result<(), String> {
    limits.resolve()?;
    for id in limits.revisions.iter().flat_map(|r| r.keys()) {
        limits.for_revision(id)?;
    }
    if let Some(policy) = policy {
        policy.compile()?;
        for id in policy.revisions.iter().flat_map(|r| r.keys()) {
            policy.for_revision(id)?;
            let deny = policy.deny_list_for(id)?;
            if trust == crate::sandbox::Trust::ThirdParty && deny.has_exemptions() {
                return Err(format!(
                    "policy.revisions.{id}.exempt: a third-party revision cannot be exempted from the built-in deny list; only first-party revisions can"
                ));
            }
        }
        policy.deny_list_for("")?;
    }
    Ok(())
}

/// Expands `${VAR}` and `${VAR:-default}` in a line of `path` that is not
/// a config key (a line of a fan-out targets file).
pub(crate) fn expand_vars(
    value: &str,
    env: &dyn Fn(&str) -> Option<String>,
    path: &Path,
) -> Result<String, ConfigError> {
    interpolate(value, env, path, "a target")
}

/// Expands `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`.
fn interpolate(
    value: &str,
    env: &dyn Fn(&str) -> Option<String>,
    path: &Path,
    key: &'static str,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner
                .find('}')
                .ok_or_else(|| ConfigError::BadInterpolation {
                    path: path.to_path_buf(),
                    key,
                    value: value.to_string(),
                })?;
            let expr = &inner[..end];
            let (var, default) = match expr.split_once(":-") {
                Some((var, default)) => (var, Some(default)),
                None => (expr, None),
            };
            match (env(var), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(ConfigError::MissingVar {
                        path: path.to_path_buf(),
                        key,
                        var: var.to_string(),
                    });
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A relative SQLite path in the config file (or a targets file) is
/// relative to the file.
pub(crate) fn relative_sqlite(url: &str, base: &Path) -> String {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return url.to_string();
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() || path.starts_with(':') || Path::new(path).is_absolute() {
        return url.to_string();
    }
    let joined = base.join(path);
    match query {
        Some(q) => format!("sqlite:{}?{q}", joined.display()),
        None => format!("sqlite:{}", joined.display()),
    }
}

/// `retort.toml` in the current directory, else in the nearest parent
/// that has one (a command run from `src/` finds the project's file).
fn find_config_file() -> Option<PathBuf> {
    let here = PathBuf::from(DEFAULT_FILE);
    if here.is_file() {
        return Some(here);
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .skip(1)
        .map(|dir| dir.join(DEFAULT_FILE))
        .find(|file| file.is_file())
}

/// The variables of the first `.env` in the current directory or a parent
/// (empty when there is none).
fn read_dotenv() -> Result<std::collections::HashMap<String, String>, ConfigError> {
    let Some(path) = std::env::current_dir().ok().and_then(|cwd| {
        cwd.ancestors()
            .map(|dir| dir.join(".env"))
            .find(|file| file.is_file())
    }) else {
        return Ok(Default::default());
    };
    let parse = |message: String| ConfigError::Parse {
        path: path.clone(),
        message,
    };
    let items = dotenvy::from_path_iter(&path).map_err(|e| parse(e.to_string()))?;
    items
        .map(|item| item.map_err(|e| parse(e.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("retort.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn file_env_and_flags_in_order_of_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "database_url = \"sqlite:app.db\"\nmigrations = \"revs\"\nversion_table = \"${TABLE:-vt}\"\n",
        );
        let flags = Overrides {
            config: Some(file.clone()),
            ..Overrides::default()
        };
        let c = Config::load_with_env(&flags, &env_of(&[])).unwrap();
        assert_eq!(
            c.database_url.as_deref(),
            Some(format!("sqlite:{}", dir.path().join("app.db").display()).as_str())
        );
        assert_eq!(c.migrations, dir.path().join("revs"));
        assert_eq!(c.version_table.name(), "vt");
        assert_eq!(c.cache_dir, Some(dir.path().join("revs/.retort-cache")));
        assert_eq!(c.revisions, dir.path().join("revisions"));

        let env = env_of(&[
            ("DATABASE_URL", "sqlite:env.db"),
            ("TABLE", "from_env"),
            ("RETORT_CACHE_DIR", "off"),
        ]);
        let c = Config::load_with_env(&flags, &env).unwrap();
        assert_eq!(c.cache_dir, None);
        assert_eq!(c.database_url.as_deref(), Some("sqlite:env.db"));
        assert_eq!(c.version_table.name(), "from_env");

        let env = env_of(&[
            ("DATABASE_URL", "sqlite:env.db"),
            ("RETORT_DATABASE_URL", "sqlite:retort.db"),
        ]);
        let c = Config::load_with_env(&flags, &env).unwrap();
        assert_eq!(c.database_url.as_deref(), Some("sqlite:retort.db"));

        let flags = Overrides {
            database_url: Some("sqlite:flag.db".into()),
            migrations: Some("m".into()),
            ..flags
        };
        let c = Config::load_with_env(&flags, &env).unwrap();
        assert_eq!(c.database_url.as_deref(), Some("sqlite:flag.db"));
        assert_eq!(c.migrations, PathBuf::from("m"));
    }

    #[test]
    fn clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let flags = |text| Overrides {
            config: Some(write(dir.path(), text)),
            ..Overrides::default()
        };
        let err = Config::load_with_env(&flags("database_url = \"${NOPE}\""), &env_of(&[]));
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("references ${NOPE}, which is not set")
        );
        let err = Config::load_with_env(&flags("databse_url = \"x\""), &env_of(&[]));
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("unknown field `databse_url`")
        );
        let err = Config::load_with_env(&flags("database_url = \"oracle://x\""), &env_of(&[]));
        assert!(err.unwrap_err().to_string().contains("is not supported"));
        let err = Config::load_with_env(&flags("version_table = \"a;b\""), &env_of(&[]));
        assert!(err.unwrap_err().to_string().contains("is not valid"));
        let missing = Overrides {
            config: Some(dir.path().join("absent.toml")),
            ..Overrides::default()
        };
        let err = Config::load_with_env(&missing, &env_of(&[])).unwrap_err();
        assert!(err.to_string().contains("cannot read config file"), "{err}");
        let err = Config::load_with_env(&flags("lock_timeout = -1.0"), &env_of(&[]));
        assert!(err.unwrap_err().to_string().contains("lock_timeout: -1"));
        let err = Config::load_with_env(&flags("transaction_mode = \"some\""), &env_of(&[]));
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("use per-revision or all")
        );
        let none = Config::load_with_env(&flags(""), &env_of(&[])).unwrap();
        assert!(none.lock);
        assert_eq!(none.lock_timeout.as_secs(), 60);
        assert_eq!(none.transaction_mode, TransactionMode::PerRevision);
        assert!(
            none.require_url()
                .unwrap_err()
                .to_string()
                .contains("no database URL")
        );
    }

    #[test]
    fn interpolation_forms() {
        let env = env_of(&[("A", "1")]);
        let p = Path::new("f");
        assert_eq!(interpolate("x${A}y", &env, p, "k").unwrap(), "x1y");
        assert_eq!(interpolate("${B:-two}", &env, p, "k").unwrap(), "two");
        assert_eq!(interpolate("$$HOME $x", &env, p, "k").unwrap(), "$HOME $x");
        assert!(interpolate("${A", &env, p, "k").is_err());
    }

    #[test]
    fn sqlite_paths_follow_the_file() {
        let base = Path::new("/etc/app");
        assert_eq!(relative_sqlite("sqlite:a.db", base), "sqlite:/etc/app/a.db");
        assert_eq!(
            relative_sqlite("sqlite://a.db?mode=rwc", base),
            "sqlite:/etc/app/a.db?mode=rwc"
        );
        assert_eq!(relative_sqlite("sqlite:/abs.db", base), "sqlite:/abs.db");
        assert_eq!(relative_sqlite("sqlite::memory:", base), "sqlite::memory:");
        assert_eq!(relative_sqlite("postgres://h/db", base), "postgres://h/db");
    }
}
