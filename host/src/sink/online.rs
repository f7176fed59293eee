//! The online sink: one sqlx connection (no pool) for the whole run.

use std::str::FromStr;

use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx::postgres::types::Oid;
use sqlx::postgres::{
    PgArgumentBuffer, PgConnectOptions, PgConnection, PgRow, PgTypeInfo, Postgres,
};
use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{
    AssertSqlSafe, Column, ConnectOptions, Connection as _, Decode, Row, TypeInfo, ValueRef,
};

use futures_util::TryStreamExt;

use super::QueryError;
use super::sqlite_guard::{Authorizer, RawHandle};
use crate::dialect::Dialect;
use crate::value::{DbError, ROW_OVERHEAD, Rows, Value};

/// A slow statement is normal in a migration (and waiting for the lock is
/// slow by design): sqlx's default warning would only be noise, `-vv` shows it.
const SLOW_LOG_LEVEL: log::LevelFilter = log::LevelFilter::Debug;
const SLOW_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// A database connection could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {url}: {reason}")]
pub struct ConnectError {
    /// The URL with any password hidden.
    pub url: String,
    /// What the driver said, or what is wrong with the URL.
    pub reason: String,
}

/// Builds a prepared query for driver `$db` with every value bound in order.
macro_rules! bind_all {
    ($db:ty, $sql:expr, $values:expr, $null:expr) => {{
        let mut query = sqlx::query::<$db>(AssertSqlSafe($sql.to_string()));
        for value in $values.iter() {
            query = match value {
                Value::Null => query.bind($null),
                Value::Boolean(b) => query.bind(*b),
                Value::Integer(i) => query.bind(*i),
                Value::Float(x) => query.bind(*x),
                Value::Text(s) => query.bind(s.as_str()),
                Value::Blob(b) => query.bind(b.as_slice()),
            };
        }
        query
    }};
}

#[derive(Debug)]
pub(super) enum Connection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
    Mysql(MySqlConnection),
}

/// Sends statements to a live database over one connection.
#[derive(Debug)]
pub struct OnlineSink {
    pub(super) conn: Connection,
    /// Set once the connection itself failed (not a statement): nothing more
    /// can be sent, and the server has rolled back any open transaction.
    broken: bool,
    /// The SQLite database file, for the lock file beside it.
    pub(super) sqlite_file: Option<std::path::PathBuf>,
    /// The held SQLite lock file.
    pub(super) lock_file: Option<std::fs::File>,
    /// What was connected to, for [`OnlineSink::reconnect`].
    pub(super) url: String,
    pub(super) schema: Option<String>,
    /// The schema (PostgreSQL), database (MySQL) or `main` (SQLite) that
    /// holds the host's tables, resolved once when connecting: the host
    /// addresses its tables qualified with it, so nothing a revision sets
    /// or creates later can redirect them.
    host_schema: Option<String>,
    /// The server's id of this session (PostgreSQL backend pid, MySQL
    /// connection id), to stop it from another session.
    backend: Option<i64>,
    /// SQLite: the authorizer and the raw handle.
    sqlite: Option<(&'static Authorizer, RawHandle)>,
    /// The host-only connection that holds the migration lock (PostgreSQL,
    /// MySQL): a revision's statements never run on it, so none can release it.
    pub(super) control: Option<Connection>,
    /// PostgreSQL: the id of the transaction the host opened last.
    tx_mark: Option<String>,
    /// The digest of the revisions' statements.
    pub(super) tap: super::Tap,
    /// The journal of the revision running, when it can commit part-way.
    pub(super) journal: Option<Box<super::Journal>>,
    /// The version table whose migration lock this run holds (MySQL: its
    /// run lock is taken again on a new connection).
    pub(super) locked_table: Option<String>,
    /// MySQL dialect: the server is MariaDB.
    mariadb: bool,
}

impl OnlineSink {
    /// Opens one connection to `url` (`sqlite:`, `postgres://`, `mysql://` or
    /// `mariadb://`). A SQLite file is created if it does not exist. With a
    /// `schema` (PostgreSQL only), the schema is created if missing and becomes
    /// the `search_path`, so the version table and unqualified names live there.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<OnlineSink, ConnectError> {
        let (conn, sqlite_file) = open(url, schema).await?;
        let mut sink = OnlineSink {
            conn,
            broken: false,
            sqlite_file,
            lock_file: None,
            url: url.to_string(),
            schema: schema.map(str::to_string),
            host_schema: None,
            backend: None,
            sqlite: None,
            control: None,
            tx_mark: None,
            tap: super::Tap::default(),
            journal: None,
            locked_table: None,
            mariadb: false,
        };
        sink.identify()
            .await
            .map_err(|e| connect_error(url, format!("cannot read the session's schema: {e}")))?;
        Ok(sink)
    }

