//! The public operations: what the CLI commands call, usable without it.

mod adopt;
mod audit;
mod authoring;
mod deploy;
mod dry_run;
mod lint;
mod resume;
mod stamp;

pub use audit::{InterpreterChange, Verification};
pub use authoring::RevisionRequest;
pub use deploy::{Database, Deployment, DryRun, DryRunMethod};
pub use lint::LintReport;

pub use adopt::Adopted;
pub use stamp::Check;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::catalog::{Catalog, CatalogError, Entry};
use crate::config::Config;
use crate::dialect::Dialect;
use crate::error::Error;
use crate::graph::{Direction, GraphError, Plan, RevisionGraph, Target};
use crate::runner::{AppliedRevision, Event, RecordedFailure, Runner, StepReport};
use crate::sandbox::Sandbox;
use crate::sink::{OnlineSink, Recorder, Sink};
use crate::value::DbError;

/// An applied revision whose component changed since it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The revision id.
    pub id: String,
    /// The sha256 the version table recorded when it was applied.
    pub recorded: String,
    /// The sha256 of the component on disk now.
    pub current: String,
    /// The component file.
    pub path: std::path::PathBuf,
    /// A script applied by an earlier release, whose recorded identity
    /// covered its interpreter too, and matches the script under none found.
    pub applied_by_an_earlier_release: bool,
}

/// An offline range, `FROM:TO` (or just `TO`, from base).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// Where the database is assumed to be: `None` for base.
    pub from: Option<Target>,
    /// The target.
    pub to: Target,
}

impl FromStr for Range {
    type Err = GraphError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((from, to)) => {
                let from = match from.trim() {
                    "" | "base" => None,
                    other => Some(other.parse()?),
                };
                Ok(Range {
                    from,
                    to: to.parse()?,
                })
            }
            None => Ok(Range {
                from: None,
                to: s.parse()?,
            }),
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.from {
            Some(from) => write!(f, "{from}:{}", self.to),
            None => write!(f, "base:{}", self.to),
        }
    }
}

/// A configuration with its revisions loaded.
#[derive(Debug)]
pub struct Project {
    config: Config,
    sandbox: Sandbox,
    catalog: Catalog,
    /// With `[[sources]]`: each source's chain, in the file's order (the
    /// project's own chain is this one).
    sources: Vec<Project>,
}

impl Project {
    /// Starts the engine and loads every revision in the migrations directory
    /// (metadata from the cache where it can; nothing is compiled then).
    pub async fn open(config: Config) -> Result<Project, Error> {
        let sandbox = Sandbox::new().map_err(|e| Error::Engine(format!("{e:#}")))?;
        Project::open_in(sandbox, config).await
    }

    async fn open_in(sandbox: Sandbox, config: Config) -> Result<Project, Error> {
        let catalog = Catalog::load(
            &sandbox,
            &config.migrations,
            config.cache_dir.as_deref(),
            config.compile_dir.as_deref(),
            &config.interpreters,
        )
        .await?;
        let mut project = Project {
            config,
            sandbox,
            catalog,
            sources: Vec::new(),
        };
        project.open_sources().await?;
        Ok(project)
    }

    /// Loads each `[[sources]]` chain (for the project's own chain only),
    /// refusing an id that two chains share: the version table is shared.
    async fn open_sources(&mut self) -> Result<(), Error> {
        if self.config.chain_only || self.config.sources.is_empty() {
            return Ok(());
        }
        for source in self.config.sources.clone() {
            // A chain's own configuration loads no further chains.
            let config = self.config.for_source(&source.name)?;
            let chain = Box::pin(Project::open_in(self.sandbox.clone(), config)).await?;
            for other in std::iter::once(&*self).chain(&self.sources) {
                if let Some(entry) = chain
                    .catalog
                    .entries()
                    .iter()
                    .find(|e| other.catalog.get(&e.info.id).is_some())
                {
                    return Err(Error::Config(crate::config::ConfigError::BadValue {
                        key: "sources",
                        message: format!(
                            "revision {} is in both {} and {}: revision ids must be unique across sources (they share the version table)",
                            entry.info.id,
                            other.source_name(),
                            chain.source_name()
                        ),
                    }));
                }
            }
            self.sources.push(chain);
        }
        Ok(())
    }

