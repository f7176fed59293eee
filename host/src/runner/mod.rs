//! Runs a plan: for each step, a transaction (where the revision allows one),
//! the revision's `upgrade` or `downgrade` in a fresh store, and its version
//! row, all through one [`Sink`]. The runner never asks whether the sink is
//! online or offline.

mod integrity;
pub mod version_table;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tracing::Instrument;

use crate::catalog::Catalog;
use crate::dialect::Timeouts;
use crate::graph::{Direction, Plan};
use crate::sandbox::{CallResult, FailedStatement, LogLine, Outcome, RevisionInfo, Rules, Sandbox};
use crate::sink::{Journal, Mode, Resume, Sink};
use crate::value::DbError;
use integrity::HostTables;
pub use version_table::{AppliedRevision, RecordedFailure, VersionTable};

/// What the runner reports while it works, in this order: `Planned` once,
/// then per step `Started`, any `Log`s, and `Finished` (or `Failed`, which
/// ends the run).
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The plan is known and about to run (possibly with no steps).
    Planned {
        /// Which way.
        direction: Direction,
        /// The revision ids, in the order they will run.
        steps: &'a [String],
    },
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
        /// 1-based position in the plan.
        index: usize,
        /// Steps in the plan.
        total: usize,
        /// The revision id.
        id: &'a str,
        /// Which way.
        direction: Direction,
        /// Time in the revision (not counting the version row and commit).
        elapsed: Duration,
        /// Statements the revision sent.
        statements: u64,
    },
    /// A step was refused a lock in time and rolled back, with nothing of it
    /// left; it runs again after `delay`.
    Retrying {
        /// 1-based position in the plan.
        index: usize,
        /// Steps in the plan.
        total: usize,
        /// The revision id.
        id: &'a str,
        /// Which way.
        direction: Direction,
        /// Which retry this is (1-based).
        attempt: u32,
        /// Retries allowed (`lock_retries`).
        retries: u32,
        /// The wait before it.
        delay: Duration,
        /// The statement that waited.
        statement: &'a str,
        /// What the database said.
        error: &'a DbError,
    },
    /// A step failed; the run stops with this error.
    Failed {
        /// 1-based position in the plan.
        index: usize,
        /// Steps in the plan.
        total: usize,
        /// The revision id.
        id: &'a str,
        /// Which way.
        direction: Direction,
        /// What went wrong (and what it left behind).
        error: &'a RunError,
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

/// How a run uses transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransactionMode {
    /// Each revision and its version row in a transaction of its own.
    #[default]
    PerRevision,
    /// The whole run in one transaction: all of it or none of it.
    All,
}

impl FromStr for TransactionMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "per-revision" => Ok(TransactionMode::PerRevision),
            "all" => Ok(TransactionMode::All),
            other => Err(format!(
                "unknown transaction mode {other:?}: use per-revision or all"
            )),
        }
    }
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
    /// The plan cannot run in the chosen transaction mode.
    #[error("{0}")]
    Mode(String),
    /// A signal stopped the run before its next revision started.
    #[error("interrupted by {}: the run stopped before revision {next}, which did not start{}{}", .signal.name(), rolled_back_note(*.whole_run), applied_note(.applied))]
    Interrupted {
        /// The signal.
        signal: crate::interrupt::Signal,
        /// The revision that would have run next.
        next: String,
        /// Whether the run's single transaction was rolled back.
        whole_run: bool,
        /// Revisions completed before it.
        applied: Vec<String>,
    },
}

fn rolled_back_note(whole_run: bool) -> &'static str {
    if whole_run {
        "; the run's single transaction was rolled back: the database and the version table are as before the run"
    } else {
        ""
    }
}

impl RunError {
    /// The revisions that completed (and stay applied) before the failure.
    pub fn completed(&self) -> &[String] {
        match self {
            RunError::Revision(f) => &f.applied,
            RunError::Bookkeeping { applied, .. } => applied,
            RunError::Interrupted { applied, .. } => applied,
            RunError::Mode(_) => &[],
        }
    }

    /// The signal that stopped the run, if one did.
    pub fn interrupted(&self) -> Option<crate::interrupt::Signal> {
        match self {
            RunError::Interrupted { signal, .. } => Some(*signal),
            RunError::Revision(f) => f.interrupted,
            _ => None,
        }
    }

