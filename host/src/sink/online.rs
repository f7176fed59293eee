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

use crate::dialect::Dialect;
use crate::value::{DbError, Rows, Value};

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
    url: String,
    schema: Option<String>,
    /// The digest of the revisions' statements.
    pub(super) tap: super::Tap,
    /// A dry run's rehearsal: revisions may not begin or end transactions.
    pub(super) rehearsal: bool,
}

impl OnlineSink {
    /// Opens one connection to `url` (`sqlite:`, `postgres://`, `mysql://` or
    /// `mariadb://`). A SQLite file is created if it does not exist. With a
    /// `schema` (PostgreSQL only), the schema is created if missing and becomes
    /// the `search_path`, so the version table and unqualified names live there.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<OnlineSink, ConnectError> {
        let fail = |reason: String| ConnectError {
            url: redact(url),
            reason,
        };
        let dialect = Dialect::from_url(url).ok_or_else(|| {
            fail(
                "unknown URL scheme; use sqlite:PATH, postgres://… or mysql://… (mariadb://…)"
                    .into(),
            )
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
                if let Some(schema) = schema {
                    let quoted = Dialect::Postgres.quote_ident(schema);
                    let sql = format!(
                        "CREATE SCHEMA IF NOT EXISTS {quoted}; SET search_path TO {quoted}"
                    );
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
        Ok(OnlineSink {
            conn,
            broken: false,
            sqlite_file,
            lock_file: None,
            url: url.to_string(),
            schema: schema.map(str::to_string),
            tap: super::Tap::default(),
            rehearsal: false,
        })
    }

    /// Replaces a lost connection with a new one to the same database. A held
    /// SQLite lock file stays held; server-side locks were lost with the session.
    pub async fn reconnect(&mut self) -> Result<(), ConnectError> {
        let fresh = OnlineSink::connect(&self.url, self.schema.as_deref()).await?;
        self.conn = fresh.conn;
        self.broken = false;
        Ok(())
    }

    /// Marks the connection unusable (a statement was abandoned mid-flight).
    pub fn abandon(&mut self) {
        self.broken = true;
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

    /// The connected database's dialect.
    pub fn dialect(&self) -> Dialect {
        match self.conn {
            Connection::Sqlite(_) => Dialect::Sqlite,
            Connection::Postgres(_) => Dialect::Postgres,
            Connection::Mysql(_) => Dialect::Mysql,
        }
    }

    pub(super) async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
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

    pub(super) async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let (sql, ordered) = self
            .dialect()
            .translate(sql, params)
            .map_err(|e| DbError::host(e.to_string()))?;
        let result = match &mut self.conn {
            Connection::Sqlite(c) => bind_all!(Sqlite, &sql, &ordered, None::<String>)
                .fetch_all(c)
                .await
                .map(|rows| collect(&rows, sqlite_row)),
            Connection::Postgres(c) => bind_all!(Postgres, &sql, &ordered, UntypedNull)
                .fetch_all(c)
                .await
                .map(|rows| collect(&rows, postgres_row)),
            Connection::Mysql(c) => bind_all!(MySql, &sql, &ordered, None::<String>)
                .fetch_all(c)
                .await
                .map(|rows| collect(&rows, mysql_row)),
        };
        result.map_err(|e| self.fail(e))?
    }

    /// Closes the connection cleanly (releasing any lock it holds).
    pub async fn close(self) -> Result<(), DbError> {
        match self.conn {
            Connection::Sqlite(c) => c.close().await,
            Connection::Postgres(c) => c.close().await,
            Connection::Mysql(c) => c.close().await,
        }
        .map_err(db_error)
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
            code: db.code().map(|c| c.into_owned()),
            message: db.message().to_string(),
        },
        other => DbError::host(other.to_string()),
    }
}

fn collect<R: Row>(
    rows: &[R],
    decode: fn(&R, usize) -> Result<Value, DbError>,
) -> Result<Rows, DbError> {
    let columns = rows.first().map_or_else(Vec::new, |r| {
        r.columns().iter().map(|c| c.name().to_string()).collect()
    });
    let values = rows
        .iter()
        .map(|row| (0..row.len()).map(|i| decode(row, i)).collect())
        .collect::<Result<_, _>>()?;
    Ok(Rows { columns, values })
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
