//! The migration lock: one run at a time per database and version table.
//!
//! PostgreSQL: a session advisory lock keyed by a hash of the schema and the
//! version table. MySQL/MariaDB: `GET_LOCK` on a name hashed from the database
//! and the version table. Both are held on a host-only connection of their
//! own, on which no revision statement ever runs: `pg_advisory_unlock_all()`
//! or `RELEASE_ALL_LOCKS()` in a revision releases nothing of the host's, and
//! the lock's session is idle, so the server notices at once when a killed
//! run's socket closes. SQLite: an exclusive OS lock on a file beside the
//! database (`<file>.retort-lock`), released by the OS if the process dies.

use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Row};

use super::online::{Connection, OnlineSink, close_connection, open};

/// The lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another run held it for longer than the timeout.
    #[error(
        "waited {}s for the migration lock, held by {}: another retort run is migrating this database; retry when it is done, raise --lock-timeout, or pass --no-lock for a database that cannot lock",
        .waited.as_secs_f64().round(),
        .holder.as_deref().unwrap_or("another session")
    )]
    Timeout {
        /// How long this run waited.
        waited: Duration,
        /// Who holds it, as far as the database says.
        holder: Option<String>,
    },
    /// Taking the lock failed for another reason.
    #[error("cannot take the migration lock: {0}")]
    Failed(String),
    /// The lock cannot be taken here at all (its file cannot be opened):
    /// no other run holds it, so waiting or retrying will not help.
    #[error("cannot take the migration lock: {0}")]
    Unusable(String),
}

const POLL: Duration = Duration::from_millis(100);

/// The key: the schema that holds the version table (resolved when the run
/// connected, as `current_schema()` was then) and the table's name.
const PG_KEY: &str = "hashtextextended($2 || '.' || $1, 0)";

const MYSQL_NAME: &str = "CONCAT('retort:', LEFT(SHA2(CONCAT(DATABASE(), '.', ?), 256), 40))";

impl OnlineSink {
    /// Takes the migration lock for version table `table`, waiting up to `timeout`.
    pub async fn lock(&mut self, table: &str, timeout: Duration) -> Result<(), LockError> {
        let failed = |e: sqlx::Error| LockError::Failed(e.to_string());
        let started = Instant::now();
        if !matches!(self.conn, Connection::Sqlite(_)) && self.control.is_none() {
            let (control, _) = open(&self.url, self.schema.as_deref()).await.map_err(|e| {
                LockError::Failed(format!("cannot open the lock's connection: {e}"))
            })?;
            self.control = Some(control);
        }
        let schema = self.host_schema().unwrap_or("public").to_string();
        let conn = self.control.as_mut().unwrap_or(&mut self.conn);
        let taken = match conn {
            Connection::Postgres(c) => loop {
                let sql = format!("SELECT pg_try_advisory_lock({PG_KEY})");
                let row = sqlx::query(AssertSqlSafe(sql))
                    .bind(table)
                    .bind(&schema)
                    .fetch_one(&mut *c)
                    .await
                    .map_err(failed)?;
                if row.try_get::<bool, _>(0).map_err(failed)? {
                    return Ok(());
                }
                if started.elapsed() >= timeout {
                    let holder = postgres_holder(c, table, &schema).await;
                    return Err(LockError::Timeout {
                        waited: started.elapsed(),
                        holder,
                    });
                }
                tokio::time::sleep(POLL).await;
            },
            Connection::Mysql(c) => {
                let sql = format!("SELECT GET_LOCK({MYSQL_NAME}, ?)");
                let row = sqlx::query(AssertSqlSafe(sql))
                    .bind(table)
                    .bind(timeout.as_secs_f64().ceil() as i64)
                    .fetch_one(&mut *c)
                    .await
                    .map_err(failed)?;
                match row.try_get::<Option<i64>, _>(0).map_err(failed)? {
                    Some(1) => {
                        reap_mysql(c, table).await;
                        Ok(())
                    }
                    Some(_) => Err(LockError::Timeout {
                        waited: started.elapsed(),
                        holder: mysql_holder(c, table).await,
                    }),
                    None => Err(LockError::Failed("GET_LOCK returned NULL".into())),
                }
            }
            Connection::Sqlite(_) => {
                let Some(db) = self.sqlite_file.clone() else {
                    return Ok(()); // an in-memory database has no other users
                };
                let file = lock_file(&db, timeout).await?;
                self.lock_file = Some(file);
                Ok(())
            }
        };
        if taken.is_ok()
            && let Connection::Mysql(main) = &mut self.conn
        {
            mark_mysql(main, table).await;
            self.locked_table = Some(table.to_string());
        }
        taken
    }