    /// Whether the failure was recorded as a revision that may be partly applied.
    pub fn left_dirty(&self) -> bool {
        matches!(self, RunError::Revision(f) if matches!(f.aftermath, Aftermath::Partial { .. }))
    }
}

/// What a failed revision left in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aftermath {
    /// Offline: no script was written.
    NoScript,
    /// Its transaction was rolled back: the database is as before it.
    RolledBack,
    /// The run's one transaction was rolled back: the database is as before the run.
    RunRolledBack,
    /// The connection was lost; the server rolls back the open transaction.
    ConnectionLost,
    /// Changes may remain (DDL on MySQL, or a revision outside a transaction).
    /// `recorded` says whether the failure mark was written.
    Partial {
        /// Why a rollback could not undo it.
        reason: &'static str,
        /// The failures table the mark went to, or why it could not be written.
        recorded: Result<String, String>,
    },
    /// The rollback failed too.
    RollbackFailed(DbError),
}

/// The details of a failed revision.
#[derive(Debug)]
pub struct RevisionFailure {
    /// The revision id.
    pub id: String,
    /// Which way it was run.
    pub direction: Direction,
    /// How it ended.
    pub result: CallResult,
    /// The last statement the database refused.
    pub statement: Option<FailedStatement>,
    /// What the component wrote to stderr.
    pub stderr: String,
    /// What it left in the database.
    pub aftermath: Aftermath,
    /// Revisions completed before it that stay applied.
    pub applied: Vec<String>,
    /// The signal that stopped it, if one did.
    pub interrupted: Option<crate::interrupt::Signal>,
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
        CallResult::OverBudget(message) | CallResult::Refused(message) => out.push_str(message),
        CallResult::Completed => out.push_str("completed"),
    }
    if !f.stderr.is_empty() {
        out.push_str("\n  the component wrote:");
        for line in f.stderr.lines() {
            out.push_str("\n    ");
            out.push_str(line);
        }
    }
    if let Some(statement) = &f.statement {
        out.push_str(&format!("\n  statement: {}", statement.sql.trim()));
        out.push_str(&format!("\n  database said: {}", statement.error));
    }
    let id = &f.id;
    out.push_str("\n  ");
    out.push_str(&match &f.aftermath {
        Aftermath::NoScript => "no script was written".to_string(),
        Aftermath::RolledBack => format!(
            "its transaction was rolled back: the database and the version table are as before {id}"
        ),
        Aftermath::RunRolledBack => "the run's single transaction was rolled back: the database and the version table are as before the run".to_string(),
        Aftermath::ConnectionLost if f.interrupted.is_some() => format!(
            "its connection was closed to stop the statement; the server rolls back the open transaction, so the version table does not list {id}; run again when you are ready"
        ),
        Aftermath::ConnectionLost => format!(
            "the connection to the database was lost (or abandoned mid-statement) and is closed; the server rolls back the open transaction, so the version table does not list {id}; run again once the database is reachable"
        ),
        Aftermath::Partial { reason, recorded: Ok(table) } => format!(
            "{reason}, so what it did before failing may still be in the database. The failure is recorded in {table}, and retort refuses to run until it is resolved: inspect the database, then run `retort resolve {id} --applied` if everything the {} does is in place, or `retort resolve {id} --rolled-back` once you have undone it",
            f.direction
        ),
        Aftermath::Partial { reason, recorded: Err(e) } => format!(
            "{reason}, so what it did before failing may still be in the database, and recording the failure failed too ({e}): check the database by hand before running again"
        ),
        Aftermath::RollbackFailed(e) => format!(
            "the rollback failed too ({e}): check the database by hand before running again"
        ),
    });
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
pub struct Runner<'a> {
    sandbox: &'a Sandbox,
    catalog: &'a Catalog,
    table: &'a VersionTable,
    sink: Option<Sink>,
    rules: &'a (dyn Fn(&str) -> Rules + Sync),
    /// The caller holds the run's transaction open (a rehearsal): `all`
    /// mode then neither begins nor commits it.
    caller_transaction: bool,
    /// What the host's tables hold (online), to check after each revision.
    host: Option<HostTables>,
    /// This run's id, in the journal records it writes.
    run_id: String,
    /// The interrupted run's record the (one-step) plan resumes from.
    resume: Option<Resume>,
    /// The timeouts the host has set for the session (restored when the run ends).
    session: Timeouts,
}

