//! Stopping a statement the host gave up on: a revision's statement that
//! overran its wall-clock budget must not go on running on the server,
//! holding its locks and its transaction, after Retort has moved on or
//! exited. The session is ended from a second connection, and the host
//! waits until the server confirms it is gone (its transaction rolled back).

use std::time::{Duration, Instant};

use sqlx::Row;

use super::online::{Connection, OnlineSink, close_connection, open};

/// How long the host waits for the server to confirm the session ended.
const CONFIRM_WITHIN: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// Ends session `backend` of `sink`'s database; returns what was done.
pub(super) async fn stop_session(sink: &OnlineSink, backend: i64) -> Result<String, String> {
    let (mut conn, _) = open(&sink.url, sink.schema.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let result = stop(&mut conn, backend).await;
    let _ = close_connection(conn).await;
    result
}

async fn stop(conn: &mut Connection, backend: i64) -> Result<String, String> {
    let text = |e: sqlx::Error| e.to_string();
    let (stop_sql, alive_sql, what) = match conn {
        Connection::Postgres(_) => (
            "SELECT pg_terminate_backend($1::int)",
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int",
            "PostgreSQL backend",
        ),
        Connection::Mysql(_) => (
            "KILL CONNECTION ?",
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?",
            "MySQL/MariaDB connection",
        ),
        Connection::Sqlite(_) => return Ok(String::new()),
    };
    match conn {
        Connection::Postgres(c) => {
            sqlx::query(stop_sql)
                .bind(backend)
                .execute(&mut *c)
                .await
                .map_err(text)?;
        }
        Connection::Mysql(c) => {
            // KILL takes no placeholders; the id is an integer.
            let kill = format!("{} {backend}", stop_sql.trim_end_matches(" ?"));
            sqlx::raw_sql(sqlx::AssertSqlSafe(kill))
                .execute(&mut *c)
                .await
                .map_err(text)?;
        }
        Connection::Sqlite(_) => {}
    }
    let started = Instant::now();
    loop {
        let alive: i64 = match conn {
            Connection::Postgres(c) => sqlx::query(alive_sql)
                .bind(backend)
                .fetch_one(&mut *c)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(text)?,
            Connection::Mysql(c) => sqlx::query(alive_sql)
                .bind(backend)
                .fetch_one(&mut *c)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(text)?,
            Connection::Sqlite(_) => 0,
        };
        if alive == 0 {
            return Ok(format!(
                "the statement was stopped on the server: {what} {backend} was ended and its transaction rolled back"
            ));
        }
        if started.elapsed() > CONFIRM_WITHIN {
            return Err(format!(
                "{what} {backend} was told to end but is still there after {}s",
                CONFIRM_WITHIN.as_secs()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}
