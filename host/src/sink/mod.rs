//! The seam between a run and the database: statements go to a live
//! connection ([`OnlineSink`]) or into a script ([`Recorder`]). Nothing else
//! in Retort knows which one it is talking to.

mod cancel;
mod journal;
mod lock;
pub mod notices;
mod offline;
mod online;
mod reach;
mod sqlite_guard;
mod tap;

pub use journal::{Journal, Resume};
pub use lock::LockError;
pub use offline::Recorder;
pub use online::{ConnectError, OnlineSink, TxFault, redact, sqlite_file};
pub use tap::{RunDigest, Tap, Transcribed};

use tracing::Instrument;

use crate::dialect::Dialect;
use crate::value::{DbError, Rows, Value};

/// Why a query gave no rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// The database (or the host on its behalf) refused it.
    Db(DbError),
    /// Its rows passed the byte budget it was given; reading stopped there.
    TooLarge,
}

impl From<DbError> for QueryError {
    fn from(e: DbError) -> Self {
        QueryError::Db(e)
    }
}

/// Whether statements reach a database or a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A live connection.
    Online,
    /// A recorded script.
    Offline,
}

/// Where a run's statements go.
#[derive(Debug)]
pub enum Sink {
    /// Sent to a database now.
    Online(OnlineSink),
    /// Recorded into a SQL script.
    Offline(Recorder),
}

impl Sink {
    /// The target dialect.
    pub fn dialect(&self) -> Dialect {
        match self {
            Sink::Online(s) => s.dialect(),
            Sink::Offline(r) => r.dialect(),
        }
    }

    /// Online or offline. Asked while a revision runs, this is noted: a
    /// revision that branches on it may send other statements offline.
    pub fn mode(&self) -> Mode {
        self.tap().mode_asked();
        match self {
            Sink::Online(_) => Mode::Online,
            Sink::Offline(_) => Mode::Offline,
        }
    }