    /// This chain's source name (`app` for the project's own).
    pub fn source_name(&self) -> &str {
        self.config
            .source
            .as_deref()
            .unwrap_or(crate::config::APP_SOURCE)
    }

    /// Whether any chain's revisions are third-party.
    fn any_third_party(&self) -> bool {
        self.chains()
            .any(|c| c.config.trust == crate::sandbox::Trust::ThirdParty)
    }

    /// Every chain: this project's own, then each source's.
    pub fn chains(&self) -> impl Iterator<Item = &Project> {
        std::iter::once(self).chain(self.sources.iter())
    }

    /// Like [`Project::open`], but a missing or empty migrations directory is
    /// a project without revisions (for `revision` on a new project).
    pub async fn open_or_empty(config: Config) -> Result<Project, Error> {
        let sandbox = Sandbox::new().map_err(|e| Error::Engine(format!("{e:#}")))?;
        let catalog = match Catalog::load(
            &sandbox,
            &config.migrations,
            config.cache_dir.as_deref(),
            config.compile_dir.as_deref(),
            &config.interpreters,
        )
        .await
        {
            Ok(catalog) => catalog,
            Err(CatalogError::Empty { .. }) => Catalog::empty(&config.migrations),
            Err(CatalogError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && !config.migrations.exists() =>
            {
                Catalog::empty(&config.migrations)
            }
            Err(e) => return Err(e.into()),
        };
        let mut project = Project {
            config,
            sandbox,
            catalog,
            sources: Vec::new(),
        };
        project.open_sources().await?;
        Ok(project)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The loaded revisions.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The revision graph.
    pub fn graph(&self) -> &RevisionGraph {
        self.catalog.graph()
    }

    /// The revisions `history -r RANGE` shows, newest first. `RANGE` is
    /// `FROM:TO` (either end may be left out: base and heads), or `TO` alone.
    pub fn history(&self, range: Option<&str>) -> Result<Vec<&Entry>, Error> {
        let end = |text: &str, open: &str| -> Result<Option<Target>, GraphError> {
            match text.trim() {
                "" => Ok(None),
                t if t == open => Ok(None),
                t => t.parse().map(Some),
            }
        };
        let (from, to) = match range.map(|r| r.split_once(':').unwrap_or(("", r))) {
            None => (None, None),
            Some((from, to)) => (end(from, "base")?, end(to, "heads")?),
        };
        let ids = self.graph().range(from.as_ref(), to.as_ref())?;
        Ok(ids
            .into_iter()
            .filter_map(|id| self.catalog.get(id))
            .collect())
    }

    /// The revision a target names (`show`).
    pub fn show(&self, target: &Target) -> Result<&Entry, Error> {
        let id = self.graph().resolve_target(target)?;
        self.catalog
            .get(id)
            .ok_or_else(|| Error::Usage(format!("revision {id} has no component")))
    }

    /// Opens the one connection a run uses.
    pub async fn connect(&self) -> Result<Sink, Error> {
        let url = self.config.require_url()?;
        let schema = self.config.schema.as_deref();
        Ok(Sink::Online(OnlineSink::connect(url, schema).await?))
    }

    /// The applied revisions, in graph order.
    pub async fn applied(&self, sink: &mut Sink) -> Result<Vec<AppliedRevision>, Error> {
        let mut rows = self
            .config
            .version_table
            .read(sink)
            .await
            .map_err(|e| database("reading the version table", e))?;
        let order = self.graph().ordered();
        rows.sort_by_key(|r| order.iter().position(|id| *id == r.id));
        Ok(rows)
    }

    /// Compiles every revision (and interpreter) not in the compile cache
    /// yet; returns how many were compiled.
    pub fn precompile(&self) -> Result<usize, Error> {
        Ok(self.catalog.precompile(&self.sandbox)?)
    }

    /// Connects and reads the applied revisions.
    pub async fn current(&self) -> Result<Vec<AppliedRevision>, Error> {
        let mut sink = self.connect().await?;
        let rows = self.applied(&mut sink).await;
        close(sink).await;
        let rows = rows?;
        self.require_files(&rows)?;
        Ok(rows)
    }

    /// Connects and reads the recorded part-way failures (empty when none).
    pub async fn failures(&self) -> Result<Vec<RecordedFailure>, Error> {
        let mut sink = self.connect().await?;
        let rows = self
            .config
            .version_table
            .failures(&mut sink)
            .await
            .map_err(|e| database("reading the failures table", e));
        close(sink).await;
        rows
    }

    /// Applies revisions up to `target` online.
    pub async fn upgrade(
        &self,
        target: &Target,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<StepReport>, Error> {
        self.online(Direction::Upgrade, target, observer).await
    }

    /// Reverts revisions down to `target` online.
    pub async fn downgrade(
        &self,
        target: &Target,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<StepReport>, Error> {
        self.online(Direction::Downgrade, target, observer).await
    }

    /// The plan an online run would follow from `applied`.
    pub fn plan(
        &self,
        direction: Direction,
        applied: &BTreeSet<String>,
        target: &Target,
    ) -> Result<Plan, Error> {
        Ok(match direction {
            Direction::Upgrade => self.graph().plan_upgrade(applied, target)?,
            Direction::Downgrade => self.graph().plan_downgrade(applied, target)?,
        })
    }

    async fn online(
        &self,
        direction: Direction,
        target: &Target,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<StepReport>, Error> {
        let sink = self.connect().await?;
        let (sink, result) = self.run_online(sink, direction, target, observer).await;
        close(sink).await;
        result
    }

    /// Takes the lock, checks for unresolved failures, plans against the
    /// version table and runs the plan. Always hands the sink back so the
    /// connection is closed (and the lock released) whatever happened.
    async fn run_online(
        &self,
        mut sink: Sink,
        direction: Direction,
        target: &Target,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> (Sink, Result<Vec<StepReport>, Error>) {
        if let Err(e) = self.confine(&mut sink).await {
            return (sink, Err(e));
        }
        let (mut sink, plan) = self
            .locked(sink, async |sink: &mut Sink| {
                let applied: BTreeSet<String> = self
                    .applied(sink)
                    .await?
                    .into_iter()
                    .map(|r| r.id)
                    .collect();
                self.plan(direction, &applied, target)
            })
            .await;
        // `locked` has released the lock if it failed.
        let plan = match plan {
            Ok(plan) => plan,
            Err(e) => return (sink, Err(e)),
        };
        if let Err(e) = self.catalog.prepare(&self.sandbox, &plan.steps).await {
            return self.release(sink, Err(e.into())).await;
        }
        if let Err(e) = self.enter_scope(&mut sink).await {
            return self.release(sink, Err(e)).await;
        }
        let table = &self.config.version_table;
        let rules = |id: &str| self.config.rules_for(id);
        let mut runner = Runner::new(&self.sandbox, &self.catalog, table, sink, &rules);
        let result = runner
            .run(&plan, self.config.transaction_mode, observer)
            .await
            .map_err(Error::from);
        self.release(runner.into_sink(), result).await
    }

    /// A PostgreSQL source's schema becomes where its revisions' unqualified
    /// names go (created if missing); the host's tables stay addressed
    /// qualified where they are.
    pub(crate) async fn enter_scope(&self, sink: &mut Sink) -> Result<(), Error> {
        let Some(scope) = &self.config.scope else {
            return Ok(());
        };
        if sink.dialect() != Dialect::Postgres {
            return Ok(());
        }
        let action = format!("entering source {}'s schema {scope:?}", self.source_name());
        // Only when missing: CREATE SCHEMA checks the CREATE privilege on
        // the database even when the schema exists.
        let exists = sink.mode() == crate::sink::Mode::Online
            && !sink
                .host_query(
                    "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                    &[crate::value::Value::Text(scope.clone())],
                )
                .await
                .map_err(|e| database(&action, e))?
                .values
                .is_empty();
        let sql = Dialect::Postgres.enter_schema(scope, !exists);
        sink.execute(&sql, &[])
            .await
            .map_err(|e| database(&action, e))?;
        Ok(())
    }

    /// The schemas (PostgreSQL) a confined role may own: the host's and
    /// every source's.
    fn own_schemas(&self, sink: &Sink) -> Vec<String> {
        let mut schemas: Vec<String> = sink.host_schema().map(str::to_string).into_iter().collect();
        schemas.extend(self.config.sources.iter().filter_map(|s| s.scope.clone()));
        schemas
    }

    /// Under `third-party` trust, refuses (before anything runs) a
    /// connection whose role reaches outside its database.
    pub(crate) async fn confine(&self, sink: &mut Sink) -> Result<(), Error> {
        if !self.any_third_party() {
            return Ok(());
        }
        let schemas = self.own_schemas(sink);
        let findings = sink
            .outside_reach(&schemas)
            .await
            .map_err(|e| database("checking what the connection's role can reach", e))?;
        if findings.is_empty() {
            return Ok(());
        }
        Err(Error::Unconfined {
            findings,
            role_sql: sink.least_privilege_sql(&schemas).await,
        })
    }

    /// Before a run of every chain: refuses what any chain's run would
    /// refuse for the connection (a third-party source over a role that
    /// reaches outside), so nothing runs at all.
    pub async fn preflight(&self) -> Result<(), Error> {
        let mut sink = self.connect().await?;
        let result = self.confine(&mut sink).await;
        close(sink).await;
        result
    }

    /// What `retort doctor` reports about the connection: the trust, what
    /// its role reaches outside its database, and the least-privilege
    /// role's SQL.
    pub async fn doctor(&self) -> Result<Doctor, Error> {
        let mut sink = self.connect().await?;
        let schemas = self.own_schemas(&sink);
        let reach = sink
            .outside_reach(&schemas)
            .await
            .map_err(|e| database("checking what the connection's role can reach", e));
        let role_sql = sink.least_privilege_sql(&schemas).await;
        let dialect = sink.dialect();
        close(sink).await;
        let trust = if self.any_third_party() {
            crate::sandbox::Trust::ThirdParty
        } else {
            crate::sandbox::Trust::FirstParty
        };
        Ok(Doctor {
            dialect,
            trust,
            outside_reach: reach?,
            role_sql,
        })
    }

    /// Takes the migration lock (unless configured off), makes sure the
    /// version table exists, refuses while a recorded failure is unresolved,
    /// then runs `then`. On error the lock is released before returning.
    pub(crate) async fn locked<T>(
        &self,
        mut sink: Sink,
        then: impl AsyncFnOnce(&mut Sink) -> Result<T, Error>,
    ) -> (Sink, Result<T, Error>) {
        let table = &self.config.version_table;
        if self.config.lock
            && let Err(e) = sink.lock(table.name(), self.config.lock_timeout).await
        {
            return (sink, Err(e.into()));
        }
        let result = async {
            table
                .ensure(&mut sink)
                .await
                .map_err(|e| database("creating the version table", e))?;
            let failures = table
                .failures(&mut sink)
                .await
                .map_err(|e| database("reading the failures table", e))?;
            if !failures.is_empty() {
                return Err(Error::Dirty {
                    table: table.failures_name(),
                    failures,
                });
            }
            let mut applied = self.applied(&mut sink).await?;
            self.adopt_legacy_rows(&mut sink, &mut applied).await?;
            for change in self.interpreter_changes(&applied) {
                tracing::info!(
                    revision = change.id.as_str(),
                    recorded = change.recorded.as_str(),
                    current = change.current.as_str(),
                    "applied under another interpreter (an earlier Retort release); its script is unchanged"
                );
            }
            let drifts = self.drifts(&applied);
            if !drifts.is_empty() {
                return Err(Error::Drift(drifts));
            }
            then(&mut sink).await
        }
        .await;
        match result {
            Ok(value) => (sink, Ok(value)),
            Err(e) => self.release(sink, Err(e)).await,
        }
    }

    pub(crate) async fn release<T>(
        &self,
        mut sink: Sink,
        result: Result<T, Error>,
    ) -> (Sink, Result<T, Error>) {
        // The lock has a connection (or a file) of its own: released even
        // when the run's connection was lost.
        if self.config.lock {
            sink.unlock(self.config.version_table.name()).await;
        }
        (sink, result)
    }

    /// Accepts a deliberate rebuild: records the current sha256 of each of
    /// `ids` (which must have drifted) in the version table, under the lock.
    pub async fn accept_drift(&self, ids: &[String]) -> Result<Vec<Drift>, Error> {
        let mut wanted = Vec::with_capacity(ids.len());
        for id in ids {
            wanted.push(self.graph().resolve(id)?.to_string());
        }
        let mut sink = self.connect().await?;
        let table = &self.config.version_table;
        if self.config.lock
            && let Err(e) = sink.lock(table.name(), self.config.lock_timeout).await
        {
            close(sink).await;
            return Err(e.into());
        }
        let result = async {
            let drifts = self.drifts(&self.applied(&mut sink).await?);
            let mut accepted = Vec::new();
            for id in &wanted {
                let drift = drifts.iter().find(|d| &d.id == id).ok_or_else(|| {
                    Error::Usage(format!(
                        "revision {id} has not drifted: its component matches the version table (or it is not applied)"
                    ))
                })?;
                accepted.push(drift.clone());
            }
            for drift in &accepted {
                table
                    .update_sha256(&mut sink, &drift.id, &drift.current)
                    .await
                    .map_err(|e| database("recording the accepted sha256", e))?;
            }
            Ok(accepted)
        }
        .await;
        let (sink, result) = self.release(sink, result).await;
        close(sink).await;
        result
    }

    /// Settles a revision that failed part-way: `applied` when its changes are
    /// all in place (the version table is set as if it had completed),
    /// otherwise the version table is left as before it. Either way the
    /// failure record is removed and runs may continue.
    pub async fn resolve(&self, id: &str, applied: bool) -> Result<RecordedFailure, Error> {
        let id = self.graph().resolve(id)?.to_string();
        let sink = self.connect().await?;
        let table = &self.config.version_table;
        let mut sink = sink;
        if self.config.lock
            && let Err(e) = sink.lock(table.name(), self.config.lock_timeout).await
        {
            close(sink).await;
            return Err(e.into());
        }
        let result = async {
            let failures = table
                .failures(&mut sink)
                .await
                .map_err(|e| database("reading the failures table", e))?;
            let failure = failures.into_iter().find(|f| f.id == id).ok_or_else(|| {
                Error::Usage(format!("revision {id} has no recorded failure to resolve"))
            })?;
            let dialect = sink.dialect();
            let step = async {
                sink.execute(dialect.begin(), &[]).await?;
                if applied {
                    if failure.direction == "downgrade" {
                        table.delete(&mut sink, &id).await?;
                    } else {
                        let entry = self.catalog.get(&id).expect("resolved ids exist");
                        table
                            .insert(
                                &mut sink,
                                &id,
                                &entry.sha256,
                                entry.interpreter.as_deref(),
                                None,
                            )
                            .await?;
                    }
                }
                table.clear_failure(&mut sink, &id).await?;
                sink.execute("COMMIT", &[]).await.map(drop)
            }
            .await;
            if let Err(e) = step {
                let _ = sink.execute("ROLLBACK", &[]).await;
                return Err(database("resolving the failure", e));
            }
            Ok(failure)
        }
        .await;
        let (sink, result) = self.release(sink, result).await;
        close(sink).await;
        result
    }

    /// Records the SQL of an offline run over `range` as a script for `dialect`.
    pub async fn script(
        &self,
        direction: Direction,
        range: &Range,
        dialect: Dialect,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<String, Error> {
        let graph = self.graph();
        let assumed = match &range.from {
            None => BTreeSet::new(),
            Some(from) => graph.reachable(from)?,
        };
        if direction == Direction::Downgrade && range.from.is_none() {
            return Err(Error::Usage(
                "an offline downgrade needs the starting point: give a range FROM:TO, e.g. head:base".into(),
            ));
        }
        let plan = self.plan(direction, &assumed, &range.to)?;
        self.catalog.prepare(&self.sandbox, &plan.steps).await?;
        let table = &self.config.version_table;
        let mut recorder = Recorder::new(dialect).with_host_schema(self.config.schema.as_deref());
        recorder.comment(&format!(
            "Retort offline script: {direction} {range} ({dialect}); {} step(s).\nReview it, then apply it with your database's own client.",
            plan.steps.len()
        ));
        let mut sink = Sink::Offline(recorder);
        if let Some(schema) = &self.config.schema {
            if dialect != Dialect::Postgres {
                return Err(Error::Usage(format!(
                    "a schema is a PostgreSQL setting; a {dialect} script cannot use schema {schema:?}"
                )));
            }
            sink.comment("the schema that holds the version table and the revisions' tables");
            for statement in dialect.schema_statements(schema, true) {
                sink.execute(&statement, &[])
                    .await
                    .map_err(|e| database("recording the schema", e))?;
            }
        }
        sink.comment("the version table");
        table
            .ensure(&mut sink)
            .await
            .map_err(|e| database("recording the version table", e))?;
        self.enter_scope(&mut sink).await?;
        let rules = |id: &str| self.config.rules_for(id);
        let mut runner = Runner::new(&self.sandbox, &self.catalog, table, sink, &rules);
        runner
            .run(&plan, self.config.transaction_mode, observer)
            .await?;
        match runner.into_sink() {
            Sink::Offline(recorder) => Ok(recorder.into_script()),
            Sink::Online(_) => unreachable!("an offline run keeps its recorder"),
        }
    }
}

/// What `retort doctor` found.
#[derive(Debug, Clone)]
pub struct Doctor {
    /// The database kind.
    pub dialect: crate::dialect::Dialect,
    /// The configured trust.
    pub trust: crate::sandbox::Trust,
    /// Each way the connection's role reaches outside its database.
    pub outside_reach: Vec<String>,
    /// The SQL that creates a least-privilege role.
    pub role_sql: String,
}

fn database(action: &str, error: DbError) -> Error {
    Error::Database {
        action: action.to_string(),
        error,
    }
}

/// Closes the connection; a broken or abandoned one is just dropped (its
/// socket closes, and the server ends the session and rolls back).
async fn close(sink: Sink) {
    if let Sink::Online(online) = sink
        && !online.is_broken()
        && let Err(e) = online.close().await
    {
        tracing::warn!("closing the connection: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r: Range = "ab12:heads".parse().unwrap();
        assert_eq!(r.from, Some(Target::Revision("ab12".into())));
        assert_eq!(r.to, Target::Heads);
        let r: Range = "base:cd".parse().unwrap();
        assert_eq!(r.from, None);
        let r: Range = "head".parse().unwrap();
        assert_eq!((r.from, r.to), (None, Target::Head));
        assert!("a:".parse::<Range>().is_err());
    }
}
