//! The seam between a run and the database: statements go to a live
//! connection ([`OnlineSink`]) or into a script ([`Recorder`]). Nothing else
//! in Retort knows which one it is talking to.

mod lock;
mod offline;
mod online;
mod tap;

pub use lock::LockError;
pub use offline::Recorder;
pub use online::{ConnectError, OnlineSink, redact, sqlite_file};
pub use tap::{RunDigest, Tap, Transcribed};

use tracing::Instrument;

use crate::dialect::Dialect;
use crate::value::{DbError, Rows, Value};

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
        self.check_rehearsal(sql)?;
        self.tap_mut().statement(false, sql, params);
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
        result
    }

    /// Runs a statement that returns rows; offline this is always an error.
    pub async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        check_params(params)?;
        self.check_rehearsal(sql)?;
        self.tap_mut().statement(true, sql, params);
        let span = statement_span("query", sql, params);
        let result = async {
            match self {
                Sink::Online(s) => s.query(sql, params).await,
                Sink::Offline(r) => r.query(sql),
            }
        }
        .instrument(span.clone())
        .await;
        match &result {
            Ok(rows) => span.record("rows", rows.values.len()),
            Err(e) => span.record("error", tracing::field::display(e)),
        };
        result
    }

    /// Makes this connection a dry run's rehearsal: from now on a revision's
    /// statement that begins or ends a transaction is refused, since it
    /// would end (and commit) the transaction the rehearsal rolls back.
    pub fn set_rehearsal(&mut self) {
        if let Sink::Online(s) = self {
            s.rehearsal = true;
        }
    }

    fn check_rehearsal(&self, sql: &str) -> Result<(), DbError> {
        let Sink::Online(s) = self else {
            return Ok(());
        };
        if !s.rehearsal || !s.tap.is_open() {
            return Ok(());
        }
        match s.dialect().transaction_control(sql) {
            None => Ok(()),
            Some(statement) => Err(DbError::host(format!(
                "a dry run cannot rehearse `{}`: the rehearsal runs the plan in one transaction and rolls it back, and this statement would end it. Retort runs each revision in a transaction of its own, so a revision should not begin or end one itself (declare `transactional: false` for a revision that must)",
                statement.trim()
            ))),
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

    /// Gives up on the connection after a statement overran its time: its
    /// state is unknown, so nothing more is sent on it.
    pub fn abandon(&mut self) {
        if let Sink::Online(s) = self {
            s.abandon();
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
