//! What `run`, `upgrade` and `downgrade` print while they work: human lines
//! on stderr (with a progress bar on a terminal) or one JSON object per
//! event on stdout. The JSON shapes are documented in the README
//! ("Machine-readable output"); change both together.

use std::time::{Duration, Instant};

use serde_json::json;

use super::args::Format;
use super::commands::out;
use super::obj::Obj;
use super::progress::Progress;
use crate::{
    Aftermath, Deployment, Direction, DryRunMethod, Error, Event, Project, RunError, StepReport,
};

/// Writes one JSON object as a line on stdout.
pub fn json_line(value: &Obj) {
    out(&value.line());
}

/// `{"event":"error",…}`: a command that could not start, in JSON mode.
pub fn error_json(e: &Error) -> Obj {
    Obj::event("error")
        .with("error", json!(e.to_string()))
        .with("exit_code", json!(e.exit_code()))
}

/// `{"code": …, "message": …}` of what the database said.
fn database_error(e: &crate::DbError) -> Obj {
    Obj::default()
        .with("code", json!(e.code))
        .with("message", json!(e.message))
}

/// Milliseconds, with microsecond precision.
fn ms(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// How a run is reported.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// Human or JSON.
    pub format: Format,
    /// `--quiet`: no progress (human); JSON is unaffected.
    pub quiet: bool,
}

/// What a run is: where, which way, to what.
#[derive(Debug, Clone)]
pub struct RunLabel {
    /// The fan-out target's name: added to every JSON event; human output
    /// then prints no per-revision lines (the fan-out prints one per target).
    pub target: Option<String>,
    /// With `[[sources]]`: the chain being run, added to every JSON event.
    pub source: Option<String>,
    /// The database, as shown to people (password hidden).
    pub database: String,
    /// What was asked: `heads`, `-1`, …
    pub goal: String,
    /// Which way.
    pub direction: Direction,
    /// Whether it is a dry run.
    pub dry_run: bool,
}

/// Reports one run (or one target of a fan-out) as it goes.
pub struct Reporter<'a> {
    ui: Ui,
    project: &'a Project,
    progress: &'a Progress,
    label: RunLabel,
    started: Instant,
}

impl<'a> Reporter<'a> {
    /// A reporter for the run `label` describes.
    pub fn new(ui: Ui, project: &'a Project, progress: &'a Progress, label: RunLabel) -> Self {
        Reporter {
            ui,
            project,
            progress,
            label,
            started: Instant::now(),
        }
    }

    fn emit(&self, mut value: Obj) {
        if let Some(target) = &self.label.target {
            value.insert(1, "target", json!(target));
        }
        if let Some(source) = &self.label.source {
            value.insert(1, "source", json!(source));
        }
        json_line(&value);
    }

    fn message(&self, id: &str) -> &str {
        self.project
            .catalog()
            .get(id)
            .map_or("", |e| e.info.message.lines().next().unwrap_or(""))
    }

    /// Handles one runner event.
    pub fn observe(&mut self, event: Event<'_>) {
        match self.ui.format {
            Format::Json => {
                let value = self.event_json(&event);
                self.emit(value);
            }
            Format::Human if self.label.target.is_none() => self.human(&event),
            Format::Human => {}
        }
    }