/// The per-step context a failure report needs.
struct Step<'p> {
    id: &'p str,
    info: &'p RevisionInfo,
    direction: Direction,
    mode: TransactionMode,
    /// Whether the step's statements run inside a transaction (its own or the run's).
    in_transaction: bool,
}

impl<'a> Runner<'a> {
    /// A runner that sends everything to `sink`, running each revision
    /// under the rules `rules` gives for its id.
    pub fn new(
        sandbox: &'a Sandbox,
        catalog: &'a Catalog,
        table: &'a VersionTable,
        sink: Sink,
        rules: &'a (dyn Fn(&str) -> Rules + Sync),
    ) -> Self {
        Runner {
            sandbox,
            catalog,
            table,
            sink: Some(sink),
            rules,
            caller_transaction: false,
            host: None,
            run_id: new_run_id(),
            resume: None,
            session: Timeouts::default(),
        }
    }

    /// For `resolve --resume`: the plan's one step continues an
    /// interrupted run of it, skipping the statements `resume` counts.
    pub fn resuming(mut self, resume: Resume) -> Self {
        self.resume = Some(resume);
        self
    }

    /// Whether a step keeps a statement journal: online, outside a
    /// rehearsal, when it can commit part-way (any revision on MySQL,
    /// whose DDL commits at once; any outside a transaction).
    fn journaled(&self, dialect: crate::dialect::Dialect, in_transaction: bool) -> bool {
        let online = matches!(self.sink.as_ref(), Some(Sink::Online(_)));
        online
            && !self.caller_transaction
            && (dialect == crate::dialect::Dialect::Mysql || !in_transaction)
    }

