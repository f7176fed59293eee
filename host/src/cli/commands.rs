//! One function per command: build the library call, print the result.

use std::collections::BTreeSet;
use std::io::Write;

use super::args::{Cli, Command};
use crate::{Config, Dialect, Direction, Error, Event, Overrides, Project, Range, Target};

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), Error> {
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
        Command::History => history(config).await,
        Command::Heads => heads(config).await,
        Command::Resolve(args) => resolve(config, &args.revision, args.applied, quiet).await,
    }
}

async fn resolve(config: Config, revision: &str, applied: bool, quiet: bool) -> Result<(), Error> {
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
fn out(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Writes a progress line to stderr unless `--quiet`.
fn note(quiet: bool, line: &str) {
    if !quiet {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

async fn migrate(
    config: Config,
    direction: Direction,
    target: &str,
    quiet: bool,
) -> Result<(), Error> {
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
) -> Result<(), Error> {
    let range: Range = range.parse()?;
    let dialect = match dialect {
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
    };
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

async fn current(config: Config, verbose: bool, quiet: bool) -> Result<(), Error> {
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
                .map_or("offline".to_string(), |ms| format!("{ms} ms"));
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

async fn history(config: Config) -> Result<(), Error> {
    let project = Project::open(config).await?;
    let graph = project.graph();
    let heads = graph.heads();
    for id in graph.ordered().into_iter().rev() {
        let rev = graph.get(id).expect("ordered ids are in the graph");
        let parents = if rev.down_revisions.is_empty() {
            "<base>".to_string()
        } else {
            rev.down_revisions.join(", ")
        };
        let head = if heads.contains(&id) { " (head)" } else { "" };
        out(&format!("{parents} -> {id}{head}, {}", rev.message));
    }
    Ok(())
}

async fn heads(config: Config) -> Result<(), Error> {
    let project = Project::open(config).await?;
    for id in project.graph().heads() {
        out(&format!("{id} (head)"));
    }
    Ok(())
}