    /// Resolves the host's schema and the session id, and installs SQLite's
    /// authorizer.
    async fn identify(&mut self) -> Result<(), sqlx::Error> {
        match &mut self.conn {
            Connection::Sqlite(c) => {
                self.sqlite = Some(Authorizer::install(c).await?);
                self.host_schema = Some("main".into());
            }
            Connection::Postgres(c) => {
                let row = sqlx::query("SELECT current_schema()::text, pg_backend_pid()::bigint")
                    .fetch_one(&mut *c)
                    .await?;
                self.host_schema = row.try_get(0)?;
                self.backend = row.try_get(1)?;
            }
            Connection::Mysql(c) => {
                let row =
                    sqlx::query("SELECT DATABASE(), CAST(CONNECTION_ID() AS SIGNED), VERSION()")
                        .fetch_one(&mut *c)
                        .await?;
                self.host_schema = row.try_get(0)?;
                self.backend = row.try_get(1)?;
                let version: String = row.try_get(2)?;
                self.mariadb = version.contains("MariaDB");
                // The host digests its tables with GROUP_CONCAT: room for every row.
                sqlx::raw_sql("SET SESSION group_concat_max_len = 4294967295")
                    .execute(&mut *c)
                    .await?;
            }
        }
        Ok(())
    }

    /// The schema (or database) that holds the host's tables.
    pub fn host_schema(&self) -> Option<&str> {
        self.host_schema.as_deref()
    }

    /// The host's tables live in `schema` from now on.
    pub fn set_host_schema(&mut self, schema: &str) {
        self.host_schema = Some(schema.to_string());
    }

    /// Names the host's tables, which SQLite's authorizer then guards.
    pub fn protect(&mut self, tables: &[String]) {
        if let Some((authorizer, _)) = self.sqlite {
            authorizer.protect(tables);
        }
    }

    /// SQLite: the prefix every table a revision touches must have.
    pub fn scope_tables(&mut self, prefix: Option<&str>) {
        if let Some((authorizer, _)) = self.sqlite {
            authorizer.scope(prefix);
        }
    }

    /// Marks the start (`true`) or end of a revision's statements.
    pub fn revision_running(&mut self, running: bool) {
        if let Some((authorizer, _)) = self.sqlite {
            authorizer.set_active(running);
        }
    }
}

fn connect_error(url: &str, reason: String) -> ConnectError {
    ConnectError {
        url: redact(url),
        reason,
    }
}