    fn event_json(&self, event: &Event<'_>) -> Obj {
        match event {
            Event::Planned { direction, steps } => {
                let steps: Vec<Obj> = steps
                    .iter()
                    .map(|id| {
                        Obj::default()
                            .with("id", json!(id))
                            .with("message", json!(self.message(id)))
                    })
                    .collect();
                Obj::event("plan")
                    .with("direction", json!(direction.to_string()))
                    .with("goal", json!(self.label.goal))
                    .with("database", json!(self.label.database))
                    .with("dry_run", json!(self.label.dry_run))
                    .with("count", json!(steps.len()))
                    .with("steps", steps)
            }
            Event::Started {
                index,
                total,
                id,
                message,
                direction,
            } => Obj::event("started")
                .with("index", json!(index))
                .with("total", json!(total))
                .with("id", json!(id))
                .with("direction", json!(direction.to_string()))
                .with("message", json!(message)),
            Event::Log { id, line } => Obj::event("log")
                .with("id", json!(id))
                .with("level", json!(line.level))
                .with("message", json!(line.message)),
            Event::Finished {
                index,
                total,
                id,
                direction,
                elapsed,
                statements,
            } => Obj::event("applied")
                .with("index", json!(index))
                .with("total", json!(total))
                .with("id", json!(id))
                .with("direction", json!(direction.to_string()))
                .with("duration_ms", json!(ms(*elapsed)))
                .with("statements", json!(statements)),
            Event::Retrying {
                index,
                total,
                id,
                direction,
                attempt,
                retries,
                delay,
                statement,
                error,
            } => Obj::event("retrying")
                .with("index", json!(index))
                .with("total", json!(total))
                .with("id", json!(id))
                .with("direction", json!(direction.to_string()))
                .with("attempt", json!(attempt))
                .with("retries", json!(retries))
                .with("delay_ms", json!(ms(*delay)))
                .with("statement", json!(statement))
                .with("database_error", database_error(error)),
            Event::Failed {
                index,
                total,
                id,
                direction,
                error,
            } => {
                let mut value = Obj::event("failed")
                    .with("index", json!(index))
                    .with("total", json!(total))
                    .with("id", json!(id))
                    .with("direction", json!(direction.to_string()))
                    .with("error", json!(error.to_string()));
                if let RunError::Revision(f) = error {
                    value.set("aftermath", json!(aftermath_name(&f.aftermath)));
                    if let Some(statement) = &f.statement {
                        value.set("statement", json!(statement.sql.trim()));
                        value.set("database_error", database_error(&statement.error));
                    }
                }
                value.with("completed", json!(error.completed()))
            }
        }
    }

    fn human(&self, event: &Event<'_>) {
        let p = self.progress;
        match event {
            Event::Planned { direction, steps } => {
                p.set_total(steps.len() as u64);
                if !steps.is_empty() {
                    let what = if self.label.dry_run {
                        "Dry run plan"
                    } else {
                        "Plan"
                    };
                    p.line(&format!(
                        "{what}: {direction} {} revision(s) on {}: {}",
                        steps.len(),
                        self.label.database,
                        steps.join(", ")
                    ));
                }
            }
            Event::Started {
                index,
                total,
                id,
                message,
                direction,
            } => {
                p.working_on(&format!("{direction} {id}"));
                p.line(&format!("[{index}/{total}] {direction} {id}: {message}"));
            }
            Event::Log { line, .. } => p.line(&format!("      {}: {}", line.level, line.message)),
            Event::Retrying {
                attempt,
                retries,
                delay,
                error,
                ..
            } => p.line(&format!(
                "      a lock was not granted in time ({error}): rolled back, nothing of it is left; retry {attempt} of {retries} in {delay:.1?}"
            )),
            Event::Finished {
                elapsed,
                statements,
                ..
            } => {
                p.advance();
                p.line(&format!(
                    "      done in {elapsed:.1?}, {statements} statement(s)"
                ));
            }
            _ => {}
        }
    }

    /// Reports how the run ended and returns its exit code. JSON: an `sql`
    /// event for a dry run, then `done`. Human: the dry run's SQL on stdout,
    /// then a summary on stderr; an error is left to the caller to print.
    pub fn finish(&self, result: &Result<Deployment, Error>) -> u8 {
        self.progress.finish();
        let elapsed = self.started.elapsed();
        match self.ui.format {
            Format::Json => self.finish_json(result, elapsed),
            Format::Human => {
                if let Ok(deployment) = result {
                    self.finish_human(deployment, elapsed);
                }
                result.as_ref().map_or_else(Error::exit_code, |_| 0)
            }
        }
    }

