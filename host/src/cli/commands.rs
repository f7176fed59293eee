//! One function per command: build the library call, print the result.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

use super::args::{Cli, Command, LangArg, ScaffoldArgs};
use super::report;
use crate::{
    Config, Dialect, Direction, Error, Event, Lang, Overrides, Project, Range, RevisionRequest,
    Scaffolded, Target,
};

/// What each command returns.
type Done = Result<(), Outcome>;

/// Runs a parsed command line; `Ok` carries the exit code (`check` exits 1
/// when something is not applied).
pub async fn run(cli: Cli) -> Result<ExitCode, Error> {
    let global = cli.global;
    let config = Config::load(&Overrides {
        config: global.config,
        database_url: global.database_url,
        migrations: global.migrations,
        version_table: global.version_table,
        schema: global.schema,
        lock_timeout: global.lock_timeout,
        no_lock: global.no_lock,
        transaction_mode: global.transaction_mode,
    })?;
    let quiet = global.quiet;
    match cli.command {
        Command::Upgrade(args) if args.sql => {
            script(config, Direction::Upgrade, &args.target, args.dialect).await
        }
        Command::Upgrade(args) => migrate(config, Direction::Upgrade, &args.target, quiet).await,
        Command::Downgrade(args) if args.sql => {
            script(config, Direction::Downgrade, &args.target, args.dialect).await
        }
        Command::Downgrade(args) => {
            migrate(config, Direction::Downgrade, &args.target, quiet).await
        }
        Command::Run => migrate(config, Direction::Upgrade, "heads", quiet).await,
        Command::Current(args) => current(config, args.verbose, quiet).await,
        Command::Verify(args) => verify(config, &args.accept, quiet).await,
        Command::Resolve(args) => resolve(config, &args.revision, args.applied, quiet).await,
        Command::History(args) => {
            let project = Project::open(config).await?;
            report::history(&project, args.range.as_deref(), args.verbose)
        }
        Command::Heads(args) => report::heads(&Project::open(config).await?, args.verbose),
        Command::Branches => report::branches(&Project::open(config).await?, quiet),
        Command::Show(args) => report::show(&Project::open(config).await?, &args.rev.parse()?),
        Command::Stamp(args) if args.sql => stamp_script(config, &args.target, args.dialect).await,
        Command::Stamp(args) => stamp(config, &args.target, quiet).await,
        Command::Check => check(config).await,
        Command::Revision(args) => {
            let project = Project::open_or_empty(config).await?;
            let request = request(args.scaffold, args.heads, args.depends_on);
            let made = project.new_revision(&request)?;
            created(&project, &made)
        }
        Command::Merge(args) => {
            let project = Project::open(config).await?;
            let request = request(args.scaffold, Vec::new(), Vec::new());
            let made = project.merge(&args.revisions, &request)?;
            created(&project, &made)
        }
    }
    .map(|()| ExitCode::SUCCESS)
    .or_else(|e| match e {
        Outcome::Exit(code) => Ok(code),
        Outcome::Error(e) => Err(e),
    })
}

/// How a command ends short of success: an exit code with its output
/// already printed, or an error for the caller to print.
pub(super) enum Outcome {
    /// Exit with this code; nothing more to print.
    Exit(ExitCode),
    /// Print this error.
    Error(Error),
}

impl<E: Into<Error>> From<E> for Outcome {
    fn from(e: E) -> Self {
        Outcome::Error(e.into())
    }
}

fn request(args: ScaffoldArgs, heads: Vec<String>, depends_on: Vec<String>) -> RevisionRequest {
    RevisionRequest {
        message: args.message,
        heads,
        branch_labels: args.branch_labels,
        depends_on,
        lang: match args.lang {
            LangArg::Rust => Lang::Rust,
            LangArg::Wat => Lang::Wat,
        },
        path: args.path,
        sdk: args.sdk,
    }
}

async fn verify(config: Config, accept: &[String], quiet: bool) -> Done {
    config.require_url()?;
    let project = Project::open(config).await?;
    if !accept.is_empty() {
        for drift in project.accept_drift(accept).await? {
            note(
                quiet,
                &format!(
                    "Accepted {}: sha256 {} replaces {}.",
                    drift.id, drift.current, drift.recorded
                ),
            );
        }
        return Ok(());
    }
    let drifts = project.verify().await?;
    if !drifts.is_empty() {
        return Err(Error::Drift(drifts).into());
    }
    note(quiet, "Every applied revision matches its component.");
    Ok(())
}

async fn resolve(config: Config, revision: &str, applied: bool, quiet: bool) -> Done {
    config.require_url()?;
    let project = Project::open(config).await?;
    let failure = project.resolve(revision, applied).await?;
    let state = if applied { "applied" } else { "not applied" };
    note(
        quiet,
        &format!(
            "Resolved: {} (failed in {} at {}) is now recorded as {state}.",
            failure.id, failure.direction, failure.failed_at
        ),
    );
    Ok(())
}