    /// Runs (or records) one statement with `$N` parameters. With no
    /// parameters `sql` may be a script of several statements.
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        check_params(params)?;
        self.tap_mut().statement(false, sql, params);
        let record = match self.journal_before(false, sql, params) {
            journal::Before::Send { record } => record,
            journal::Before::Skip => return Ok(0),
            journal::Before::Refuse(e) => return Err(e),
        };
        let commits = record && self.commits_by_itself(sql);
        if commits {
            self.journal_flush().await?;
        }
        let wrapped = record && !commits && self.journal_wraps();
        if wrapped {
            self.journal_begin().await?;
        }
        let span = statement_span("execute", sql, params);
        let result = async {
            match self {
                Sink::Online(s) => s.execute(sql, params).await,
                Sink::Offline(r) => r.execute(sql, params),
            }
        }
        .instrument(span.clone())
        .await;
        match &result {
            Ok(rows) => span.record("rows", rows),
            Err(e) => span.record("error", tracing::field::display(e)),
        };
        let result = result.map_err(|e| self.explain_db(e));
        if record {
            if commits {
                self.journal_committed();
            }
            match &result {
                Ok(_) => self.journal_after(false, sql, params, wrapped).await?,
                Err(_) if wrapped => self.journal_rollback().await,
                Err(_) => {}
            }
            if commits {
                self.journal_reopen().await?;
            }
            journal::crash_point();
        }
        result
    }

    /// Runs a statement that returns rows, keeping at most `max` bytes of
    /// them; offline this is always an error.
    pub async fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        max: usize,
    ) -> Result<Rows, QueryError> {
        check_params(params)?;
        self.tap_mut().statement(true, sql, params);
        let record = match self.journal_before(true, sql, params) {
            journal::Before::Send { record } => record,
            journal::Before::Skip => return Ok(Rows::default()),
            journal::Before::Refuse(e) => return Err(QueryError::Db(e)),
        };
        let span = statement_span("query", sql, params);
        let result = async {
            match self {
                Sink::Online(s) => s.query(sql, params, max).await,
                Sink::Offline(r) => r.query(sql).map_err(QueryError::Db),
            }
        }
        .instrument(span.clone())
        .await;
        match &result {
            Ok(rows) => span.record("rows", rows.values.len()),
            Err(QueryError::Db(e)) => span.record("error", tracing::field::display(e)),
            Err(QueryError::TooLarge) => span.record("error", "over its result budget"),
        };
        let result = result.map_err(|e| self.explain(e));
        if record {
            if result.is_ok() {
                self.journal_after(true, sql, params, false).await?;
            }
            journal::crash_point();
        }
        result
    }

    /// What the armed journal says of a revision's statement (nothing to
    /// journal when none is armed or the statement is the host's own).
    fn journal_before(&mut self, query: bool, sql: &str, params: &[Value]) -> journal::Before {
        match self {
            Sink::Online(s) if s.tap.is_open() => match s.journal.as_mut() {
                Some(journal) => journal.before(query, sql, params),
                None => journal::Before::Send { record: false },
            },
            _ => journal::Before::Send { record: false },
        }
    }

    async fn journal_after(
        &mut self,
        query: bool,
        sql: &str,
        params: &[Value],
        wrapped: bool,
    ) -> Result<(), DbError> {
        match self {
            Sink::Online(s) => s.journal_after(query, sql, params, wrapped).await,
            Sink::Offline(_) => Ok(()),
        }
    }

    /// MySQL, a revision outside any transaction of the host's: a
    /// statement that does not commit by itself runs in one of the host's
    /// with its journal write, so the two commit as one (one flush instead
    /// of two, and no instant between them).
    fn journal_wraps(&self) -> bool {
        match self {
            Sink::Online(s) => {
                s.dialect() == Dialect::Mysql
                    && s.journal.as_ref().is_some_and(|j| !j.transaction_open())
            }
            Sink::Offline(_) => false,
        }
    }

    /// MySQL: whether `sql` commits the open transaction by itself (DDL).
    fn commits_by_itself(&self, sql: &str) -> bool {
        self.dialect() == Dialect::Mysql && Dialect::Mysql.commits_implicitly(sql)
    }

    async fn journal_flush(&mut self) -> Result<(), DbError> {
        match self {
            Sink::Online(s) => s.journal_flush().await,
            Sink::Offline(_) => Ok(()),
        }
    }

    async fn journal_reopen(&mut self) -> Result<(), DbError> {
        match self {
            Sink::Online(s) => s.journal_reopen().await,
            Sink::Offline(_) => Ok(()),
        }
    }

    async fn journal_begin(&mut self) -> Result<(), DbError> {
        match self {
            Sink::Online(s) => s.host_raw("BEGIN").await,
            Sink::Offline(_) => Ok(()),
        }
    }

    async fn journal_rollback(&mut self) {
        if let Sink::Online(s) = self
            && let Err(e) = s.host_raw("ROLLBACK").await
        {
            tracing::debug!("rolling back a journaled statement: {e}");
        }
    }

    /// A statement committed the host's transaction by itself.
    fn journal_committed(&mut self) {
        if let Sink::Online(s) = self
            && let Some(journal) = s.journal.as_mut()
        {
            journal.committed_implicitly();
        }
    }

    /// Arms `journal` for the revision about to run (online; offline there
    /// is nothing to journal).
    pub fn arm_journal(&mut self, journal: Journal) {
        if let Sink::Online(s) = self {
            s.journal = Some(Box::new(journal));
        }
    }

    /// Disarms the journal after the revision, handing it back.
    pub fn take_journal(&mut self) -> Option<Journal> {
        match self {
            Sink::Online(s) => s.journal.take().map(|j| *j),
            Sink::Offline(_) => None,
        }
    }

    /// A query of the host's own (no budget on its rows).
    pub async fn host_query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        match self.query(sql, params, usize::MAX).await {
            Ok(rows) => Ok(rows),
            Err(QueryError::Db(e)) => Err(e),
            Err(QueryError::TooLarge) => Err(DbError::host("the rows passed every budget")),
        }
    }

    /// SQLite's authorizer answers "not authorized" only: say which rule.
    fn explain(&self, e: QueryError) -> QueryError {
        match e {
            QueryError::Db(e) => QueryError::Db(self.explain_db(e)),
            other => other,
        }
    }

    fn explain_db(&self, mut e: DbError) -> DbError {
        if let Sink::Online(s) = self
            && let Some(reason) = s.authorizer_refusal()
            && e.message.contains("not authorized")
        {
            e.message = format!(
                "{}: retort's SQLite authorizer refused it: {reason}",
                e.message
            );
        }
        e
    }

    /// Begins the transaction a revision runs in (noting, online, how to
    /// recognise it afterwards).
    pub async fn begin(&mut self) -> Result<(), DbError> {
        self.begin_probing("").await.map(drop)
    }

    /// [`Sink::begin`], reading `probe` (select-list items, each after `, `)
    /// in the same round trip where the database allows (PostgreSQL; else
    /// nothing is read and the result is empty).
    pub async fn begin_probing(&mut self, probe: &str) -> Result<Vec<Value>, DbError> {
        self.begin_with(probe, None).await
    }

    /// [`Sink::begin_probing`], then `settings` (statements that configure
    /// the new transaction, such as `SET LOCAL`), in the same round trip
    /// where the database allows.
    pub async fn begin_with(
        &mut self,
        probe: &str,
        settings: Option<&str>,
    ) -> Result<Vec<Value>, DbError> {
        match self {
            Sink::Online(s) => s.begin(probe, settings).await,
            Sink::Offline(r) => {
                r.execute(r.dialect().begin(), &[])?;
                if let Some(settings) = settings {
                    r.execute(settings, &[])?;
                }
                Ok(Vec::new())
            }
        }
    }

    /// Which server a MySQL-dialect connection reaches (offline: not known).
    pub fn server(&self) -> crate::dialect::Server {
        match self {
            Sink::Online(s) => s.server(),
            Sink::Offline(_) => crate::dialect::Server::Unknown,
        }
    }

    /// Sends a host statement that configures the session (the run's
    /// timeouts). A SQLite script gets none: its session is the sqlite3
    /// shell's, which has `.timeout` for that.
    pub async fn configure_session(&mut self, sql: &str) -> Result<(), DbError> {
        if matches!(self, Sink::Offline(r) if r.dialect() == Dialect::Sqlite) {
            return Ok(());
        }
        self.execute(sql, &[]).await.map(drop)
    }

    /// PostgreSQL: the id of the transaction the host opened last.
    pub fn transaction_mark(&self) -> Option<&str> {
        match self {
            Sink::Online(s) => s.transaction_mark(),
            Sink::Offline(_) => None,
        }
    }

    /// Checks, after a revision, that the host's transaction is as the host
    /// left it: still the one it opened (`in_transaction`), or none.
    /// Offline there is nothing to check.
    pub async fn check_transaction(&mut self, in_transaction: bool) -> Result<(), TxFault> {
        match self {
            Sink::Online(s) => s.check_transaction(in_transaction).await,
            Sink::Offline(_) => Ok(()),
        }
    }

    /// The schema (PostgreSQL), database (MySQL) or `main` (SQLite) that
    /// holds the host's tables, where known: they are addressed qualified.
    pub fn host_schema(&self) -> Option<&str> {
        match self {
            Sink::Online(s) => s.host_schema(),
            Sink::Offline(r) => r.host_schema(),
        }
    }

    /// The host's tables live in `schema` from now on (a rehearsal that set
    /// its search_path after connecting).
    pub fn set_host_schema(&mut self, schema: &str) {
        if let Sink::Online(s) = self {
            s.set_host_schema(schema);
        }
    }

    /// Names the host's tables, for the database's own guard (SQLite's authorizer).
    pub fn protect(&mut self, tables: &[String]) {
        if let Sink::Online(s) = self {
            s.protect(tables);
        }
    }

    /// SQLite: while revisions run, every table they touch must start with
    /// `prefix` (a source's scope); `None` lifts that.
    pub fn scope_tables(&mut self, prefix: Option<&str>) {
        if let Sink::Online(s) = self {
            s.scope_tables(prefix);
        }
    }

    /// Marks the start (`true`) and end of a revision's statements.
    pub fn revision_running(&mut self, running: bool) {
        if let Sink::Online(s) = self {
            s.revision_running(running);
        }
    }

    /// The statement tap: the digest (and transcript) of the revisions' calls.
    pub fn tap(&self) -> &Tap {
        match self {
            Sink::Online(s) => &s.tap,
            Sink::Offline(r) => &r.tap,
        }
    }

    /// The statement tap, to open and close around a revision call.
    pub fn tap_mut(&mut self) -> &mut Tap {
        match self {
            Sink::Online(s) => &mut s.tap,
            Sink::Offline(r) => &mut r.tap,
        }
    }

    /// Whether the connection was lost (never true offline).
    pub fn is_broken(&self) -> bool {
        matches!(self, Sink::Online(s) if s.is_broken())
    }

    /// Gives up on the connection after a statement overran its time (its
    /// state is unknown, so nothing more is sent on it), stopping the
    /// statement on the server. Returns what was done.
    pub async fn abandon(&mut self) -> String {
        match self {
            Sink::Online(s) => s.abandon().await,
            Sink::Offline(_) => String::new(),
        }
    }

    /// Takes the migration lock for `table` (offline there is nothing to lock).
    pub async fn lock(
        &mut self,
        table: &str,
        timeout: std::time::Duration,
    ) -> Result<(), LockError> {
        match self {
            Sink::Online(s) => s.lock(table, timeout).await,
            Sink::Offline(_) => Ok(()),
        }
    }

    /// Releases the migration lock.
    pub async fn unlock(&mut self, table: &str) {
        if let Sink::Online(s) = self {
            s.unlock(table).await;
        }
    }

    /// Opens a fresh connection after the old one was lost.
    pub async fn reconnect(&mut self) -> Result<(), ConnectError> {
        match self {
            Sink::Online(s) => s.reconnect().await,
            Sink::Offline(_) => Ok(()),
        }
    }

    /// Adds a comment to the script (offline); online it goes nowhere.
    pub fn comment(&mut self, text: &str) {
        if let Sink::Offline(r) = self {
            r.comment(text);
        }
    }
}

