//! One function per command: build the library call, print the result.

use crate::printable::printable;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

use super::args::{Cli, Command, Format, RunArgs, ScaffoldArgs};
use super::output::Ui;
use super::{fanout, migrate, report};
use crate::{
    Config, Dialect, Direction, Error, Event, Overrides, Project, Range, RevisionRequest,
    Scaffolded, Target,
};

/// What each command returns.
type Done = Result<(), Outcome>;

/// Runs a parsed command line; `Ok` carries the exit code (`check` exits 1
/// when something is not applied).
pub async fn run(cli: Cli) -> Result<ExitCode, Error> {
    let global = cli.global;
    let ui = Ui {
        format: global.format,
        quiet: global.quiet,
    };
    super::compiling::install(ui);
    // Commands that need no configuration.
    match &cli.command {
        Command::Completions(args) => {
            super::completions::write(args.shell);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Init(args) => return finish(super::init::run(args, ui)),
        _ => {}
    }
    let mut urls = global.database_url;
    if urls.len() > 1 && !matches!(cli.command, Command::Run(_)) {
        return Err(Error::Usage(format!(
            "--database-url is given {} times; only `retort run` fans out over several databases",
            urls.len()
        )));
    }
    let fan_out_urls = if urls.len() > 1 {
        std::mem::take(&mut urls)
    } else {
        Vec::new()
    };
    let config = Config::load(&Overrides {
        config: global.config,
        database_url: urls.pop(),
        migrations: global.migrations,
        version_table: global.version_table,
        schema: global.schema,
        lock_timeout: global.lock_timeout,
        no_lock: global.no_lock,
        transaction_mode: global.transaction_mode,
        trust: global.trust,
    })?;
    let config = match &global.source {
        Some(name) => config.for_source(name)?,
        None => config,
    };
    let quiet = global.quiet;
    if matches!(
        cli.command,
        Command::Upgrade(_) | Command::Downgrade(_) | Command::Run(_)
    ) {
        warn_stale_builds(&config, quiet);
    }
    let _signals = match &cli.command {
        Command::Upgrade(a) if !a.sql => Some(crate::interrupt::install()),
        Command::Downgrade(a) if !a.sql => Some(crate::interrupt::install()),
        Command::Run(_) => Some(crate::interrupt::install()),
        _ => None,
    };
    let outcome = match cli.command {
        Command::Build => build(config, quiet).await,
        Command::Import(args) => import(&config, &args, ui),
        Command::Adopt(args) => adopt(config, &args, quiet).await,
        Command::Upgrade(args) if !args.sql => {
            migrate::migrate(config, Direction::Upgrade, &args.target, args.dry_run, ui).await
        }
        Command::Downgrade(args) if !args.sql => {
            migrate::migrate(config, Direction::Downgrade, &args.target, args.dry_run, ui).await
        }
        Command::Run(args) => run_command(config, args, fan_out_urls, ui).await,
        Command::Lint(args) => super::lint::lint(config, &args, ui).await,
        command if ui.format == Format::Json => super::json::run(config, command).await,
        command => human(config, command, quiet).await,
    };
    finish(outcome)
}

/// The exit code of a finished command.
fn finish(outcome: Done) -> Result<ExitCode, Error> {
    outcome.map(|()| ExitCode::SUCCESS).or_else(|e| match e {
        Outcome::Exit(code) => Ok(code),
        Outcome::Error(e) => Err(e),
    })
}

/// `retort run`: upgrade to heads on the configured database, or fan out.
async fn run_command(config: Config, args: RunArgs, urls: Vec<String>, ui: Ui) -> Done {
    let targets = match (&args.targets, urls.is_empty()) {
        (Some(_), false) => {
            return Err(Outcome::Error(Error::Usage(
                "give the targets either in --targets FILE or as several --database-url, not both"
                    .into(),
            )));
        }
        (Some(file), true) => Some(fanout::read_targets(file, config.schema.as_deref())?),
        (None, false) => Some(fanout::url_targets(&urls, config.schema.as_deref())),
        (None, true) => None,
    };
    let gate = super::lint::gate_of(args.lint.as_deref(), &config)?;
    match targets {
        Some(_) if config.chains().len() > 1 => Err(Outcome::Error(Error::Usage(
            "a fan-out (--targets, several --database-url) runs one chain: with [[sources]], give --source NAME (and run it once per source)".into(),
        ))),
        Some(targets) => {
            // One lint for every target: the whole chain, for their dialect.
            let dialect = targets.first().and_then(|t| Dialect::from_url(&t.database.url));
            super::lint::gate(&config, gate, dialect, ui).await?;
            fanout::fan_out(config, targets, usize::from(args.jobs), args.dry_run, ui).await
        }
        None => {
            // Every chain in turn (the project's own first); the first that
            // fails ends the run.
            let chains = config.chains();
            let several = chains.len() > 1;
            if several {
                // Loads every chain (refusing an id two of them share) and
                // refuses the connection for all of them before any runs.
                config.require_url()?;
                let project = Project::open(config.clone()).await?;
                project.preflight().await?;
            }
            for chain in chains {
                if several && ui.format == Format::Human {
                    note(
                        ui.quiet,
                        &format!("Source {}:", chain.source.as_deref().unwrap_or("app")),
                    );
                }
                if gate != crate::lint::Gate::Off {
                    chain.require_url()?;
                    super::lint::gate(&chain, gate, None, ui).await?;
                }
                migrate::migrate(chain, Direction::Upgrade, "heads", args.dry_run, ui).await?;
            }
            Ok(())
        }
    }
}

/// Every other command, for people.
async fn human(config: Config, command: Command, quiet: bool) -> Done {
    match command {
        Command::Upgrade(args) => {
            script(config, Direction::Upgrade, &args.target, args.dialect).await
        }
        Command::Downgrade(args) => {
            script(config, Direction::Downgrade, &args.target, args.dialect).await
        }
        Command::Current(args) => {
            let chains = config.chains();
            let several = chains.len() > 1;
            for chain in chains {
                if several {
                    out(&format!("[{}]", chain.source.as_deref().unwrap_or("app")));
                }
                current(chain, args.verbose, quiet).await?;
            }
            Ok(())
        }
        Command::Verify(args) => verify(config, &args.accept, quiet).await,
        Command::Doctor => doctor(config).await,
        Command::Resolve(args) if args.resume => resume(config, &args.revision, quiet).await,
        Command::Resolve(args) => resolve(config, &args.revision, args.applied, quiet).await,
        Command::History(args)
            if config.chains().len() > 1 && !args.graph && !args.dot && args.range.is_none() =>
        {
            let project = Project::open(config).await?;
            for chain in project.chains() {
                out(&format!("[{}]", chain.source_name()));
                let applied = applied_ids(chain, args.indicate_current).await?;
                report::history(chain, args.range.as_deref(), args.verbose, applied.as_ref())?;
            }
            Ok(())
        }
        Command::History(args) => {
            let project = Project::open(config).await?;
            if args.graph {
                super::graph::draw(&project, args.range.as_deref())
            } else if args.dot {
                super::graph::dot(&project, args.range.as_deref())
            } else {
                let applied = applied_ids(&project, args.indicate_current).await?;
                report::history(
                    &project,
                    args.range.as_deref(),
                    args.verbose,
                    applied.as_ref(),
                )
            }
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
        Command::Build => build(config, quiet).await,
        Command::Adopt(args) => adopt(config, &args, quiet).await,
        Command::Import(args) => import(
            &config,
            &args,
            Ui {
                format: Format::Human,
                quiet,
            },
        ),
        Command::Run(_) | Command::Lint(_) | Command::Init(_) | Command::Completions(_) => {
            Err(Outcome::Error(Error::Usage(
                "this command is dispatched before configuration is read".into(),
            )))
        }
    }
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

pub(super) fn request(
    args: ScaffoldArgs,
    heads: Vec<String>,
    depends_on: Vec<String>,
) -> RevisionRequest {
    RevisionRequest {
        message: args.message,
        heads,
        branch_labels: args.branch_labels,
        depends_on,
        lang: args.lang.into(),
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
    let found = project.verify().await?;
    for change in &found.interpreter_changes {
        note(
            quiet,
            &format!(
                "note: {} ran under interpreter {} and would run under {} now (a different Retort release); its script is unchanged, so it stays applied",
                change.id,
                short(&change.recorded),
                short(&change.current)
            ),
        );
    }
    if found.legacy_rows > 0 {
        note(
            quiet,
            &format!(
                "note: {} script row(s) carry the identity an earlier release recorded; the next upgrade, downgrade or stamp rewrites them to the script's sha256",
                found.legacy_rows
            ),
        );
    }
    if !found.drifts.is_empty() {
        return Err(Error::Drift(found.drifts).into());
    }
    note(quiet, "Every applied revision matches its file.");
    Ok(())
}

async fn doctor(config: Config) -> Done {
    config.require_url()?;
    let project = Project::open_or_empty(config).await?;
    let report = project.doctor().await?;
    out(&format!("database: {}", report.dialect));
    out(&format!("trust: {}", report.trust));
    if report.outside_reach.is_empty() {
        out(
            "The connection's role reaches nothing outside its database: third-party revisions may run over it.",
        );
    } else {
        out("The connection's role reaches outside its database:");
        for finding in &report.outside_reach {
            out(&format!("  - it {finding}"));
        }
        out("Third-party revisions are refused over it (exit 4).");
    }
    out("A least-privilege role for this database:");
    for line in report.role_sql.lines() {
        out(&format!("    {line}"));
    }
    doctor_exit(&report)
}

/// Exit 4 when third-party revisions would be refused, else 0.
pub(super) fn doctor_exit(report: &crate::Doctor) -> Done {
    if report.trust == crate::sandbox::Trust::ThirdParty && !report.outside_reach.is_empty() {
        Err(Outcome::Exit(ExitCode::from(4)))
    } else {
        Ok(())
    }
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

async fn resume(config: Config, revision: &str, quiet: bool) -> Done {
    config.require_url()?;
    let project = Project::open(config).await?;
    let _signals = crate::interrupt::install();
    let mut observer = |event: crate::runner::Event<'_>| {
        if let crate::runner::Event::Log { id, line } = event {
            note(quiet, &format!("  [{id}] {}: {}", line.level, line.message));
        }
    };
    let (failure, steps) = project.resume(revision, &mut observer).await?;
    let skipped = failure.journal.as_ref().map_or(0, |j| j.statements);
    let sent = steps.first().map_or(0, |s| s.statements);
    note(
        quiet,
        &format!(
            "Resumed: {} {} completed: {skipped} statement(s) that had run were checked and skipped, {} more ran; it is recorded as {}.",
            failure.id,
            failure.direction,
            sent.saturating_sub(skipped),
            if failure.direction == "downgrade" {
                "not applied"
            } else {
                "applied"
            }
        ),
    );
    Ok(())
}

/// Writes a script to stdout: as it is into a file or a pipe, with control
/// characters escaped on a terminal (a revision's literal could hold escape
/// sequences).
fn write_script(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = if std::io::IsTerminal::is_terminal(&stdout) {
        stdout.write_all(printable(text).as_bytes())
    } else {
        stdout.write_all(text.as_bytes())
    };
}

/// Writes a line to stdout; a closed pipe (`retort history | head`) is not an error.
pub(super) fn out(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{}", printable(line));
}

/// Writes a progress line to stderr unless `--quiet`.
pub(super) fn note(quiet: bool, line: &str) {
    if !quiet {
        let _ = writeln!(std::io::stderr().lock(), "{}", printable(line));
    }
}

async fn script(
    config: Config,
    direction: Direction,
    range: &str,
    dialect: Option<String>,
) -> Done {
    let (_, _, text) = record_script(config, direction, range, dialect).await?;
    write_script(&text);
    Ok(())
}

/// Records the `--sql` script of `direction` over `range`, revisions' log
/// lines going to tracing; shared by the human and the JSON output.
pub(super) async fn record_script(
    config: Config,
    direction: Direction,
    range: &str,
    dialect: Option<String>,
) -> Result<(Range, Dialect, String), Outcome> {
    let range: Range = range.parse()?;
    let dialect = script_dialect(&config, dialect)?;
    let project = Project::open(config).await?;
    let mut log = |event: Event<'_>| {
        if let Event::Log { id, line } = event {
            tracing::info!("{id}: {}: {}", line.level, line.message);
        }
    };
    let text = project.script(direction, &range, dialect, &mut log).await?;
    Ok((range, dialect, text))
}

/// The dialect of a `--sql` script: `--dialect`, else the database URL's.
pub(super) fn script_dialect(config: &Config, dialect: Option<String>) -> Result<Dialect, Error> {
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
    let failures = project.failures().await?;
    for failure in &failures {
        let line = if failure.interrupted() {
            format!("{} and is unresolved", failure.describe())
        } else {
            let error = failure.error.lines().next().unwrap_or("");
            let progress = failure.journal.as_ref().map_or(String::new(), |j| {
                format!(" after {} of its statement(s) had run", j.statements)
            });
            format!(
                "{} failed part-way in {} at {}{progress} and is unresolved: {error}",
                failure.id, failure.direction, failure.failed_at
            )
        };
        note(
            quiet,
            &format!("warning: {line} (see `retort resolve --help`)"),
        );
    }
    // The version table alone does not say where the database is.
    let dirty = || match failures.is_empty() {
        true => Ok(()),
        false => Err(Outcome::Exit(ExitCode::from(4))),
    };
    if applied.is_empty() {
        note(quiet, "No revision is applied (base).");
        return dirty();
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
    dirty()
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
    write_script(&text);
    Ok(())
}

async fn check(config: Config) -> Done {
    config.require_url()?;
    let project = Project::open(config).await?;
    let several = project.chains().count() > 1;
    let mut all_applied = true;
    let mut dirty = false;
    for chain in project.chains() {
        for failure in chain.failures().await? {
            dirty = true;
            out(&format!(
                "unresolved: {} (see `retort resolve --help`)",
                failure.describe()
            ));
        }
        let check = chain.check().await?;
        let tag = if several {
            format!("[{}] ", chain.source_name())
        } else {
            String::new()
        };
        let heads = if check.applied_heads.is_empty() {
            "none".to_string()
        } else {
            check.applied_heads.join(", ")
        };
        if check.up_to_date() {
            out(&format!(
                "{tag}up to date: every head is applied (applied heads: {heads})"
            ));
        } else {
            all_applied = false;
            out(&format!(
                "{tag}not up to date: {} revision(s) to apply: {} (applied heads: {heads}); run `retort {}`",
                check.pending.len(),
                check.pending.join(", "),
                if several { "run" } else { "upgrade" }
            ));
        }
    }
    if dirty {
        Err(Outcome::Exit(ExitCode::from(4)))
    } else if all_applied {
        Ok(())
    } else {
        Err(Outcome::Exit(ExitCode::from(1)))
    }
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
    let in_migrations = made
        .dir
        .parent()
        .is_some_and(|d| same_dir(d, &project.config().migrations));
    let runs_as_it_is = match crate::Language::of(&made.dir) {
        Some(lang) => Some(format!(
            "Retort runs it as it is, in its {} interpreter",
            lang.name()
        )),
        None => match made.dir.extension().and_then(|e| e.to_str()) {
            Some("wat") => Some("Retort compiles .wat files as they are".to_string()),
            Some("sql") => Some("Retort sends its statements as they are".to_string()),
            _ => None,
        },
    };
    if let Some(how) = runs_as_it_is {
        let elsewhere = if in_migrations {
            String::new()
        } else {
            format!(
                "; move it into {} to run it",
                project.config().migrations.display()
            )
        };
        out(&format!("  no build step: {how}{elsewhere}"));
        return Ok(());
    }
    out(
        "  next: fill in src/lib.rs, then `retort build` (builds it and places the component in the migrations directory) and `retort upgrade`",
    );
    Ok(())
}

fn same_dir(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The first 12 hex digits of a digest, enough to tell two apart.
fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// With `--indicate-current`: the applied ids (an applied revision whose
/// file is missing is an error).
async fn applied_ids(project: &Project, wanted: bool) -> Result<Option<BTreeSet<String>>, Outcome> {
    if !wanted {
        return Ok(None);
    }
    project.config().require_url()?;
    let rows = project.current().await?;
    Ok(Some(rows.into_iter().map(|r| r.id).collect()))
}

/// One line per revision crate whose component is missing or older than
/// its sources (a forgotten `retort build`).
fn warn_stale_builds(config: &Config, quiet: bool) {
    for stale in crate::revision_crates::stale(&config.revisions, &config.migrations) {
        note(quiet, &format!("warning: {stale}"));
    }
}

/// `retort import`.
fn import(config: &Config, args: &super::args::ImportArgs, ui: Ui) -> Done {
    let tool: crate::import::Tool = args.tool.into();
    let into = args
        .into
        .clone()
        .unwrap_or_else(|| config.migrations.clone());
    let imported = crate::import::import(tool, &args.dir, &into)
        .map_err(|e| Error::Usage(format!("cannot import the {} history: {e}", tool.name())))?;
    if ui.format == Format::Json {
        super::output::json_line(
            &super::obj::Obj::event("imported")
                .with("tool", serde_json::json!(tool.name()))
                .with("into", serde_json::json!(into.display().to_string()))
                .with("ids", serde_json::json!(imported.ids))
                .with(
                    "written",
                    serde_json::json!(imported
                        .written
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()),
                )
                .with(
                    "skipped",
                    serde_json::json!(imported
                        .skipped
                        .iter()
                        .map(|s| serde_json::json!({"path": s.path.display().to_string(), "reason": s.reason}))
                        .collect::<Vec<_>>()),
                )
                .with(
                    "to_port",
                    serde_json::json!(imported
                        .to_port
                        .iter()
                        .map(|p| serde_json::json!({
                            "path": p.written.display().to_string(),
                            "line": p.call.line,
                            "source": p.source.display().to_string(),
                            "source_line": p.call.source_line,
                            "call": p.call.what,
                        }))
                        .collect::<Vec<_>>()),
                ),
        );
        return Ok(());
    }
    for skipped in &imported.skipped {
        eprintln!(
            "warning: not imported: {}: {}",
            skipped.path.display(),
            skipped.reason
        );
    }
    for port in &imported.to_port {
        eprintln!(
            "warning: to port by hand: {}:{}: {} (from {}:{})",
            port.written.display(),
            port.call.line,
            port.call.what,
            port.source.display(),
            port.call.source_line
        );
    }
    if !imported.to_port.is_empty() {
        eprintln!(
            "hint: rewrite each as op.execute(\"<SQL>\") (or db.execute); until then, running the revision stops with an error at that call"
        );
    }
    let first = imported.ids.first().map_or("", String::as_str);
    let head = imported.ids.last().map_or("", String::as_str);
    println!(
        "Imported {} {} migration(s) into {} ({} file(s)): {first} .. {head} (head)",
        imported.ids.len(),
        tool.name(),
        into.display(),
        imported.written.len()
    );
    note(
        ui.quiet,
        &format!(
            "Next: `retort upgrade` on a new database; on one the old tool migrated, `retort stamp {head}` (it records what is applied without running it)"
        ),
    );
    Ok(())
}

/// `retort adopt`.
async fn adopt(config: Config, args: &super::args::AdoptArgs, quiet: bool) -> Done {
    let tool: crate::import::Tool = args.tool.into();
    let project = Project::open(config).await?;
    let adopted = project.adopt(tool, &args.dir).await?;
    match adopted.ids.last() {
        None => println!(
            "{} had applied nothing to this database: nothing to stamp; `retort upgrade` applies the whole history",
            tool.name()
        ),
        Some(last) => println!(
            "Adopted: {} had applied {} migration(s), now recorded as applied up to {last}",
            tool.name(),
            adopted.ids.len()
        ),
    }
    note(
        quiet,
        "Next: `retort upgrade` (or `retort run`) continues from here.",
    );
    Ok(())
}

/// `retort build`.
async fn build(config: Config, quiet: bool) -> Done {
    let crates = crate::revision_crates::find(&config.revisions);
    if crates.is_empty() {
        note(
            quiet,
            &format!(
                "No revision crates in {}: nothing for cargo to build.",
                config.revisions.display()
            ),
        );
    }
    let built = crate::revision_crates::build(&config.revisions, &config.migrations)
        .map_err(|e| Error::Usage(e.to_string()))?;
    for path in &built.placed {
        note(quiet, &format!("placed {}", path.display()));
    }
    if !crates.is_empty() {
        note(
            quiet,
            &format!(
                "Built {} revision crate(s): {} component(s) placed in {}, {} unchanged.",
                crates.len(),
                built.placed.len(),
                config.migrations.display(),
                built.unchanged.len()
            ),
        );
    }
    let project = Project::open_or_empty(config).await?;
    project.precompile()?;
    // Loading the catalog compiles what is new to read its metadata;
    // precompiling compiles the rest: count both.
    let (compiled, _) = crate::catalog::compile_notice::totals();
    note(
        quiet,
        &format!(
            "Compiled {compiled} component(s) into the compile cache: every revision is ready to run. Next: retort upgrade"
        ),
    );
    Ok(())
}