/// Writes a line to stdout; a closed pipe (`retort history | head`) is not an error.
pub(super) fn out(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Writes a progress line to stderr unless `--quiet`.
pub(super) fn note(quiet: bool, line: &str) {
    if !quiet {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

async fn migrate(config: Config, direction: Direction, target: &str, quiet: bool) -> Done {
    let target: Target = target.parse()?;
    config.require_url()?;
    let project = Project::open(config).await?;
    let mut observer = |event: Event<'_>| match event {
        Event::Started {
            index,
            total,
            id,
            message,
            direction,
        } => note(
            quiet,
            &format!("[{index}/{total}] {direction} {id}: {message}"),
        ),
        Event::Log { line, .. } => note(quiet, &format!("      {}: {}", line.level, line.message)),
        Event::Finished {
            elapsed,
            statements,
            ..
        } => note(
            quiet,
            &format!("      done in {elapsed:.1?}, {statements} statement(s)"),
        ),
    };
    let steps = match direction {
        Direction::Upgrade => project.upgrade(&target, &mut observer).await?,
        Direction::Downgrade => project.downgrade(&target, &mut observer).await?,
    };
    if steps.is_empty() {
        note(
            quiet,
            &format!("Nothing to {direction}: the database is already at {target}."),
        );
    } else {
        note(
            quiet,
            &format!("Done: {} revision(s) {direction}d.", steps.len()),
        );
    }
    Ok(())
}

async fn script(
    config: Config,
    direction: Direction,
    range: &str,
    dialect: Option<String>,
) -> Done {
    let range: Range = range.parse()?;
    let dialect = script_dialect(&config, dialect)?;
    let project = Project::open(config).await?;
    let mut log = |event: Event<'_>| {
        if let Event::Log { id, line } = event {
            tracing::info!("{id}: {}: {}", line.level, line.message);
        }
    };
    let text = project.script(direction, &range, dialect, &mut log).await?;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

/// The dialect of a `--sql` script: `--dialect`, else the database URL's.
fn script_dialect(config: &Config, dialect: Option<String>) -> Result<Dialect, Error> {
    Ok(match dialect {
        Some(name) => Dialect::from_name(&name).ok_or_else(|| {
            Error::Usage(format!(
                "unknown dialect {name:?}: use sqlite, postgres or mysql"
            ))
        })?,
        None => config
            .database_url
            .as_deref()
            .and_then(Dialect::from_url)
            .ok_or_else(|| {
                Error::Usage(
                    "--sql needs a dialect: pass --dialect sqlite|postgres|mysql or a database URL"
                        .into(),
                )
            })?,
    })
}

async fn current(config: Config, verbose: bool, quiet: bool) -> Done {
    config.require_url()?;
    let project = Project::open(config).await?;
    let applied = project.current().await?;
    for failure in project.failures().await? {
        note(
            quiet,
            &format!(
                "warning: {} failed part-way in {} at {} and is unresolved: {} (see `retort resolve --help`)",
                failure.id, failure.direction, failure.failed_at, failure.error
            ),
        );
    }
    if applied.is_empty() {
        note(quiet, "No revision is applied (base).");
        return Ok(());
    }
    let ids: BTreeSet<String> = applied.iter().map(|r| r.id.clone()).collect();
    let graph = project.graph();
    let heads = graph.heads();
    let tag = |id: &str| if heads.contains(&id) { " (head)" } else { "" };
    if verbose {
        for row in &applied {
            let duration = row
                .duration_ms
                .map_or("- (offline script or stamp)".to_string(), |ms| {
                    format!("{ms} ms")
                });
            out(&format!(
                "{}{}  applied {}  took {duration}  sha256 {}",
                row.id,
                tag(&row.id),
                row.applied_at,
                row.sha256
            ));
        }
    } else {
        for id in graph.applied_heads(&ids) {
            out(&format!("{id}{}", tag(id)));
        }
    }
    Ok(())
}

async fn stamp(config: Config, target: &str, quiet: bool) -> Done {
    let target: Target = target.parse()?;
    config.require_url()?;
    let project = Project::open(config).await?;
    let plan = project.stamp(&target).await?;
    if plan.insert.is_empty() && plan.delete.is_empty() {
        note(
            quiet,
            &format!("Nothing to stamp: the version table is already at {target}."),
        );
    } else {
        for id in &plan.delete {
            note(quiet, &format!("unstamped {id}"));
        }
        for id in &plan.insert {
            note(quiet, &format!("stamped {id}"));
        }
        note(
            quiet,
            &format!(
                "Done: the version table is at {target} ({} row(s) added, {} removed); no revision ran.",
                plan.insert.len(),
                plan.delete.len()
            ),
        );
    }
    Ok(())
}

async fn stamp_script(config: Config, range: &str, dialect: Option<String>) -> Done {
    let range: Range = range.parse()?;
    let dialect = script_dialect(&config, dialect)?;
    let project = Project::open(config).await?;
    let text = project.stamp_script(&range, dialect).await?;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

async fn check(config: Config) -> Done {
    config.require_url()?;
    let project = Project::open(config).await?;
    let check = project.check().await?;
    let heads = if check.applied_heads.is_empty() {
        "none".to_string()
    } else {
        check.applied_heads.join(", ")
    };
    if check.up_to_date() {
        out(&format!(
            "up to date: every head is applied (applied heads: {heads})"
        ));
        return Ok(());
    }
    out(&format!(
        "not up to date: {} revision(s) to apply: {} (applied heads: {heads}); run `retort upgrade`",
        check.pending.len(),
        check.pending.join(", ")
    ));
    Err(Outcome::Exit(ExitCode::from(1)))
}

fn created(project: &Project, made: &Scaffolded) -> Done {
    let parents = if made.down_revisions.is_empty() {
        "<base>".to_string()
    } else {
        made.down_revisions.join(", ")
    };
    out(&format!(
        "Created revision {} (follows {parents}) in {}",
        made.id,
        made.dir.display()
    ));
    if made.dir.extension().is_some_and(|e| e == "wat") {
        out(&format!(
            "  no build step: copy it into {} (Retort compiles .wat files as they are)",
            project.config().migrations.display()
        ));
        return Ok(());
    }
    out(&format!(
        "  build: cargo build --release --target wasm32-wasip2 --manifest-path {}",
        made.dir.join("Cargo.toml").display()
    ));
    out(&format!(
        "  then copy {}/target/wasm32-wasip2/release/{}.wasm into {}",
        made.workspace.display(),
        made.crate_name,
        project.config().migrations.display()
    ));
    Ok(())
}
