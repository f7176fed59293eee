//! `retort run --targets FILE` (or `--database-url` given several times):
//! the same chain on many databases, `--jobs` at a time. The revisions are
//! loaded once and each is compiled once, when a plan first needs it, then
//! shared; each target gets its own connection, lock and transactions, so
//! one target's failure leaves the others alone.
//!
//! The targets file has one target per line:
//!
//! ```text
//! # comments and blank lines are ignored; ${VAR} and ${VAR:-default} are expanded
//! sqlite:tenants/acme.db                              (relative to this file)
//! postgres://deploy@db1/app schema=tenant_7 name=tenant-7
//! mysql://deploy:${DB_PASSWORD}@db2/shop
//! ```

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use futures_util::StreamExt;
use serde_json::json;

use super::args::Format;
use super::commands::Outcome;
use super::obj::Obj;
use super::output::{Reporter, RunLabel, Ui, json_line};
use super::progress::Progress;
use crate::{Config, Database, Deployment, Direction, Error, Project, Target};

type Done = Result<(), Outcome>;

/// One line of the targets file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// What the results call it: `name=`, else the URL (password hidden) and schema.
    pub name: String,
    /// Where it is.
    pub database: Database,
}

/// Reads a targets file (see the module documentation for its format). A
/// line without `schema=` gets `default_schema` (`--schema` or the config's).
pub fn read_targets(path: &Path, default_schema: Option<&str>) -> Result<Vec<TargetSpec>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read the targets file {}: {e}",
            path.display()
        ))
    })?;
    let mut targets = parse_targets(&text, path, &|name| std::env::var(name).ok())?;
    for t in &mut targets {
        if t.database.schema.is_none() && t.database.url.starts_with("postgres") {
            t.database.schema = default_schema.map(str::to_string);
        }
    }
    Ok(targets)
}

/// Parses the text of a targets file; `env` supplies `${VAR}`s.
pub fn parse_targets(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<TargetSpec>, Error> {
    let mut targets: Vec<TargetSpec> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), n + 1);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = crate::config::expand_vars(line, env, path)
            .map_err(|e| Error::Usage(format!("{}: {e}", at())))?;
        let mut fields = line.split_whitespace();
        let base = path.parent().unwrap_or(Path::new(""));
        let url = crate::config::relative_sqlite(fields.next().unwrap_or_default(), base);
        if crate::Dialect::from_url(&url).is_none() {
            return Err(Error::Usage(format!(
                "{}: {:?} is not a database URL: use sqlite:PATH, postgres://… or mysql://…, optionally followed by schema=NAME and name=LABEL",
                at(),
                crate::sink::redact(&url)
            )));
        }
        let (mut schema, mut name) = (None, None);
        for field in fields {
            match field.split_once('=') {
                Some(("schema", value)) if !value.is_empty() => schema = Some(value.to_string()),
                Some(("name", value)) if !value.is_empty() => name = Some(value.to_string()),
                _ => {
                    return Err(Error::Usage(format!(
                        "{}: unknown field {field:?}: after the URL a line takes schema=NAME and name=LABEL",
                        at()
                    )));
                }
            }
        }
        let database = Database { url, schema };
        let name = name.unwrap_or_else(|| database.display_name());
        if targets.iter().any(|t| t.name == name) {
            return Err(Error::Usage(format!(
                "{}: target {name} is listed twice",
                at()
            )));
        }
        targets.push(TargetSpec { name, database });
    }
    if targets.is_empty() {
        return Err(Error::Usage(format!(
            "{} lists no targets: write one database URL per line",
            path.display()
        )));
    }
    Ok(targets)
}

/// Targets from repeated `--database-url` (each with the configured schema).
pub fn url_targets(urls: &[String], schema: Option<&str>) -> Vec<TargetSpec> {
    urls.iter()
        .map(|url| {
            let database = Database {
                url: url.clone(),
                schema: schema.map(str::to_string),
            };
            TargetSpec {
                name: database.display_name(),
                database,
            }
        })
        .collect()
}

/// How one target ended.
struct TargetResult {
    name: String,
    result: Result<Deployment, Error>,
}