/// Opens one connection (and the SQLite file it names, if any).
pub(super) async fn open(
    url: &str,
    schema: Option<&str>,
) -> Result<(Connection, Option<std::path::PathBuf>), ConnectError> {
    let fail = |reason: String| connect_error(url, reason);
    let dialect = Dialect::from_url(url).ok_or_else(|| {
        fail("unknown URL scheme; use sqlite:PATH, postgres://… or mysql://… (mariadb://…)".into())
    })?;
    if schema.is_some() && dialect != Dialect::Postgres {
        return Err(fail(format!(
            "a schema is a PostgreSQL setting; on {dialect} put the database name in the URL instead"
        )));
    }
    let mut sqlite_file = None;
    let conn = match dialect {
        Dialect::Sqlite => {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| fail(e.to_string()))?
                .create_if_missing(true)
                .foreign_keys(true)
                .log_slow_statements(SLOW_LOG_LEVEL, SLOW_AFTER);
            let file = options.get_filename();
            if !url.contains("memory") && file.as_os_str() != ":memory:" {
                sqlite_file = Some(file.to_path_buf());
            }
            Connection::Sqlite(options.connect().await.map_err(|e| fail(e.to_string()))?)
        }
        Dialect::Postgres => {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| fail(e.to_string()))?
                .application_name("retort")
                .log_slow_statements(SLOW_LOG_LEVEL, SLOW_AFTER);
            let mut conn = options.connect().await.map_err(|e| fail(e.to_string()))?;
            // A session whose client died ends within a second even during
            // a long statement (PostgreSQL 14+; older servers lack the
            // setting, and keep today's behaviour).
            let _ = sqlx::raw_sql("SET client_connection_check_interval = 1000")
                .execute(&mut conn)
                .await;
            if let Some(schema) = schema {
                let sql = Dialect::Postgres.enter_schema(schema, true);
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| fail(format!("cannot use schema {schema:?}: {e}")))?;
            }
            Connection::Postgres(conn)
        }
        Dialect::Mysql => {
            let url = match url.strip_prefix("mariadb:") {
                Some(rest) => format!("mysql:{rest}"),
                None => url.to_string(),
            };
            let options = MySqlConnectOptions::from_str(&url)
                .map_err(|e| fail(e.to_string()))?
                .log_slow_statements(SLOW_LOG_LEVEL, SLOW_AFTER);
            Connection::Mysql(options.connect().await.map_err(|e| fail(e.to_string()))?)
        }
    };
    Ok((conn, sqlite_file))
}

impl OnlineSink {
    /// Replaces a lost connection with a new one to the same database. The
    /// lock stays held (on its own connection, or the SQLite lock file).
    pub async fn reconnect(&mut self) -> Result<(), ConnectError> {
        let mut fresh = OnlineSink::connect(&self.url, self.schema.as_deref()).await?;
        if let (Some((old, _)), Some((new, _))) = (self.sqlite, fresh.sqlite) {
            new.protect(&old.host_tables());
        }
        std::mem::swap(&mut self.conn, &mut fresh.conn);
        if let (Connection::Mysql(main), Some(_)) = (&mut self.conn, &self.control)
            && let Some(table) = &self.locked_table
        {
            super::lock::mark_mysql(main, table).await;
        }
        self.sqlite = fresh.sqlite;
        self.backend = fresh.backend;
        self.broken = false;
        Ok(())
    }

    /// Gives the connection up after a statement overran its time, and stops
    /// that statement on the server, so that it does not go on holding locks
    /// (and its transaction) after the run: PostgreSQL terminates the backend
    /// and MySQL kills the connection, from a session of their own, and the
    /// host waits until the server confirms the session is gone; SQLite
    /// interrupts the statement. Returns what was done, for the message.
    pub async fn abandon(&mut self) -> String {
        self.broken = true;
        match (&self.conn, self.backend) {
            (Connection::Sqlite(_), _) => match self.sqlite {
                Some((_, raw)) => {
                    raw.interrupt();
                    "the statement was interrupted and the connection closed, which rolls its transaction back".into()
                }
                None => "the connection was closed".into(),
            },
            (_, Some(backend)) => match super::cancel::stop_session(self, backend).await {
                Ok(note) => note,
                Err(e) => format!(
                    "stopping the statement on the server failed ({e}): check for a session still running it (backend {backend})"
                ),
            },
            (_, None) => {
                "the server's session id is unknown, so the statement may still run there".into()
            }
        }
    }

