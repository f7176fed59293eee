//! Runs a plan: for each step, a transaction (where the revision allows one),
//! the revision's `upgrade` or `downgrade` in a fresh store, and its version
//! row, all through one [`Sink`]. The runner never asks whether the sink is
//! online or offline.

pub mod version_table;

use std::fmt;
use std::time::Duration;

use crate::catalog::Catalog;
use crate::graph::{Direction, Plan};
use crate::sandbox::{CallResult, FailedStatement, LogLine, Sandbox};
use crate::sink::{Mode, Sink};
use crate::value::DbError;
pub use version_table::{AppliedRevision, VersionTable};

/// What the runner reports while it works.
#[derive(Debug)]
pub enum Event<'a> {
    /// A step is about to start.
    Started {
        /// 1-based position in the plan.
        index: usize,
        /// Steps in the plan.
        total: usize,
        /// The revision id.
        id: &'a str,
        /// The revision's message.
        message: &'a str,
        /// Which way.
        direction: Direction,
    },
    /// The revision logged a message.
    Log {
        /// The revision id.
        id: &'a str,
        /// The message.
        line: &'a LogLine,
    },
    /// A step finished and was recorded.
    Finished {
        /// The revision id.
        id: &'a str,
        /// Which way.
        direction: Direction,
        /// Time in the revision (not counting the version row and commit).
        elapsed: Duration,
        /// Statements the revision sent.
        statements: u64,
    },
}

/// One step that completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// The revision id.
    pub id: String,
    /// Time in the revision.
    pub elapsed: Duration,
    /// Statements the revision sent.
    pub statements: u64,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A revision returned an error or trapped.
    #[error("{}", describe_failure(.0))]
    Revision(Box<RevisionFailure>),
    /// The host's own bookkeeping (transactions, the version table) failed.
    #[error("{action} for revision {id} failed: {error}{}", applied_note(.applied))]
    Bookkeeping {
        /// The revision being run.
        id: String,
        /// What the host was doing.
        action: &'static str,
        /// The database's error.
        error: DbError,
        /// Revisions completed before it.
        applied: Vec<String>,
    },
}

impl RunError {
    /// The revisions that completed before the failure.
    pub fn completed(&self) -> &[String] {
        match self {
            RunError::Revision(f) => &f.applied,
            RunError::Bookkeeping { applied, .. } => applied,
        }
    }
}

/// The details of a failed revision.
#[derive(Debug)]
pub struct RevisionFailure {
    /// The revision id.
    pub id: String,
    /// Which way it was run.
    pub direction: Direction,
    /// Online or offline.
    pub mode: Mode,
    /// How it ended.
    pub result: CallResult,
    /// The last statement the database refused.
    pub statement: Option<FailedStatement>,
    /// What the component wrote to stderr.
    pub stderr: String,
    /// Whether its work was rolled back (false outside a transaction).
    pub rolled_back: bool,
    /// The rollback's own failure, if it failed.
    pub rollback_error: Option<DbError>,
    /// Revisions completed before it.
    pub applied: Vec<String>,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
        })
    }
}

fn describe_failure(f: &RevisionFailure) -> String {
    let mut out = format!("revision {} failed in {}: ", f.id, f.direction);
    match &f.result {
        CallResult::Returned(message) => out.push_str(message),
        CallResult::Trapped(trap) => {
            out.push_str("the component trapped: ");
            out.push_str(trap);
        }
        CallResult::Completed => out.push_str("completed"),
    }
    if !f.stderr.is_empty() {
        out.push_str(&format!("\n  the component wrote: {}", f.stderr));
    }
    if let Some(statement) = &f.statement {
        out.push_str(&format!("\n  statement: {}", statement.sql.trim()));
        out.push_str(&format!("\n  database said: {}", statement.error));
    }
    match (f.mode, f.rolled_back, &f.rollback_error) {
        (Mode::Offline, _, _) => out.push_str("\n  no script was written"),
        (Mode::Online, true, None) => out.push_str(&format!(
            "\n  its transaction was rolled back: the database and the version table are as before {}",
            f.id
        )),
        (Mode::Online, _, Some(e)) => out.push_str(&format!(
            "\n  the rollback failed too ({e}): check the database by hand before running again"
        )),
        (Mode::Online, false, None) => out.push_str(
            "\n  it ran outside a transaction, so what it did before failing is still in the database; the version table does not list it",
        ),
    }
    out.push_str(&applied_note(&f.applied));
    out
}