/// A `statement` span (debug level; `-vv`, shown as it closes, with its
/// time): the statement's first line, how many parameters it binds, and the
/// rows it touched or returned (or its error). `-vvv` (trace) logs the
/// whole text.
fn statement_span(kind: &'static str, sql: &str, params: &[Value]) -> tracing::Span {
    let trimmed = sql.trim();
    let first = trimmed.lines().next().unwrap_or("");
    let sql_line = if first.len() < trimmed.len() {
        format!("{first} …")
    } else {
        first.to_string()
    };
    let span = tracing::debug_span!(
        "statement",
        kind,
        sql = %sql_line,
        params = params.len(),
        rows = tracing::field::Empty,
        error = tracing::field::Empty
    );
    span.in_scope(|| tracing::trace!(sql = %trimmed, "text"));
    span
}

/// Values that neither a driver nor a literal can carry faithfully are refused
/// the same way online and offline, so both runs fail alike.
fn check_params(params: &[Value]) -> Result<(), DbError> {
    for (i, value) in params.iter().enumerate() {
        if let Value::Float(x) = value
            && !x.is_finite()
        {
            return Err(DbError::host(format!(
                "parameter ${} is {x}: SQL has no literal for NaN or infinity; bind NULL or a sentinel instead",
                i + 1
            )));
        }
    }
    Ok(())
}