    /// Whether the connection itself has failed (as opposed to a statement).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Turns a driver error into a [`DbError`], noting a lost connection.
    pub(super) fn fail(&mut self, e: sqlx::Error) -> DbError {
        let lost = match &e {
            // 08xxx are connection exceptions; 57P0x is PostgreSQL ending the
            // session (pg_terminate_backend, shutdown).
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
            // About one statement's result, not the connection.
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::Encode(_)
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::RowNotFound => false,
            // I/O, protocol, TLS, a closed or timed-out connection.
            _ => true,
        };
        self.broken |= lost;
        db_error(e)
    }

    /// Which server a MySQL-dialect connection reaches.
    pub fn server(&self) -> crate::dialect::Server {
        match (&self.conn, self.mariadb) {
            (Connection::Mysql(_), true) => crate::dialect::Server::Mariadb,
            (Connection::Mysql(_), false) => crate::dialect::Server::Mysql,
            _ => crate::dialect::Server::Unknown,
        }
    }

    /// The connected database's dialect.
    pub fn dialect(&self) -> Dialect {
        match self.conn {
            Connection::Sqlite(_) => Dialect::Sqlite,
            Connection::Postgres(_) => Dialect::Postgres,
            Connection::Mysql(_) => Dialect::Mysql,
        }
    }

