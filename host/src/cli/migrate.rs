//! `upgrade`, `downgrade` and `run` on one database, for real or as a dry
//! run, reported as human lines or JSON events.

use std::process::ExitCode;

use super::args::Format;
use super::commands::Outcome;
use super::output::{Reporter, RunLabel, Ui};
use super::progress::Progress;
use crate::{Config, Deployment, Direction, Error, Project, Target};

type Done = Result<(), Outcome>;

/// Runs `direction` to `goal` on the configured database.
pub async fn migrate(
    config: Config,
    direction: Direction,
    goal: &str,
    dry_run: bool,
    ui: Ui,
) -> Done {
    let setup = async {
        let target: Target = goal.parse()?;
        config.require_url()?;
        let project = Project::open(config).await?;
        let database = project.database()?;
        Ok::<_, Error>((target, project, database))
    }
    .await;
    let (target, project, database) = match setup {
        Ok(ready) => ready,
        Err(e) => return Err(Outcome::Error(e)),
    };
    let progress = match ui.format {
        Format::Human => Progress::new(ui.quiet, true, 0, "revisions"),
        Format::Json => Progress::silent(),
    };
    let source = project
        .config()
        .source
        .clone()
        .filter(|_| !project.config().sources.is_empty());
    let label = RunLabel {
        target: None,
        source,
        database: database.display_name(),
        goal: goal.to_string(),
        direction,
        dry_run,
    };
    let mut reporter = Reporter::new(ui, &project, &progress, label);
    let result: Result<Deployment, Error> = project
        .deploy(&database, direction, &target, dry_run, &mut |event| {
            reporter.observe(event)
        })
        .await;
    let code = reporter.finish(&result);
    match (ui.format, result) {
        (Format::Human, Err(e)) => Err(Outcome::Error(e)),
        _ if code == 0 => Ok(()),
        _ => Err(Outcome::Exit(ExitCode::from(code))),
    }
}
