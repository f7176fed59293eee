//! Write [Retort](https://example.invalid/retort) database revisions in Rust.
//!
//! A revision is a type that implements [`Revision`], exported with
//! [`export_revision!`], in a `cdylib` crate built for `wasm32-wasip2` (or for
//! `wasm32-unknown-unknown` and then componentized).
//!
//! ```no_run
//! use retort_sdk::{Db, Result, Revision, export_revision, params};
//!
//! struct CreateUsers;
//!
//! impl Revision for CreateUsers {
//!     const ID: &'static str = "1a2b3c4d5e6f";
//!     const MESSAGE: &'static str = "create the users table";
//!
//!     fn upgrade(db: &Db) -> Result<()> {
//!         db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)", &[])?;
//!         db.execute("INSERT INTO users (id, email) VALUES ($1, $2)", params![1, "root@example.com"])?;
//!         Ok(())
//!     }
//!
//!     fn downgrade(db: &Db) -> Result<()> {
//!         db.execute("DROP TABLE users", &[])?;
//!         Ok(())
//!     }
//! }
//!
//! export_revision!(CreateUsers);
//! ```
//!
//! Placeholders are `$1`, `$2`, ... on every database; the host translates them.
#![deny(missing_docs)]

mod error;
mod rows;
mod value;

#[doc(hidden)]
pub mod __private;

pub use error::{DbError, Error, Result};
pub use rows::{FromValue, Row, Rows};
pub use value::Value;

use __private::bindings::retort::migration::{database, log as wit_log};

/// The SQL dialect of the database a revision runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// SQLite.
    Sqlite,
}

/// Whether statements go to a live database or into a recorded script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Statements run now, `query` returns real rows.
    Online,
    /// Statements are recorded into a script, `query` fails.
    Offline,
}

/// The database as the host lets a revision see it.
///
/// Handed to [`Revision::upgrade`] and [`Revision::downgrade`]; every call goes
/// through the host, which runs it online or records it offline.
#[derive(Debug)]
pub struct Db {
    _private: (),
}

impl Db {
    #[doc(hidden)]
    pub fn __new() -> Self {
        Db { _private: () }
    }

    /// The dialect of the target database.
    pub fn dialect(&self) -> Dialect {
        match database::dialect() {
            database::SqlDialect::Postgres => Dialect::Postgres,
            database::SqlDialect::Mysql => Dialect::Mysql,
            database::SqlDialect::Sqlite => Dialect::Sqlite,
        }
    }

    /// Whether this run is online or offline.
    pub fn mode(&self) -> Mode {
        match database::mode() {
            database::RunMode::Online => Mode::Online,
            database::RunMode::Offline => Mode::Offline,
        }
    }

    /// Runs one statement with `$1`-style parameters and returns the number of
    /// affected rows (0 offline). With no parameters, `sql` may be a whole
    /// script of `;`-separated statements.
    pub fn execute(&self, sql: &str, params: &[Value]) -> std::result::Result<u64, DbError> {
        let params: Vec<_> = params.iter().map(Value::to_wit).collect();
        database::execute(sql, &params).map_err(DbError::from_wit)
    }

    /// Runs a statement that returns rows. Always an error offline: decide
    /// with [`Db::mode`] what to do instead.
    pub fn query(&self, sql: &str, params: &[Value]) -> std::result::Result<Rows, DbError> {
        let params: Vec<_> = params.iter().map(Value::to_wit).collect();
        database::query(sql, &params)
            .map(Rows::from_wit)
            .map_err(DbError::from_wit)
    }
}

/// A revision: its metadata as associated constants, and its two directions.
pub trait Revision {
    /// The unique id (conventionally 12 lowercase hex digits).
    const ID: &'static str;
    /// The revisions this one follows; empty for a base, several for a merge.
    const DOWN_REVISIONS: &'static [&'static str] = &[];
    /// One line shown by `retort history`.
    const MESSAGE: &'static str = "";
    /// Labels naming the branch that starts here.
    const BRANCH_LABELS: &'static [&'static str] = &[];
    /// Revisions that must be applied first without being parents.
    const DEPENDS_ON: &'static [&'static str] = &[];
    /// False to run outside any transaction (e.g. `CREATE INDEX CONCURRENTLY`).
    const TRANSACTIONAL: bool = true;

    /// Applies the revision. Returning an error rolls it back.
    fn upgrade(db: &Db) -> Result<()>;
    /// Reverts the revision. Returning an error rolls it back.
    fn downgrade(db: &Db) -> Result<()>;
}

/// How important a log message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Fine-grained tracing.
    Trace,
    /// Diagnostic detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something the operator should look at.
    Warn,
    /// Something went wrong.
    Error,
}

/// Sends one message to the person running the migration.
pub fn log(level: Level, message: &str) {
    let level = match level {
        Level::Trace => wit_log::Level::Trace,
        Level::Debug => wit_log::Level::Debug,
        Level::Info => wit_log::Level::Info,
        Level::Warn => wit_log::Level::Warn,
        Level::Error => wit_log::Level::Error,
    };
    wit_log::log(level, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message)
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// Builds a parameter slice from values of mixed types: `params![1, "x", None::<i64>]`.
#[macro_export]
macro_rules! params {
    () => { &[] as &[$crate::Value] };
    ($($value:expr),+ $(,)?) => { &[$($crate::Value::from($value)),+] as &[$crate::Value] };
}

/// Exports a [`Revision`] as the component's `info`/`upgrade`/`downgrade`.
/// Use it once per crate. It also writes the revision's constants into a
/// `retort:info` custom section, so that Retort plans, and shows `history`,
/// without compiling the component (it still checks `info()` before running
/// it).
#[macro_export]
macro_rules! export_revision {
    ($revision:ident) => {
        impl $crate::__private::Guest for $revision {
            fn info() -> $crate::__private::RevisionInfo {
                $crate::__private::info::<$revision>()
            }
            fn upgrade() -> ::core::result::Result<(), ::std::string::String> {
                $crate::__private::upgrade::<$revision>()
            }
            fn downgrade() -> ::core::result::Result<(), ::std::string::String> {
                $crate::__private::downgrade::<$revision>()
            }
        }
        $crate::__private::bindings::__export_revision_world!(
            $revision with_types_in $crate::__private::bindings
        );
        // The metadata as a custom section, read by the host without
        // compiling the component.
        const _: () = {
            const LEN: usize = $crate::__private::info_section_len::<$revision>();
            #[used]
            #[unsafe(link_section = "retort:info")]
            static RETORT_INFO: [u8; LEN] = $crate::__private::info_section::<$revision, LEN>();
        };
    };
}