    pub(super) async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let affected = self.execute_only(sql, params).await?;
        if let Connection::Mysql(c) = &mut self.conn
            && super::notices::collecting()
        {
            mysql_warnings(c).await;
        }
        Ok(affected)
    }

    /// Journals a revision's statement that succeeded, on the revision's
    /// own connection (so it commits, or rolls back, with what it counts);
    /// `wrapped`: the host began a transaction around the statement, which
    /// the write then commits.
    pub(super) async fn journal_after(
        &mut self,
        query: bool,
        sql: &str,
        params: &[Value],
        wrapped: bool,
    ) -> Result<(), DbError> {
        let Some(journal) = self.journal.as_mut() else {
            return Ok(());
        };
        match journal.after(query, sql, params) {
            Some(write) => self.journal_write(write, wrapped).await,
            None if wrapped => self.host_raw("COMMIT").await,
            None => Ok(()),
        }
    }

    /// Before a statement that commits the host's transaction by itself
    /// (MySQL DDL): writes the count of what the transaction holds, so that
    /// it commits with it.
    pub(super) async fn journal_flush(&mut self) -> Result<(), DbError> {
        match self.journal.as_deref_mut().and_then(super::Journal::flush) {
            Some(write) => self.journal_write(write, false).await,
            None => Ok(()),
        }
    }

    /// After a statement that committed the host's transaction: opens it
    /// again, so that the revision's next statements (and its version row)
    /// commit together, as they would have.
    pub(super) async fn journal_reopen(&mut self) -> Result<(), DbError> {
        if !self.journal.as_deref().is_some_and(super::Journal::reopens) {
            return Ok(());
        }
        self.host_raw("BEGIN").await?;
        if let Some(journal) = self.journal.as_mut() {
            journal.reopened();
        }
        Ok(())
    }

    async fn journal_write(
        &mut self,
        (update, values): (String, Vec<Value>),
        wrapped: bool,
    ) -> Result<(), DbError> {
        // SQLite's authorizer keeps revisions off the host's tables: this
        // write is the host's.
        self.revision_running(false);
        let mut written = self.execute_only(&update, &values).await;
        if wrapped && written.is_ok() {
            written = self.execute_only("COMMIT", &[]).await;
        }
        self.revision_running(true);
        match written {
            Ok(_) => Ok(()),
            Err(e) => {
                if wrapped {
                    let _ = self.execute_only("ROLLBACK", &[]).await;
                }
                Err(self
                    .journal
                    .as_mut()
                    .map_or(e.clone(), |j| j.write_failed(&e)))
            }
        }
    }

    /// A statement of the host's own, outside the tap and the journal.
    pub(super) async fn host_raw(&mut self, sql: &str) -> Result<(), DbError> {
        self.execute_only(sql, &[]).await.map(drop)
    }

    async fn execute_only(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        if params.is_empty() {
            // The simple protocol: may carry several statements, prepares nothing.
            let raw = sqlx::raw_sql(AssertSqlSafe(sql.to_string()));
            let result = match &mut self.conn {
                Connection::Sqlite(c) => raw.execute(c).await.map(|r| r.rows_affected()),
                Connection::Postgres(c) => raw.execute(c).await.map(|r| r.rows_affected()),
                Connection::Mysql(c) => raw.execute(c).await.map(|r| r.rows_affected()),
            };
            return result.map_err(|e| self.fail(e));
        }
        let (sql, ordered) = self
            .dialect()
            .translate(sql, params)
            .map_err(|e| DbError::host(e.to_string()))?;
        let result = match &mut self.conn {
            Connection::Sqlite(c) => bind_all!(Sqlite, &sql, &ordered, None::<String>)
                .execute(c)
                .await
                .map(|r| r.rows_affected()),
            Connection::Postgres(c) => bind_all!(Postgres, &sql, &ordered, UntypedNull)
                .execute(c)
                .await
                .map(|r| r.rows_affected()),
            Connection::Mysql(c) => bind_all!(MySql, &sql, &ordered, None::<String>)
                .execute(c)
                .await
                .map(|r| r.rows_affected()),
        };
        result.map_err(|e| self.fail(e))
    }

    /// Runs a query, keeping at most `max` bytes of rows (as
    /// [`Value::size`] counts them): rows are read one at a time, and the
    /// query stops as soon as they would pass it.
    pub(super) async fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        max: usize,
    ) -> Result<Rows, QueryError> {
        let (sql, ordered) = self
            .dialect()
            .translate(sql, params)
            .map_err(|e| QueryError::Db(DbError::host(e.to_string())))?;
        let result = match &mut self.conn {
            Connection::Sqlite(c) => {
                let stream = bind_all!(Sqlite, &sql, &ordered, None::<String>).fetch(c);
                collect(stream, sqlite_row, max).await
            }
            Connection::Postgres(c) => {
                let stream = bind_all!(Postgres, &sql, &ordered, UntypedNull).fetch(c);
                collect(stream, postgres_row, max).await
            }
            Connection::Mysql(c) => {
                let stream = bind_all!(MySql, &sql, &ordered, None::<String>).fetch(c);
                collect(stream, mysql_row, max).await
            }
        };
        match result {
            Ok(rows) => rows,
            Err(e) => Err(QueryError::Db(self.fail(e))),
        }
    }

    /// Begins the host's transaction for a revision. On PostgreSQL, in the
    /// same round trip, notes the transaction's id (so that it can be
    /// recognised afterwards) and reads `probe` (more select-list items,
    /// each starting with `, `), whose values are returned.
    pub(super) async fn begin(
        &mut self,
        probe: &str,
        settings: Option<&str>,
    ) -> Result<Vec<Value>, DbError> {
        let result = match &mut self.conn {
            Connection::Postgres(c) => {
                let settings = settings.map_or(String::new(), |s| format!("{s}; "));
                let sql = format!("BEGIN; {settings}SELECT pg_current_xact_id()::text{probe}");
                match sqlx::raw_sql(AssertSqlSafe(sql)).fetch_all(&mut *c).await {
                    Ok(rows) => {
                        let row = rows
                            .first()
                            .ok_or_else(|| DbError::host("BEGIN returned no transaction id"))?;
                        let mut values = (0..row.len())
                            .map(|i| postgres_row(row, i))
                            .collect::<Result<Vec<_>, _>>()?;
                        if let Value::Text(xid) = values.remove(0) {
                            self.tx_mark = Some(xid);
                        }
                        return Ok(values);
                    }
                    Err(e) => Err(e),
                }
            }
            Connection::Sqlite(c) => sqlx::raw_sql("BEGIN").execute(c).await.map(drop),
            Connection::Mysql(c) => sqlx::raw_sql("START TRANSACTION")
                .execute(c)
                .await
                .map(drop),
        };
        result.map_err(|e| self.fail(e))?;
        if let Some(settings) = settings {
            self.execute_only(settings, &[]).await?;
        }
        Ok(Vec::new())
    }

    /// PostgreSQL: the id of the transaction the host opened last.
    pub(super) fn transaction_mark(&self) -> Option<&str> {
        self.tx_mark.as_deref()
    }

    /// Whether the transaction the host opened is still open and still the
    /// same (`in_transaction`), or no transaction is open (`!in_transaction`).
    /// `Err` says what the revision did to it.
    pub(super) async fn check_transaction(&mut self, in_transaction: bool) -> Result<(), TxFault> {
        let state = match &mut self.conn {
            Connection::Sqlite(_) => match self.sqlite {
                Some((_, raw)) => TxState::Open(!raw.autocommit()),
                None => return Ok(()),
            },
            Connection::Postgres(c) => {
                // The simple protocol: an implicit transaction starts with
                // the statement, so now() (the transaction's start) differs
                // from statement_timestamp() only inside a transaction block.
                let (xid, open) = sqlx::raw_sql(
                    "SELECT pg_current_xact_id_if_assigned()::text, now() <> statement_timestamp()",
                )
                .fetch_one(&mut *c)
                .await
                .and_then(|row| {
                    Ok((
                        row.try_get::<Option<String>, _>(0)?,
                        row.try_get::<bool, _>(1)?,
                    ))
                })
                .map_err(unreadable)?;
                TxState::Postgres { xid, open }
            }
            Connection::Mysql(c) => {
                let open: i64 = sqlx::query("SELECT CAST(@@in_transaction AS SIGNED)")
                    .fetch_one(&mut *c)
                    .await
                    .and_then(|row| row.try_get(0))
                    .map_err(unreadable)?;
                TxState::Open(open != 0)
            }
        };
        let ended = "its transaction was ended by the revision (a COMMIT or ROLLBACK got past the checks): what it did before that is already committed or undone";
        let opened = "it left a transaction open (a BEGIN got past the checks), which would have swallowed the version row";
        let changed = |reason: String| TxFault {
            reason,
            changed: true,
        };
        match state {
            TxState::Open(open) if open == in_transaction => Ok(()),
            TxState::Open(_) if in_transaction => Err(changed(ended.into())),
            TxState::Open(_) => Err(changed(opened.into())),
            TxState::Postgres { xid, open } => {
                if !in_transaction {
                    return if open {
                        Err(changed(opened.into()))
                    } else {
                        Ok(())
                    };
                }
                if xid.is_some() && xid == self.tx_mark {
                    Ok(())
                } else {
                    Err(changed(format!(
                        "{ended} (the host opened transaction {}, the session is now in {})",
                        self.tx_mark.as_deref().unwrap_or("?"),
                        xid.as_deref().unwrap_or("none")
                    )))
                }
            }
        }
    }

    /// Why SQLite's authorizer last refused a statement of the running
    /// revision, if it did.
    pub(super) fn authorizer_refusal(&self) -> Option<String> {
        self.sqlite.and_then(|(a, _)| a.refused())
    }

    /// Closes the connection cleanly (and the lock's, releasing the lock).
    pub async fn close(self) -> Result<(), DbError> {
        if let Some(control) = self.control {
            let _ = close_connection(control).await;
        }
        close_connection(self.conn).await.map_err(db_error)
    }
}