fn applied_note(applied: &[String]) -> String {
    match applied.len() {
        0 => String::new(),
        n => format!(
            "\n  {n} revision(s) completed before it and stay applied: {}",
            applied.join(", ")
        ),
    }
}

/// Runs plans against one sink.
#[derive(Debug)]
pub struct Runner<'a> {
    sandbox: &'a Sandbox,
    catalog: &'a Catalog,
    table: &'a VersionTable,
    sink: Option<Sink>,
}

impl<'a> Runner<'a> {
    /// A runner that sends everything to `sink`.
    pub fn new(
        sandbox: &'a Sandbox,
        catalog: &'a Catalog,
        table: &'a VersionTable,
        sink: Sink,
    ) -> Self {
        Runner {
            sandbox,
            catalog,
            table,
            sink: Some(sink),
        }
    }

    /// Gives the sink back (an offline script is read from it).
    pub fn into_sink(self) -> Sink {
        self.sink.expect("the sink is back after every step")
    }

    fn sink(&mut self) -> &mut Sink {
        self.sink
            .as_mut()
            .expect("the sink is back after every step")
    }

    /// Runs every step of `plan` in order, stopping at the first failure.
    pub async fn run(
        &mut self,
        plan: &Plan,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<StepReport>, RunError> {
        let mut done: Vec<StepReport> = Vec::with_capacity(plan.steps.len());
        for (index, id) in plan.steps.iter().enumerate() {
            let entry = self
                .catalog
                .get(id)
                .expect("plans only name revisions of the catalog");
            let info = &entry.info;
            observer(Event::Started {
                index: index + 1,
                total: plan.steps.len(),
                id,
                message: &info.message,
                direction: plan.direction,
            });
            let applied = || done.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
            let bookkeeping = |action, error| RunError::Bookkeeping {
                id: id.clone(),
                action,
                error,
                applied: applied(),
            };
            let sink = self.sink();
            sink.comment(&step_comment(plan.direction, info));
            let dialect = sink.dialect();
            if info.transactional {
                sink.execute(dialect.begin(), &[])
                    .await
                    .map_err(|e| bookkeeping("BEGIN", e))?;
            }
            let sink = self.sink.take().expect("the sink is back after every step");
            let outcome = self
                .sandbox
                .call(
                    entry
                        .component()
                        .expect("Catalog::prepare compiled every step of the plan"),
                    plan.direction,
                    sink,
                )
                .await;
            self.sink = Some(outcome.sink);
            for line in &outcome.logs {
                observer(Event::Log { id, line });
            }
            if outcome.result != CallResult::Completed {
                let rollback_error = if info.transactional {
                    self.sink().execute("ROLLBACK", &[]).await.err()
                } else {
                    None
                };
                return Err(RunError::Revision(Box::new(RevisionFailure {
                    id: id.clone(),
                    direction: plan.direction,
                    mode: self.sink().mode(),
                    result: outcome.result,
                    statement: outcome.last_failure,
                    stderr: outcome.stderr,
                    rolled_back: info.transactional,
                    rollback_error,
                    applied: applied(),
                })));
            }
            let table = self.table;
            let sink = self.sink();
            let recorded = match plan.direction {
                Direction::Upgrade => {
                    let duration = match sink.mode() {
                        Mode::Online => Some(outcome.elapsed.as_millis() as i64),
                        Mode::Offline => None,
                    };
                    table.insert(sink, id, &entry.sha256, duration).await
                }
                Direction::Downgrade => table.delete(sink, id).await,
            };
            if let Err(e) = recorded {
                if info.transactional {
                    let _ = sink.execute("ROLLBACK", &[]).await;
                }
                return Err(bookkeeping("recording the version row", e));
            }
            if info.transactional {
                sink.execute("COMMIT", &[])
                    .await
                    .map_err(|e| bookkeeping("COMMIT", e))?;
            }
            observer(Event::Finished {
                id,
                direction: plan.direction,
                elapsed: outcome.elapsed,
                statements: outcome.statements,
            });
            done.push(StepReport {
                id: id.clone(),
                elapsed: outcome.elapsed,
                statements: outcome.statements,
            });
        }
        Ok(done)
    }
}

fn step_comment(direction: Direction, info: &crate::sandbox::RevisionInfo) -> String {
    let parents = if info.down_revisions.is_empty() {
        "(base)".to_string()
    } else {
        info.down_revisions.join(", ")
    };
    let message = info.message.lines().next().unwrap_or("");
    match direction {
        Direction::Upgrade => format!("upgrade {parents} -> {}: {message}", info.id),
        Direction::Downgrade => format!("downgrade {} -> {parents}: {message}", info.id),
    }
}