    /// For a caller that has already begun the transaction the whole run
    /// goes into, and ends it itself (a dry run rolls it back): with
    /// [`TransactionMode::All`] the runner then sends no BEGIN and no COMMIT.
    pub fn within_caller_transaction(mut self) -> Self {
        self.caller_transaction = true;
        self
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
        mode: TransactionMode,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<StepReport>, RunError> {
        let result = self.run_steps(plan, mode, observer).await;
        if !self.sink().is_broken()
            && let Err(e) = self.session_timeouts(Timeouts::default()).await
        {
            tracing::warn!("restoring the session's lock and statement timeouts: {e}");
        }
        result
    }

    /// Sets the session's timeouts to `wanted` (restoring what the host set
    /// before, first), when they differ from what is set.
    async fn session_timeouts(&mut self, wanted: Timeouts) -> Result<(), DbError> {
        if self.session == wanted {
            return Ok(());
        }
        let dialect = self.sink().dialect();
        let server = self.sink().server();
        if let Some(reset) = dialect.reset_session_timeouts(&self.session, server) {
            self.sink().configure_session(&reset).await?;
        }
        self.session = Timeouts::default();
        if let Some(set) = dialect.session_timeouts(&wanted, server) {
            self.sink().configure_session(&set).await?;
        }
        self.session = wanted;
        Ok(())
    }

    async fn run_steps(
        &mut self,
        plan: &Plan,
        mode: TransactionMode,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<StepReport>, RunError> {
        observer(Event::Planned {
            direction: plan.direction,
            steps: &plan.steps,
        });
        let whole_run = mode == TransactionMode::All && !plan.steps.is_empty();
        if mode == TransactionMode::All {
            self.check_all_mode(plan)?;
        }
        if let Some(first) = plan.steps.first() {
            let tables = self.table.host_tables();
            self.sink().protect(&tables);
            // The failures table (the journal) exists: `VersionTable::ensure`,
            // run under the lock before any plan, creates it.
            let table = self.table;
            self.host = HostTables::read(table, self.sink())
                .await
                .map_err(|error| RunError::Bookkeeping {
                    id: first.clone(),
                    action: "reading the version table",
                    error,
                    applied: Vec::new(),
                })?;
        }
        if whole_run && !self.caller_transaction {
            let first = plan.steps[0].clone();
            let dialect = self.sink().dialect();
            let probe = match &self.host {
                Some(host) => host.begin_probe(dialect),
                None => String::new(),
            };
            let probed =
                self.sink()
                    .begin_probing(&probe)
                    .await
                    .map_err(|error| RunError::Bookkeeping {
                        id: first,
                        action: "BEGIN",
                        error,
                        applied: Vec::new(),
                    })?;
            if let Some(host) = &mut self.host {
                host.begun(&probed);
            }
        }
        let mut done: Vec<StepReport> = Vec::with_capacity(plan.steps.len());
        for (index, id) in plan.steps.iter().enumerate() {
            if let Some(signal) = crate::interrupt::requested() {
                if whole_run && !self.caller_transaction {
                    let _ = self.sink().execute("ROLLBACK", &[]).await;
                }
                return Err(RunError::Interrupted {
                    signal,
                    next: id.clone(),
                    whole_run,
                    applied: match mode {
                        TransactionMode::PerRevision => done.iter().map(|s| s.id.clone()).collect(),
                        TransactionMode::All => Vec::new(),
                    },
                });
            }
            let entry = self
                .catalog
                .get(id)
                .expect("plans only name revisions of the catalog");
            let step = Step {
                id,
                info: &entry.info,
                direction: plan.direction,
                mode,
                in_transaction: whole_run || entry.info.transactional,
            };
            observer(Event::Started {
                index: index + 1,
                total: plan.steps.len(),
                id,
                message: &entry.info.message,
                direction: plan.direction,
            });
            let span = tracing::info_span!(
                "revision",
                id = id.as_str(),
                direction = %plan.direction,
                step = index + 1,
                of = plan.steps.len()
            );
            let rules = (self.rules)(id);
            let retry = !whole_run && !self.caller_transaction && self.resume.is_none();
            let mut attempt = 0;
            let report = loop {
                let error = match self
                    .step(&step, &rules, &done, observer)
                    .instrument(span.clone())
                    .await
                {
                    Ok(report) => break report,
                    Err(error) => error,
                };
                let retries = rules.limits.lock_retries;
                if let Some(failed) = retry.then(|| lock_refused(&error)).flatten()
                    && attempt < retries
                {
                    attempt += 1;
                    let delay = backoff(rules.limits.lock_retry_backoff, attempt);
                    observer(Event::Retrying {
                        index: index + 1,
                        total: plan.steps.len(),
                        id,
                        direction: plan.direction,
                        attempt,
                        retries,
                        delay,
                        statement: failed.sql.trim(),
                        error: &failed.error,
                    });
                    tracing::info!(
                        "{id}: a lock was not granted in time; rolled back, retry {attempt} of {retries} in {delay:.1?}"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(delay) => continue,
                        signal = crate::interrupt::wait() => {
                            return Err(RunError::Interrupted {
                                signal,
                                next: id.clone(),
                                whole_run: false,
                                applied: done.iter().map(|s| s.id.clone()).collect(),
                            });
                        }
                    }
                }
                observer(Event::Failed {
                    index: index + 1,
                    total: plan.steps.len(),
                    id,
                    direction: plan.direction,
                    error: &error,
                });
                return Err(error);
            };
            observer(Event::Finished {
                index: index + 1,
                total: plan.steps.len(),
                id,
                direction: plan.direction,
                elapsed: report.elapsed,
                statements: report.statements,
            });
            done.push(report);
        }
        if whole_run && !self.caller_transaction {
            let last = plan.steps[plan.steps.len() - 1].clone();
            self.sink()
                .execute("COMMIT", &[])
                .await
                .map_err(|error| RunError::Bookkeeping {
                    id: last,
                    action: "COMMIT of the run",
                    error,
                    applied: Vec::new(),
                })?;
        }
        Ok(done)
    }

    /// `all` needs DDL that rolls back, and revisions that accept a transaction.
    fn check_all_mode(&mut self, plan: &Plan) -> Result<(), RunError> {
        let dialect = self.sink().dialect();
        if !dialect.transactional_ddl() {
            return Err(RunError::Mode(format!(
                "--transaction-mode all needs DDL that can be rolled back, which {dialect} does not have (it commits each DDL statement at once); use --transaction-mode per-revision"
            )));
        }
        let outside: Vec<&str> = plan
            .steps
            .iter()
            .filter(|id| self.catalog.get(id).is_some_and(|e| !e.info.transactional))
            .map(String::as_str)
            .collect();
        if !outside.is_empty() {
            return Err(RunError::Mode(format!(
                "--transaction-mode all cannot include {}: it must run outside a transaction (transactional: false); run the plan with --transaction-mode per-revision",
                outside.join(", ")
            )));
        }
        Ok(())
    }

    /// One revision: its transaction (in per-revision mode), the call, the version row.
    async fn step(
        &mut self,
        step: &Step<'_>,
        rules: &Rules,
        done: &[StepReport],
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<StepReport, RunError> {
        let own_transaction = step.mode == TransactionMode::PerRevision && step.info.transactional;
        let applied = || match step.mode {
            TransactionMode::PerRevision => done.iter().map(|s| s.id.clone()).collect(),
            TransactionMode::All => Vec::new(),
        };
        let bookkeeping = |action, error| RunError::Bookkeeping {
            id: step.id.to_string(),
            action,
            error,
            applied: applied(),
        };
        // Loaded ahead by Catalog::prepare; fetched before BEGIN so that a
        // component that cannot be loaded leaves nothing to roll back.
        let program = self.catalog.program(self.sandbox, step.id).map_err(|e| {
            bookkeeping(
                "loading the compiled component",
                DbError::host(e.to_string()),
            )
        })?;
        let sink = self
            .sink
            .as_mut()
            .expect("the sink is back after every step");
        sink.comment(&step_comment(step.direction, step.info));
        let dialect = sink.dialect();
        let timeouts = Timeouts {
            lock: rules.limits.lock_timeout,
            statement: rules.limits.statement_timeout,
        };
        // PostgreSQL scopes them to the revision's transaction; elsewhere,
        // and outside a transaction, they are the session's.
        let scoped = dialect.scopes_timeouts_to_transactions() && step.in_transaction;
        if !scoped {
            self.session_timeouts(timeouts)
                .await
                .map_err(|e| bookkeeping("setting the lock and statement timeouts", e))?;
        }
        let journaled = self.journaled(dialect, step.in_transaction);
        let resume = if journaled { self.resume.take() } else { None };
        let entry = self.catalog.get(step.id).expect("planned ids exist");
        if journaled {
            let table = self.table;
            let empty = Journal::new(String::new(), step.id, step.direction, None).digest();
            let direction = step.direction.to_string();
            let run_id = self.run_id.clone();
            let start = version_table::JournalStart {
                id: step.id,
                direction: &direction,
                run_id: &run_id,
                sha256: &entry.sha256,
                digest: &empty,
                resume: resume.is_some(),
            };
            table
                .journal_start(self.sink(), &start)
                .await
                .map_err(|e| bookkeeping("recording in the journal that the revision starts", e))?;
        }
        let sink = self
            .sink
            .as_mut()
            .expect("the sink is back after every step");
        if own_transaction {
            let probe = match &self.host {
                Some(host) => host.begin_probe(dialect),
                None => String::new(),
            };
            let settings = dialect.transaction_timeouts(&timeouts);
            let probed = sink
                .begin_with(&probe, settings.as_deref())
                .await
                .map_err(|e| bookkeeping("BEGIN", e))?;
            if let Some(host) = &mut self.host {
                host.begun(&probed);
            }
        }
        if scoped
            && !own_transaction
            && let Some(settings) = dialect.transaction_timeouts(&timeouts)
        {
            // The run's one transaction: each revision sets its own.
            self.sink()
                .execute(&settings, &[])
                .await
                .map_err(|e| bookkeeping("setting the lock and statement timeouts", e))?;
        }
        let mut sink = self.sink.take().expect("the sink is back after every step");
        if journaled {
            let failures = VersionTable::qualify(&sink, &self.table.failures_name());
            sink.arm_journal(
                Journal::new(failures, step.id, step.direction, resume)
                    .in_transaction(own_transaction),
            );
        }
        sink.tap_mut().begin_revision(step.id, step.direction);
        sink.scope_tables(rules.table_prefix.as_deref());
        sink.revision_running(true);
        let (mut sink, mut outcome) = self
            .sandbox
            .call(&program, step.direction, sink, step.id, rules)
            .await;
        sink.revision_running(false);
        sink.tap_mut().end_revision();
        let journal = sink.take_journal();
        self.sink = Some(sink);
        if !scoped && dialect.scopes_timeouts_to_transactions() && !self.sink().is_broken() {
            // PostgreSQL outside a transaction: the session's until reset.
            if let Err(e) = self.session_timeouts(Timeouts::default()).await {
                tracing::warn!(
                    "resetting the lock and statement timeouts after {}: {e}",
                    step.id
                );
            }
        }
        if let Some(journal) = &journal {
            // A resume that sent other statements is refused, whatever the
            // revision made of the refusal.
            let refused = match journal.stopped() {
                Some(reason) => Some(reason.to_string()),
                None if outcome.result == CallResult::Completed => journal.finished().err(),
                None => None,
            };
            if let Some(reason) = refused {
                outcome.result = CallResult::Refused(reason);
            }
        }
        let journal_count = journal.as_ref().map(|j| (step.id, j.written()));
        // MySQL: the host opens its transaction again after DDL commits it.
        let journal_open = journal.as_ref().map(Journal::transaction_open);
        for line in &outcome.logs {
            observer(Event::Log { id: step.id, line });
        }
        if outcome.result == CallResult::Completed
            && let Err(reason) = self
                .verify(step, &outcome, dialect, journal_count, journal_open)
                .await
        {
            outcome.result = CallResult::Refused(reason);
        }
        if outcome.result != CallResult::Completed {
            let aftermath = self.aftermath(step, &outcome, journaled).await;
            return Err(RunError::Revision(Box::new(RevisionFailure {
                id: step.id.to_string(),
                direction: step.direction,
                result: outcome.result,
                statement: outcome.last_failure,
                stderr: outcome.stderr,
                aftermath,
                applied: applied(),
                interrupted: crate::interrupt::requested(),
            })));
        }
        let table = self.table;
        // The version row and the end of the journal record in one
        // transaction: the host's own, when the revision's is not open.
        let revision_tx_open = journal_open.unwrap_or(
            own_transaction
                && !(dialect == crate::dialect::Dialect::Mysql && outcome.implicit_commit),
        );
        let bookkeeping_tx = journaled && !revision_tx_open;
        let sink = self.sink();
        if bookkeeping_tx {
            sink.execute(dialect.begin(), &[])
                .await
                .map_err(|e| bookkeeping("BEGIN of the version row", e))?;
        }
        let recorded = match step.direction {
            Direction::Upgrade => {
                let duration = match sink.mode() {
                    Mode::Online => Some(outcome.elapsed.as_millis() as i64),
                    Mode::Offline => None,
                };
                table
                    .insert(
                        sink,
                        step.id,
                        &entry.sha256,
                        entry.interpreter.as_deref(),
                        duration,
                    )
                    .await
            }
            Direction::Downgrade => table.delete(sink, step.id).await,
        };
        let recorded = match recorded {
            Ok(()) if journaled => table.clear_failure(sink, step.id).await,
            other => other,
        };
        if let Err(e) = recorded {
            if bookkeeping_tx {
                let _ = sink.execute("ROLLBACK", &[]).await;
                let message =
                    format!("the revision completed but its version row could not be written: {e}");
                let _ = self.record_failure(step, None, &message).await;
            } else if own_transaction {
                let _ = sink.execute("ROLLBACK", &[]).await;
            } else if !step.in_transaction && outcome.succeeded > 0 {
                // Its work is done and cannot be undone, but is not recorded.
                let message =
                    format!("the revision completed but its version row could not be written: {e}");
                let _ = self.record_failure(step, None, &message).await;
            }
            return Err(bookkeeping("recording the version row", e));
        }
        if let Some(host) = &mut self.host {
            match step.direction {
                Direction::Upgrade => host.inserted(step.id, &entry.sha256),
                Direction::Downgrade => host.deleted(step.id),
            }
        }
        if own_transaction || bookkeeping_tx {
            self.sink()
                .execute("COMMIT", &[])
                .await
                .map_err(|e| bookkeeping("COMMIT", e))?;
        }
        if (own_transaction || !step.in_transaction)
            && let Some(host) = &mut self.host
        {
            host.committed();
        }
        Ok(StepReport {
            id: step.id.to_string(),
            elapsed: outcome.elapsed,
            statements: outcome.statements,
        })
    }

    /// After a revision that completed, before its version row: its
    /// transaction is still the host's (or, outside one, none is open), and
    /// the host's tables hold what the host wrote. `Err` says what is not.
    async fn verify(
        &mut self,
        step: &Step<'_>,
        outcome: &Outcome,
        dialect: crate::dialect::Dialect,
        journal: Option<(&str, u64)>,
        journal_open: Option<bool>,
    ) -> Result<(), String> {
        let Some(host) = self.host.take() else {
            return Ok(());
        };
        // DDL on MySQL ends the transaction by itself: the revision's work
        // is committed, which the aftermath of a failure reports as such.
        let expect_open = journal_open.unwrap_or(
            step.in_transaction
                && !(dialect == crate::dialect::Dialect::Mysql && outcome.implicit_commit),
        );
        let checked = async {
            if step.in_transaction == expect_open
                && !HostTables::checks_transaction(self.sink(), expect_open)
            {
                self.sink()
                    .check_transaction(expect_open)
                    .await
                    .map_err(|fault| fault.reason)?;
            }
            host.verify(self.table, self.sink(), expect_open, journal)
                .await
        }
        .await;
        self.host = Some(host);
        checked
    }

    /// Rolls back what can be, records what cannot, and says which it was.
    async fn aftermath(
        &mut self,
        step: &Step<'_>,
        outcome: &Outcome,
        journaled: bool,
    ) -> Aftermath {
        if self.sink().mode() == Mode::Offline {
            return Aftermath::NoScript;
        }
        let broken = self.sink().is_broken();
        // A rollback undoes the revision only if its transaction is still the
        // one the host opened: say "as before" only when that is true.
        let ended = step.in_transaction
            && !broken
            && !outcome.implicit_commit
            && self
                .sink()
                .check_transaction(true)
                .await
                .is_err_and(|fault| fault.changed);
        let mut rollback_error = None;
        if step.in_transaction && !broken {
            rollback_error = self.sink().execute("ROLLBACK", &[]).await.err();
        }
        let partial = if ended {
            Some("the revision ended the host's transaction before it failed")
        } else if step.in_transaction {
            outcome.implicit_commit.then_some(
                "it failed part-way on MySQL/MariaDB, which commits each DDL statement at once",
            )
        } else {
            (outcome.succeeded > 0 || outcome.implicit_commit)
                .then_some("it ran outside a transaction (transactional: false)")
        };
        if let Some(reason) = partial {
            let error = match &outcome.result {
                CallResult::Returned(m)
                | CallResult::Trapped(m)
                | CallResult::OverBudget(m)
                | CallResult::Refused(m) => m.clone(),
                CallResult::Completed => String::new(),
            };
            let statement = outcome.last_failure.as_ref().map(|f| f.sql.as_str());
            let recorded = self.record_failure(step, statement, &error).await;
            return Aftermath::Partial { reason, recorded };
        }
        if journaled {
            // Nothing of it remains: neither does its journal record.
            self.forget_journal(step).await;
        }
        if broken {
            return Aftermath::ConnectionLost;
        }
        match rollback_error {
            Some(e) => Aftermath::RollbackFailed(e),
            None if step.mode == TransactionMode::All => Aftermath::RunRolledBack,
            None => Aftermath::RolledBack,
        }
    }

    /// Removes the journal record of a step that left nothing behind.
    async fn forget_journal(&mut self, step: &Step<'_>) {
        let table = self.table;
        let sink = self.sink();
        if sink.is_broken()
            && let Err(e) = sink.reconnect().await
        {
            tracing::warn!("cannot remove the journal record of {}: {e}", step.id);
            return;
        }
        if let Err(e) = table.clear_failure(sink, step.id).await {
            tracing::warn!("cannot remove the journal record of {}: {e}", step.id);
        }
    }

    async fn record_failure(
        &mut self,
        step: &Step<'_>,
        statement: Option<&str>,
        error: &str,
    ) -> Result<String, String> {
        let table = self.table;
        let sink = self.sink();
        if sink.is_broken() {
            sink.reconnect().await.map_err(|e| e.to_string())?;
        }
        table
            .record_failure(sink, step.id, &step.direction.to_string(), statement, error)
            .await
            .map(|()| table.failures_name())
            .map_err(|e| e.to_string())
    }
}

/// The statement a failed step waited on, when the step failed because a
/// lock was not granted in time and left nothing behind: rolled back, or
/// outside a transaction before any statement of it took effect.
fn lock_refused(error: &RunError) -> Option<&FailedStatement> {
    let RunError::Revision(failure) = error else {
        return None;
    };
    let propagated = matches!(
        failure.result,
        CallResult::Returned(_) | CallResult::Trapped(_)
    );
    (propagated && failure.aftermath == Aftermath::RolledBack && failure.interrupted.is_none())
        .then_some(failure.statement.as_ref())
        .flatten()
        .filter(|statement| statement.error.lock_wait)
}

/// The wait before retry `attempt` (1-based): `first`, doubling, at most a minute.
fn backoff(first: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    first.saturating_mul(factor).min(Duration::from_secs(60))
}

/// A run's id: 32 hex digits from the system's random source.
fn new_run_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (nanos ^ u128::from(std::process::id())).to_be_bytes();
    }
    hex::encode(bytes)
}

fn step_comment(direction: Direction, info: &RevisionInfo) -> String {
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