/// A NULL parameter with no declared type (OID 0), so PostgreSQL infers its
/// type from the statement as it does for a literal NULL. A typed NULL
/// (`Option::<String>::None`) would be refused for a non-text column.
struct UntypedNull;

impl sqlx::Type<Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(0))
    }
}

impl sqlx::Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(
        &self,
        _buf: &mut PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

fn db_error(e: sqlx::Error) -> DbError {
    match e {
        sqlx::Error::Database(db) => DbError {
            lock_wait: lock_not_granted(db.as_ref()),
            code: db.code().map(|c| c.into_owned()),
            message: db.message().to_string(),
        },
        other => DbError::host(other.to_string()),
    }
}

/// Whether the database refused a statement because a lock it waited for
/// was not granted in time: PostgreSQL `lock_not_available` (55P03, what
/// `lock_timeout` raises), MySQL/MariaDB `ER_LOCK_WAIT_TIMEOUT` (1205, row
/// and metadata locks) and `ER_LOCK_NOWAIT` (3572), SQLite `SQLITE_BUSY`
/// (with its extended codes).
fn lock_not_granted(db: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(mysql) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return matches!(mysql.number(), 1205 | 3572);
    }
    match db.code() {
        Some(code) if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => {
            code.parse::<u32>().is_ok_and(|c| c & 0xff == 5)
        }
        Some(code) => code == "55P03",
        None => false,
    }
}