/// Upgrades every target to its heads (or dry-runs it), `jobs` at a time.
pub async fn fan_out(
    config: Config,
    targets: Vec<TargetSpec>,
    jobs: usize,
    dry_run: bool,
    ui: Ui,
) -> Done {
    let started = Instant::now();
    // Loaded once; a component is compiled the first time a target's plan
    // needs it, and every later target shares the compiled one.
    let project = Project::open(config).await?;
    let total = targets.len();
    let progress = match ui.format {
        Format::Human => Progress::new(ui.quiet, true, total as u64, "targets"),
        Format::Json => Progress::silent(),
    };
    let silent = Progress::silent();
    let project = &project;
    let silent = &silent;
    let runs = futures_util::stream::iter(targets.into_iter().map(|spec| async move {
        let label = RunLabel {
            source: None,
            target: Some(spec.name.clone()),
            database: spec.database.display_name(),
            goal: "heads".to_string(),
            direction: Direction::Upgrade,
            dry_run,
        };
        let mut reporter = Reporter::new(ui, project, silent, label);
        let result = project
            .deploy(
                &spec.database,
                Direction::Upgrade,
                &Target::Heads,
                dry_run,
                &mut |event| reporter.observe(event),
            )
            .await;
        if ui.format == Format::Json {
            reporter.finish(&result);
        }
        TargetResult {
            name: spec.name,
            result,
        }
    }))
    .buffer_unordered(jobs.max(1));
    futures_util::pin_mut!(runs);
    let mut results = Vec::with_capacity(total);
    while let Some(done) = runs.next().await {
        if ui.format == Format::Human {
            progress.line(&target_line(&done, dry_run));
            progress.advance();
        }
        results.push(done);
    }
    progress.finish();
    let failed: Vec<&TargetResult> = results.iter().filter(|r| r.result.is_err()).collect();
    let code = exit_code(&results);
    let elapsed = started.elapsed();
    match ui.format {
        Format::Json => json_line(
            &Obj::event("summary")
                .with("exit_code", json!(code))
                .with("targets", json!(total))
                .with("succeeded", json!(total - failed.len()))
                .with("failed", json!(failed.len()))
                .with(
                    "failed_targets",
                    json!(failed.iter().map(|r| r.name.as_str()).collect::<Vec<_>>()),
                )
                .with("dry_run", json!(dry_run))
                .with("jobs", json!(jobs))
                .with("duration_ms", json!((elapsed.as_micros() as f64) / 1000.0)),
        ),
        Format::Human => {
            let verb = if dry_run { "dry-ran" } else { "upgraded" };
            let mut summary = format!(
                "Fan-out: {} of {total} target(s) {verb}, {} failed, in {elapsed:.1?} (--jobs {jobs}).",
                total - failed.len(),
                failed.len()
            );
            for r in &failed {
                if let Err(e) = &r.result {
                    summary.push_str(&format!("\nerror: {}: {e}", r.name));
                }
            }
            if failed.is_empty() {
                progress.line(&summary);
            } else {
                // Failures are printed even with --quiet.
                eprintln!("{}", crate::printable::printable(&summary));
            }
        }
    }
    if code == 0 {
        Ok(())
    } else {
        Err(Outcome::Exit(ExitCode::from(code)))
    }
}

/// `ok      NAME  4 applied in 0.3s  sha256:…` or `FAILED  NAME  exit 1: …`.
fn target_line(done: &TargetResult, dry_run: bool) -> String {
    match &done.result {
        Ok(d) if d.steps.is_empty() => format!("ok      {}  nothing to do", done.name),
        Ok(d) => {
            let elapsed: std::time::Duration = d.steps.iter().map(|s| s.elapsed).sum();
            let verb = if dry_run { "would apply" } else { "applied" };
            format!(
                "ok      {}  {} {verb} ({:.1?} in revisions)  {}",
                done.name,
                d.steps.len(),
                elapsed,
                d.digest
            )
        }
        Err(e) => format!(
            "FAILED  {}  exit {}: {}",
            done.name,
            e.exit_code(),
            e.to_string().lines().next().unwrap_or_default()
        ),
    }
}

/// 0 when every target succeeded; the failures' exit code when they share
/// one; 1 for a mix.
fn exit_code(results: &[TargetResult]) -> u8 {
    let mut codes = results
        .iter()
        .filter_map(|r| r.result.as_ref().err().map(Error::exit_code));
    match codes.next() {
        None => 0,
        Some(first) if codes.all(|c| c == first) => first,
        Some(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_files() {
        let text = "# tenants\n\nsqlite:a.db\n  postgres://u:pw@h/db schema=t7 name=tenant-7  \nmysql://u:${PW}@h/db\n";
        let env = |name: &str| (name == "PW").then(|| "secret".to_string());
        let targets = parse_targets(text, Path::new("t.txt"), &env).unwrap();
        assert_eq!(targets.len(), 3);
        assert_eq!(targets[0].name, "sqlite:a.db");
        let nested = parse_targets("sqlite:a.db", Path::new("conf/t.txt"), &env).unwrap();
        assert_eq!(nested[0].database.url, "sqlite:conf/a.db");
        assert_eq!(targets[1].name, "tenant-7");
        assert_eq!(targets[1].database.schema.as_deref(), Some("t7"));
        assert_eq!(targets[2].database.url, "mysql://u:secret@h/db");
        assert_eq!(targets[2].name, "mysql://u:***@h/db");
    }

    #[test]
    fn the_exit_code_of_a_fan_out() {
        let result = |e: Option<Error>| TargetResult {
            name: String::new(),
            result: match e {
                None => Ok(Deployment {
                    steps: Vec::new(),
                    digest: crate::Tap::default().digest(),
                    dry_run: None,
                }),
                Some(e) => Err(e),
            },
        };
        let usage = || Some(Error::Usage("bad".into()));
        let engine = || Some(Error::Engine("down".into()));
        assert_eq!(exit_code(&[result(None), result(None)]), 0);
        assert_eq!(
            exit_code(&[result(None), result(usage()), result(usage())]),
            2
        );
        assert_eq!(exit_code(&[result(usage()), result(engine())]), 1);
    }

    #[test]
    fn bad_targets_files_name_the_line() {
        let env = |_: &str| None;
        let err = |text: &str| {
            parse_targets(text, Path::new("t.txt"), &env)
                .unwrap_err()
                .to_string()
        };
        assert!(err("sqlite:a.db\nhttp://x\n").starts_with("t.txt:2: "));
        assert!(err("sqlite:a.db colour=red").contains("unknown field \"colour=red\""));
        assert!(err("sqlite:a.db\nsqlite:a.db").contains("listed twice"));
        assert!(err("# nothing\n").contains("lists no targets"));
        assert!(err("mysql://u:${PW}@h/db").contains("PW"));
    }
}
