//! PostgreSQL and MariaDB test databases: each test creates its own database
//! with a unique name and drops it afterwards, through the servers' own
//! command-line clients (which also apply offline scripts and read schemas).
//!
//! When a server is unreachable the test is skipped with a loud message,
//! unless `RETORT_REQUIRE_SERVERS` is set (CI sets it): then it fails.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A database server the tests can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// PostgreSQL at 127.0.0.1:5432, user postgres, trust auth.
    Postgres,
    /// MariaDB at 127.0.0.1:3306, user root, no password.
    Mariadb,
}

impl Server {
    /// The SQL dialect Retort speaks to this server.
    pub fn dialect(self) -> retort::Dialect {
        match self {
            Server::Postgres => retort::Dialect::Postgres,
            Server::Mariadb => retort::Dialect::Mysql,
        }
    }

    fn client(self, database: Option<&str>) -> Command {
        match self {
            Server::Postgres => {
                let mut c = Command::new("psql");
                c.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
                    .args(["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"])
                    .args(["-d", database.unwrap_or("postgres")])
                    .env("PGCONNECT_TIMEOUT", "5");
                c
            }
            Server::Mariadb => {
                let mut c = Command::new("mariadb");
                c.args(["-h", "127.0.0.1", "-P", "3306", "-u", "root", "-N", "-B"])
                    .args(["--connect-timeout=5", "--default-character-set=utf8mb4"]);
                if let Some(db) = database {
                    c.args(["-D", db]);
                }
                c
            }
        }
    }

    /// Runs `sql` with the server's client; stdout, or stderr as the error.
    pub fn run(self, database: Option<&str>, sql: &str) -> Result<String, String> {
        let mut child = self
            .client(database)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the {self:?} client: {e}"))?;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(sql.as_bytes())
            .map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

/// A fresh database on one server, dropped when the value is.
pub struct TestDb {
    /// Which server.
    pub server: Server,
    /// The database's name.
    pub name: String,
    /// Its URL for retort.
    pub url: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestDb {
    /// `project`'s offline script for `range` (`heads`, `heads:base`, …) in
    /// this server's dialect.
    pub async fn script_of(
        &self,
        project: &retort::Project,
        direction: retort::Direction,
        range: &str,
    ) -> String {
        project
            .script(
                direction,
                &range.parse().expect("a valid range"),
                self.server.dialect(),
                &mut crate::common::quiet(),
            )
            .await
            .expect("the offline script renders")
    }

    /// Creates a database, or returns `None` (after saying so loudly) when
    /// the server is down and servers are not required.
    pub fn create(server: Server) -> Option<TestDb> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "retort_t{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(e) = server.run(None, &format!("CREATE DATABASE {name};")) {
            if std::env::var_os("RETORT_REQUIRE_SERVERS").is_some() {
                panic!("{server:?} is required (RETORT_REQUIRE_SERVERS is set) but unusable: {e}");
            }
            eprintln!(
                "\n!!!!!!!! SKIPPED: {server:?} is not reachable on 127.0.0.1 ({}). \
                 Start it, or set RETORT_REQUIRE_SERVERS=1 to make this a failure. !!!!!!!!\n",
                e.trim()
            );
            return None;
        }
        let url = match server {
            Server::Postgres => format!("postgres://postgres@127.0.0.1:5432/{name}"),
            Server::Mariadb => format!("mysql://root@127.0.0.1:3306/{name}"),
        };
        Some(TestDb { server, name, url })
    }

    /// Runs `sql` in this database; panics with the client's message on error.
    pub fn sql(&self, sql: &str) -> String {
        self.server
            .run(Some(&self.name), sql)
            .unwrap_or_else(|e| panic!("{:?} refused {sql:?}: {e}", self.server))
    }

    /// Applies an offline script with the server's client (stopping at the first error).
    pub fn apply(&self, script: &str) {
        if let Err(e) = self.server.run(Some(&self.name), script) {
            panic!("{:?} rejected the script: {e}\n{script}", self.server);
        }
    }

    /// Tables, columns, indexes and constraints of the current schema, as text.
    pub fn schema(&self) -> String {
        self.schema_in(None)
    }

    /// [`TestDb::schema`] of a named PostgreSQL schema.
    pub fn schema_in(&self, schema: Option<&str>) -> String {
        let set = schema.map_or(String::new(), |s| format!("SET search_path TO {s};\n"));
        let sql = match self.server {
            Server::Postgres => format!(
                "{set}SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '') \
                   FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY 1, 2;\n\
                 SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1;\n\
                 SELECT conrelid::regclass, conname, contype, pg_get_constraintdef(oid) FROM pg_constraint \
                   WHERE connamespace = current_schema()::regnamespace ORDER BY 1, 2;"
            ),
            Server::Mariadb => "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COALESCE(COLUMN_DEFAULT, '') \
                   FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2;\n\
                 SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE FROM information_schema.STATISTICS \
                   WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2, 3;\n\
                 SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS \
                   WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2;"
                .to_string(),
        };
        self.sql(&sql)
    }

    /// The version table's ids, sorted.
    pub fn version_ids(&self) -> Vec<String> {
        self.sql("SELECT revision_id FROM retort_version ORDER BY revision_id;")
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = match self.server {
            Server::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE);", self.name),
            Server::Mariadb => format!("DROP DATABASE IF EXISTS {};", self.name),
        };
        if let Err(e) = self.server.run(None, &sql) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// [`TestDb::schema`] text without the migration tools' own tables
/// (Retort's, sqlx's), to compare with a database the same SQL was
/// applied to directly.
pub fn without_host_tables(schema: &str) -> String {
    schema
        .lines()
        .filter(|line| !line.contains("retort_") && !line.contains("_sqlx_migrations"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Declares one `#[tokio::test]` per server running `$body(db)` against a
/// fresh database on it.
macro_rules! on_each_server {
    ($($name:ident => $body:path;)*) => {$(
        mod $name {
            use super::*;
            #[tokio::test]
            async fn postgres() {
                if let Some(db) = crate::servers::TestDb::create(crate::servers::Server::Postgres) {
                    $body(db).await;
                }
            }
            #[tokio::test]
            async fn mariadb() {
                if let Some(db) = crate::servers::TestDb::create(crate::servers::Server::Mariadb) {
                    $body(db).await;
                }
            }
        }
    )*};
}
pub(crate) use on_each_server;