/// Why a transaction check did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxFault {
    /// What is wrong, or why it could not be read.
    pub reason: String,
    /// True when the transaction was seen to be changed; false when its
    /// state could not be read at all.
    pub changed: bool,
}

fn unreadable(e: sqlx::Error) -> TxFault {
    TxFault {
        reason: format!("cannot read the transaction's state: {e}"),
        changed: false,
    }
}

/// What a transaction check read.
enum TxState {
    /// Whether a transaction is open.
    Open(bool),
    /// PostgreSQL: the current transaction's id, and whether one is open.
    Postgres { xid: Option<String>, open: bool },
}

pub(super) async fn close_connection(conn: Connection) -> Result<(), sqlx::Error> {
    match conn {
        Connection::Sqlite(c) => c.close().await,
        Connection::Postgres(c) => c.close().await,
        Connection::Mysql(c) => c.close().await,
    }
}

/// Reads rows one at a time, decoding each, until they would pass `max`
/// bytes. The outer error is the driver's (it may mean the connection is
/// lost); the inner one is about the rows.
async fn collect<R: Row>(
    mut stream: futures_util::stream::BoxStream<'_, Result<R, sqlx::Error>>,
    decode: fn(&R, usize) -> Result<Value, DbError>,
    max: usize,
) -> Result<Result<Rows, QueryError>, sqlx::Error> {
    let mut rows = Rows::default();
    let mut held = 0usize;
    while let Some(row) = stream.try_next().await? {
        if rows.columns.is_empty() {
            rows.columns = row.columns().iter().map(|c| c.name().to_string()).collect();
        }
        let mut values = Vec::with_capacity(row.len());
        held = held.saturating_add(ROW_OVERHEAD);
        for i in 0..row.len() {
            match decode(&row, i) {
                Ok(value) => {
                    held = held.saturating_add(value.size());
                    values.push(value);
                }
                Err(e) => return Ok(Err(QueryError::Db(e))),
            }
        }
        if held > max {
            return Ok(Err(QueryError::TooLarge));
        }
        rows.values.push(values);
    }
    Ok(Ok(rows))
}

fn decode<'r, DB: sqlx::Database, T: Decode<'r, DB>>(raw: DB::ValueRef<'r>) -> Result<T, DbError> {
    T::decode(raw).map_err(|e| DbError::host(format!("cannot read a column: {e}")))
}

fn unsupported(column: &str, type_name: &str) -> DbError {
    DbError::host(format!(
        "column `{column}` has type {type_name}, which a revision cannot receive; \
         cast it in SQL to an integer, float or text"
    ))
}