    /// Releases the migration lock (closing the connection releases it too)
    /// and closes the lock's connection. Releasing twice does nothing.
    pub async fn unlock(&mut self, table: &str) {
        if let Connection::Sqlite(_) = self.conn {
            self.lock_file = None;
            return;
        }
        let Some(mut control) = self.control.take() else {
            return;
        };
        let broken = self.is_broken();
        if let Connection::Mysql(main) = &mut self.conn
            && !broken
        {
            let sql = format!("DO RELEASE_LOCK({MYSQL_RUN_NAME})");
            let _ = sqlx::query(AssertSqlSafe(sql))
                .bind(table)
                .execute(&mut *main)
                .await;
        }
        let schema = self.host_schema().unwrap_or("public").to_string();
        let result = match &mut control {
            Connection::Postgres(c) => {
                let sql = format!("SELECT pg_advisory_unlock({PG_KEY})");
                sqlx::query(AssertSqlSafe(sql))
                    .bind(table)
                    .bind(&schema)
                    .execute(&mut *c)
                    .await
                    .map(drop)
            }
            Connection::Mysql(c) => {
                let sql = format!("SELECT RELEASE_LOCK({MYSQL_NAME})");
                sqlx::query(AssertSqlSafe(sql))
                    .bind(table)
                    .execute(&mut *c)
                    .await
                    .map(drop)
            }
            Connection::Sqlite(_) => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!("releasing the migration lock: {e}");
        }
        if let Err(e) = close_connection(control).await {
            tracing::debug!("closing the lock's connection: {e}");
        }
    }
}

/// The lock a run's own connection holds while the run holds the migration
/// lock (MySQL): a connection that holds it while nobody holds the
/// migration lock belongs to a run that died.
const MYSQL_RUN_NAME: &str =
    "CONCAT('retort-run:', LEFT(SHA2(CONCAT(DATABASE(), '.', ?), 256), 40))";

/// Takes the run lock on the run's own connection (after the migration
/// lock): the next run can then tell, if this one dies, which session it left.
pub(super) async fn mark_mysql(main: &mut sqlx::MySqlConnection, table: &str) {
    let sql = format!("DO GET_LOCK({MYSQL_RUN_NAME}, 0)");
    if let Err(e) = sqlx::query(AssertSqlSafe(sql))
        .bind(table)
        .execute(main)
        .await
    {
        tracing::debug!("taking the run's session lock: {e}");
    }
}

/// With the migration lock just taken: a session that still holds the run
/// lock belongs to a run that died (its lock connection is gone) and may be
/// running a long statement still, holding its locks, as MySQL does not
/// notice a client that went away until the statement ends. It is killed,
/// and waited for a few seconds.
async fn reap_mysql(control: &mut sqlx::MySqlConnection, table: &str) {
    let Some(session) = run_lock_holder(control, table).await else {
        return;
    };
    tracing::warn!(
        "connection {session} of a retort run that died is still on the server: stopping it"
    );
    if let Err(e) = sqlx::raw_sql(AssertSqlSafe(format!("KILL {session}")))
        .execute(&mut *control)
        .await
    {
        tracing::warn!("cannot stop connection {session}, left by a run that died: {e}");
        return;
    }
    let started = Instant::now();
    while run_lock_holder(control, table).await == Some(session) && started.elapsed() < REAP_WAIT {
        tokio::time::sleep(POLL).await;
    }
}