    fn finish_json(&self, result: &Result<Deployment, Error>, elapsed: Duration) -> u8 {
        let mut done = Obj::event("done");
        let code = match result {
            Ok(deployment) => {
                if let Some(dry) = &deployment.dry_run {
                    let reason = match &dry.method {
                        DryRunMethod::Recording { reason } => Some(reason.as_str()),
                        DryRunMethod::Rehearsal => None,
                    };
                    self.emit(
                        Obj::event("sql")
                            .with("method", json!(dry.method.name()))
                            .with("reason", json!(reason))
                            .with("mode_dependent", json!(dry.mode_dependent))
                            .with("sql", json!(dry.script)),
                    );
                }
                let status = if deployment.steps.is_empty() {
                    "nothing_to_do"
                } else {
                    "ok"
                };
                done.set("status", json!(status));
                done.set("exit_code", json!(0));
                self.summary(&mut done, elapsed);
                done.set("applied", json!(ids(&deployment.steps)));
                done.set("count", json!(deployment.steps.len()));
                done.set("digest", json!(deployment.digest.to_string()));
                done.set("statements", json!(deployment.digest.statements));
                if let Some(dry) = &deployment.dry_run {
                    done.set("method", json!(dry.method.name()));
                }
                0
            }
            Err(e) => {
                let status = if e.interrupted().is_some() {
                    "interrupted"
                } else {
                    "failed"
                };
                done.set("status", json!(status));
                done.set("exit_code", json!(e.exit_code()));
                self.summary(&mut done, elapsed);
                done.set("applied", json!(completed(e)));
                done.set("count", json!(completed(e).len()));
                done.set("error", json!(e.to_string()));
                e.exit_code()
            }
        };
        self.emit(done);
        code
    }

    /// The fields every `done` carries.
    fn summary(&self, done: &mut Obj, elapsed: Duration) {
        done.set("direction", json!(self.label.direction.to_string()));
        done.set("goal", json!(self.label.goal));
        done.set("database", json!(self.label.database));
        done.set("dry_run", json!(self.label.dry_run));
        done.set("duration_ms", json!(ms(elapsed)));
        let (compiled, compile_time) = crate::catalog::compile_notice::totals();
        done.set("compiled", json!(compiled));
        done.set("compile_ms", json!(ms(compile_time)));
    }

    fn finish_human(&self, deployment: &Deployment, elapsed: Duration) {
        let p = self.progress;
        let n = deployment.steps.len();
        let direction = self.label.direction;
        let digest = &deployment.digest;
        let Some(dry) = &deployment.dry_run else {
            if n == 0 {
                p.line(&format!(
                    "Nothing to {direction}: the database is already at {}.",
                    self.label.goal
                ));
            } else {
                p.line(&format!(
                    "Done: {n} revision(s) {direction}d in {elapsed:.1?}; digest {digest} ({} statement(s) sent).",
                    digest.statements
                ));
            }
            if let Some(compiles) = super::compiling::summary() {
                p.line(&format!("      {compiles}"));
            }
            return;
        };
        if n > 0 {
            out(dry.script.trim_end());
        }
        let how = match &dry.method {
            DryRunMethod::Rehearsal => {
                "rehearsed on the database in a transaction that was rolled back".to_string()
            }
            DryRunMethod::Recording { reason } => {
                format!("recorded offline, nothing sent ({reason})")
            }
        };
        if n == 0 {
            p.line(&format!(
                "Dry run: nothing to {direction}: the database is already at {}.",
                self.label.goal
            ));
            return;
        }
        p.line(&format!(
            "Dry run: {n} revision(s) would be {direction}d; nothing was changed ({how}).\nDigest {digest} ({} statement(s)): a real run that sends the same statements prints the same digest.",
            digest.statements
        ));
        if matches!(dry.method, DryRunMethod::Recording { .. }) && !dry.mode_dependent.is_empty() {
            p.line(&format!(
                "warning: {} asked whether it runs online or offline; offline it may send other statements than it will online, so the real run's digest may differ",
                dry.mode_dependent.join(", ")
            ));
        }
    }
}

fn ids(steps: &[StepReport]) -> Vec<&str> {
    steps.iter().map(|s| s.id.as_str()).collect()
}

/// The revisions a failed run completed (they stay applied).
pub fn completed(e: &Error) -> Vec<String> {
    match e {
        Error::Run(run) => run.completed().to_vec(),
        _ => Vec::new(),
    }
}

fn aftermath_name(a: &Aftermath) -> &'static str {
    match a {
        Aftermath::NoScript => "no_script",
        Aftermath::RolledBack => "rolled_back",
        Aftermath::RunRolledBack => "run_rolled_back",
        Aftermath::ConnectionLost => "connection_lost",
        Aftermath::Partial { .. } => "partial",
        Aftermath::RollbackFailed(_) => "rollback_failed",
    }
}