fn sqlite_row(row: &SqliteRow, i: usize) -> Result<Value, DbError> {
    let raw = row.try_get_raw(i).map_err(db_error)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let type_name = raw.type_info().name().to_string();
    Ok(match type_name.as_str() {
        "INTEGER" | "BOOLEAN" => Value::Integer(decode::<Sqlite, i64>(raw)?),
        "REAL" => Value::Float(decode::<Sqlite, f64>(raw)?),
        "BLOB" => Value::Blob(decode::<Sqlite, Vec<u8>>(raw)?),
        _ => Value::Text(decode::<Sqlite, String>(raw)?),
    })
}

fn postgres_row(row: &PgRow, i: usize) -> Result<Value, DbError> {
    let raw = row.try_get_raw(i).map_err(db_error)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let type_name = raw.type_info().name().to_string();
    Ok(match type_name.as_str() {
        "BOOL" => Value::Boolean(decode::<Postgres, bool>(raw)?),
        "INT2" => Value::Integer(decode::<Postgres, i16>(raw)?.into()),
        "INT4" => Value::Integer(decode::<Postgres, i32>(raw)?.into()),
        "INT8" => Value::Integer(decode::<Postgres, i64>(raw)?),
        "FLOAT4" => Value::Float(decode::<Postgres, f32>(raw)?.into()),
        "FLOAT8" => Value::Float(decode::<Postgres, f64>(raw)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "UNKNOWN" => {
            Value::Text(decode::<Postgres, String>(raw)?)
        }
        "BYTEA" => Value::Blob(decode::<Postgres, Vec<u8>>(raw)?),
        other => return Err(unsupported(row.columns()[i].name(), other)),
    })
}

/// What MySQL said about the statement just run (`SHOW WARNINGS`: level,
/// code, message), handed to the notices of the running revision. The
/// server keeps them only until the next statement, so this runs at once;
/// failing to read them loses nothing but the warnings.
async fn mysql_warnings(c: &mut MySqlConnection) {
    let Ok(rows) = sqlx::raw_sql("SHOW WARNINGS").fetch_all(&mut *c).await else {
        return;
    };
    for row in rows {
        let level: String = row.try_get(0).unwrap_or_default();
        let code: u32 = row.try_get(1).unwrap_or_default();
        let message: String = row.try_get(2).unwrap_or_default();
        let level_of = match level.as_str() {
            "Note" => tracing::Level::INFO,
            _ => tracing::Level::WARN,
        };
        super::notices::push(level_of, format!("{level} {code}: {message}"));
    }
}

fn mysql_row(row: &MySqlRow, i: usize) -> Result<Value, DbError> {
    let raw = row.try_get_raw(i).map_err(db_error)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let type_name = raw.type_info().name().to_string();
    Ok(match type_name.as_str() {
        "BOOLEAN" => Value::Boolean(decode::<MySql, bool>(raw)?),
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "TINYINT UNSIGNED"
        | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED" | "YEAR" => {
            Value::Integer(decode::<MySql, i64>(raw)?)
        }
        "BIGINT UNSIGNED" => {
            let n = decode::<MySql, u64>(raw)?;
            Value::Integer(
                i64::try_from(n).map_err(|_| {
                    DbError::host(format!("{n} does not fit a signed 64-bit integer"))
                })?,
            )
        }
        "FLOAT" => Value::Float(decode::<MySql, f32>(raw)?.into()),
        "DOUBLE" => Value::Float(decode::<MySql, f64>(raw)?),
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
            Value::Blob(decode::<MySql, Vec<u8>>(raw)?)
        }
        "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET"
        | "JSON" => Value::Text(decode::<MySql, String>(raw)?),
        other => return Err(unsupported(row.columns()[i].name(), other)),
    })
}

/// The database file a `sqlite:` URL names (`None` for another database,
/// an in-memory one, or a URL that does not parse).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if Dialect::from_url(url) != Some(Dialect::Sqlite) || url.contains("memory") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

/// The URL with its password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite:demo.db"), "sqlite:demo.db");
    }
}