/// The session holding the run lock, if one does.
async fn run_lock_holder(control: &mut sqlx::MySqlConnection, table: &str) -> Option<i64> {
    let sql = format!("SELECT CAST(IS_USED_LOCK({MYSQL_RUN_NAME}) AS SIGNED)");
    sqlx::query(AssertSqlSafe(sql))
        .bind(table)
        .fetch_one(control)
        .await
        .ok()
        .and_then(|row| row.try_get::<Option<i64>, _>(0).ok().flatten())
}

/// How long a killed session of a dead run is waited for.
const REAP_WAIT: Duration = Duration::from_secs(10);

async fn postgres_holder(c: &mut sqlx::PgConnection, table: &str, schema: &str) -> Option<String> {
    let sql = format!(
        "SELECT a.pid::bigint, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket'), \
                to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS') \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
           AND ((l.classid::bigint << 32) | l.objid::bigint) = {PG_KEY}"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(table)
        .bind(schema)
        .fetch_optional(c)
        .await
        .ok()??;
    let pid: i64 = row.try_get(0).ok()?;
    let app: String = row.try_get(1).ok()?;
    let from: String = row.try_get(2).ok()?;
    let since: String = row.try_get(3).ok()?;
    Some(format!(
        "PostgreSQL backend pid {pid} ({app}) from {from}, connected since {since}"
    ))
}

async fn mysql_holder(c: &mut sqlx::MySqlConnection, table: &str) -> Option<String> {
    let sql = format!(
        "SELECT CAST(p.ID AS SIGNED), p.USER, p.HOST, CAST(p.TIME AS SIGNED) \
         FROM information_schema.PROCESSLIST p WHERE p.ID = IS_USED_LOCK({MYSQL_NAME})"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(table)
        .fetch_optional(c)
        .await
        .ok()??;
    let id: i64 = row.try_get(0).ok()?;
    let user: String = row.try_get(1).ok()?;
    let host: String = row.try_get(2).ok()?;
    let time: i64 = row.try_get(3).ok()?;
    Some(format!(
        "MariaDB/MySQL connection {id} ({user}@{host}), in its current state for {time}s"
    ))
}

/// The lock file of the database file `db`: `<db>.retort-lock` beside the
/// file itself, whatever name it was reached by (a symlink, `./x/../app.db`),
/// so that two runs on one file always take one lock.
fn lock_path(db: &Path) -> std::path::PathBuf {
    let canonical = std::fs::canonicalize(db).ok().or_else(|| {
        let parent = db
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Some(std::fs::canonicalize(parent).ok()?.join(db.file_name()?))
    });
    let mut name = canonical
        .unwrap_or_else(|| db.to_path_buf())
        .into_os_string();
    name.push(".retort-lock");
    std::path::PathBuf::from(name)
}

/// Takes an exclusive lock on `<db>.retort-lock`, polling until `timeout`,
/// and writes who holds it into the file for those who wait.
async fn lock_file(db: &Path, timeout: Duration) -> Result<std::fs::File, LockError> {
    let path = lock_path(db);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| {
            LockError::Unusable(format!(
                "cannot open the lock file {}: {e}; make it a file this user can write, or pass --no-lock",
                path.display()
            ))
        })?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(LockError::Failed(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )));
            }
        }
        if started.elapsed() >= timeout {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(LockError::Timeout {
                waited: started.elapsed(),
                holder: Some(if holder.is_empty() {
                    format!("the process locking {}", path.display())
                } else {
                    format!("{holder} (lock file {})", path.display())
                }),
            });
        }
        tokio::time::sleep(POLL).await;
    }
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let note = format!("retort pid {} since unix time {since}", std::process::id());
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(note.as_bytes()));
    if let Err(e) = written {
        tracing::debug!("writing the lock holder note: {e}");
    }
    Ok(file)
}
