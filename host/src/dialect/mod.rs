//! Everything that differs between SQLite, PostgreSQL and MySQL/MariaDB:
//! literals, identifier quoting, placeholder translation and the SQL the host
//! itself writes. Nothing outside this module branches on the database.

mod mysql;
mod postgres;
pub mod scan;
pub mod split;
mod sqlite;
mod timeouts;

use std::fmt;

use crate::value::Value;
use scan::Piece;
pub use scan::PlaceholderError;
pub use timeouts::{Server, Timeouts};

/// The database family a run targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
}

/// A value that has no literal form in a dialect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot render {value} as a {dialect} literal: {reason}")]
pub struct LiteralError {
    /// The value, shortened for the message.
    pub value: String,
    /// The dialect asked for.
    pub dialect: Dialect,
    /// Why not.
    pub reason: &'static str,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Dialect {
    /// The dialect a database URL's scheme names, if any.
    pub fn from_url(url: &str) -> Option<Dialect> {
        let scheme = url.split(':').next()?.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(Dialect::Sqlite),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::Mysql),
            _ => None,
        }
    }

    /// Parses a dialect name as used in flags (`sqlite`, `postgres`, `mysql`).
    pub fn from_name(name: &str) -> Option<Dialect> {
        match name.to_ascii_lowercase().as_str() {
            "sqlite" => Some(Dialect::Sqlite),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::Mysql),
            _ => None,
        }
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }

    /// Whether DDL can be rolled back inside a transaction.
    pub fn transactional_ddl(self) -> bool {
        match self {
            Dialect::Sqlite | Dialect::Postgres => true,
            Dialect::Mysql => false,
        }
    }

    /// Renders one value as a SQL literal.
    pub fn literal(self, value: &Value) -> Result<String, LiteralError> {
        let err = |reason| LiteralError {
            value: shorten(&value.to_string()),
            dialect: self,
            reason,
        };
        match value {
            Value::Null => Ok("NULL".to_string()),
            Value::Integer(i) => Ok(i.to_string()),
            Value::Float(x) if !x.is_finite() => Err(err(
                "SQL has no literal for NaN or infinity; store NULL or a sentinel instead",
            )),
            // `{:?}` is the shortest form that reads back to the same f64 and
            // always has a `.` or an exponent, so it stays a float literal.
            Value::Float(x) => Ok(format!("{x:?}")),
            Value::Boolean(b) => Ok(match self {
                Dialect::Sqlite => sqlite::boolean(*b),
                Dialect::Postgres => postgres::boolean(*b),
                Dialect::Mysql => mysql::boolean(*b),
            }
            .to_string()),
            Value::Text(s) => match self {
                Dialect::Sqlite => {
                    sqlite::text(s).ok_or_else(|| err("SQLite text cannot hold NUL"))
                }
                Dialect::Postgres => {
                    postgres::text(s).ok_or_else(|| err("PostgreSQL text cannot hold NUL"))
                }
                Dialect::Mysql => Ok(mysql::text(s)),
            },
            Value::Blob(b) => Ok(match self {
                Dialect::Sqlite | Dialect::Mysql => format!("X'{}'", hex::encode_upper(b)),
                Dialect::Postgres => postgres::blob(b),
            }),
        }
    }

    /// Quotes an identifier (table or column name).
    pub fn quote_ident(self, name: &str) -> String {
        match self {
            Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
            Dialect::Sqlite | Dialect::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// Rewrites `$N` placeholders into what the driver expects and returns the
    /// parameters in the order the driver binds them.
    ///
    /// PostgreSQL and MySQL get one parameter per occurrence (a reused `$N` is
    /// bound again): PostgreSQL infers an untyped NULL's type per position,
    /// and one parameter used for columns of different types would be refused
    /// there, while the offline literal `NULL` is accepted everywhere.
    pub fn translate<'v>(
        self,
        sql: &str,
        params: &'v [Value],
    ) -> Result<(String, Vec<&'v Value>), PlaceholderError> {
        let pieces = scan::split(sql, self);
        scan::check(&pieces, params.len())?;
        let mut out = String::with_capacity(sql.len() + 8);
        let mut order = Vec::with_capacity(params.len());
        for piece in pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Param(n) => match self {
                    Dialect::Postgres => {
                        order.push(&params[n - 1]);
                        out.push('$');
                        out.push_str(&order.len().to_string());
                    }
                    Dialect::Sqlite => {
                        out.push('?');
                        out.push_str(&n.to_string());
                    }
                    Dialect::Mysql => {
                        out.push('?');
                        order.push(&params[n - 1]);
                    }
                },
            }
        }
        if self == Dialect::Sqlite {
            order.extend(params.iter());
        }
        Ok((out, order))
    }

    /// Replaces each `$N` with the literal of its parameter, for the offline script.
    pub fn inline_params(self, sql: &str, params: &[Value]) -> Result<String, InlineError> {
        let pieces = scan::split(sql, self);
        scan::check(&pieces, params.len())?;
        let mut out = String::with_capacity(sql.len() + 16 * params.len());
        for piece in pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Param(n) => out.push_str(&self.literal(&params[n - 1])?),
            }
        }
        Ok(out)
    }

    /// Statements that start an offline script (client encoding and the like).
    pub fn script_preamble(self) -> &'static [&'static str] {
        match self {
            Dialect::Sqlite => &[],
            Dialect::Postgres => postgres::PREAMBLE,
            Dialect::Mysql => mysql::PREAMBLE,
        }
    }

    /// The statements that make PostgreSQL schema `schema` the session's
    /// (`search_path`), creating it first when `create`.
    pub fn schema_statements(self, schema: &str, create: bool) -> Vec<String> {
        let quoted = self.quote_ident(schema);
        let mut out = Vec::with_capacity(2);
        if create {
            out.push(format!("CREATE SCHEMA IF NOT EXISTS {quoted}"));
        }
        out.push(format!("SET search_path TO {quoted}"));
        out
    }

    /// [`Dialect::schema_statements`] as one script, for one round trip.
    pub fn enter_schema(self, schema: &str, create: bool) -> String {
        self.schema_statements(schema, create).join("; ")
    }

    /// The statement that opens a transaction.
    pub fn begin(self) -> &'static str {
        match self {
            Dialect::Sqlite | Dialect::Postgres => "BEGIN",
            Dialect::Mysql => "START TRANSACTION",
        }
    }

    /// A query (and its parameters) that returns a row when base table
    /// `name` exists in `schema` (SQLite: in `main`); without a schema, in
    /// the connection's current one.
    pub fn table_exists_query(self, schema: Option<&str>, name: &str) -> (String, Vec<Value>) {
        let name = Value::Text(name.to_string());
        let current = match self {
            Dialect::Sqlite => {
                return (
                    "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = $1".into(),
                    vec![name],
                );
            }
            Dialect::Postgres => "current_schema()",
            Dialect::Mysql => "DATABASE()",
        };
        let base = "SELECT 1 FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_name = $1 AND table_schema = ";
        match schema {
            Some(schema) => (format!("{base}$2"), vec![name, Value::Text(schema.into())]),
            None => (format!("{base}{current}"), vec![name]),
        }
    }

    /// Whether `sql` (a statement or a script) may commit on its own, so that a
    /// rollback can no longer undo it: DDL on MySQL/MariaDB. Errs on the side
    /// of yes (a keyword inside a literal counts too).
    pub fn commits_implicitly(self, sql: &str) -> bool {
        const DDL: &[&str] = &[
            "ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE", "GRANT", "REVOKE", "LOCK",
        ];
        self == Dialect::Mysql
            && sql.split(';').any(|statement| {
                let first = strip_leading_comments(statement)
                    .split(|c: char| !c.is_ascii_alphabetic())
                    .next()
                    .unwrap_or("");
                DDL.iter().any(|k| k.eq_ignore_ascii_case(first))
            })
    }

    /// The first statement of `sql` (a statement or a script) that begins or
    /// ends a transaction (`BEGIN`, `START TRANSACTION`, `COMMIT`, `END`,
    /// `ROLLBACK` but not `ROLLBACK TO`, `ABORT`, `PREPARE TRANSACTION`).
    /// A dry run's rehearsal refuses these: they would end the transaction
    /// it must roll back. Literals, comments and dollar-quoted bodies are
    /// skipped, as is the body of a SQLite `CREATE TRIGGER … BEGIN … END`.
    pub fn transaction_control(self, sql: &str) -> Option<&str> {
        let words = |statement: &str| -> (String, String, String) {
            let mut words = strip_leading_comments(statement)
                .split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| !w.is_empty())
                .map(|w| w.to_ascii_uppercase());
            let mut next = || words.next().unwrap_or_default();
            (next(), next(), next())
        };
        let mut in_trigger = false;
        scan::statements(sql, self).into_iter().find(|statement| {
            let (first, second, third) = words(statement);
            if first == "CREATE" && (second == "TRIGGER" || third == "TRIGGER") {
                in_trigger = true;
                return false;
            }
            if in_trigger {
                in_trigger = first != "END";
                return false;
            }
            match first.as_str() {
                "BEGIN" | "COMMIT" | "END" | "ABORT" => true,
                "START" | "PREPARE" => second == "TRANSACTION",
                "ROLLBACK" => second != "TO",
                _ => false,
            }
        })
    }

    /// An expression that reads a timestamp column as text.
    pub fn timestamp_as_text(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("CAST({column} AS TEXT)"),
            Dialect::Postgres => format!("to_char({column}, 'YYYY-MM-DD HH24:MI:SS')"),
            Dialect::Mysql => format!("CAST({column} AS CHAR)"),
        }
    }
}

/// Why a statement could not be rendered for the offline script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InlineError {
    /// Placeholders and parameters do not fit.
    #[error(transparent)]
    Placeholder(#[from] PlaceholderError),
    /// A parameter has no literal form.
    #[error(transparent)]
    Literal(#[from] LiteralError),
}

fn strip_leading_comments(mut sql: &str) -> &str {
    loop {
        sql = sql.trim_start();
        if let Some(rest) = sql.strip_prefix("--").or_else(|| sql.strip_prefix('#')) {
            sql = rest.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(rest) = sql.strip_prefix("/*") {
            sql = rest.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return sql;
        }
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod transaction_control_tests {
    use super::Dialect;

    #[test]
    fn statements_that_begin_or_end_a_transaction() {
        for (dialect, sql) in [
            (Dialect::Postgres, "COMMIT"),
            (Dialect::Sqlite, "  commit;"),
            (Dialect::Postgres, "CREATE TABLE t (a INT); COMMIT; BEGIN"),
            (Dialect::Postgres, "-- done\nEND"),
            (Dialect::Sqlite, "rollback"),
            (Dialect::Postgres, "START TRANSACTION"),
            (Dialect::Sqlite, "BEGIN IMMEDIATE"),
            (
                Dialect::Sqlite,
                "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END; COMMIT",
            ),
        ] {
            assert!(dialect.transaction_control(sql).is_some(), "{sql}");
        }
        for (dialect, sql) in [
            (Dialect::Postgres, "CREATE TABLE commits (a INT)"),
            (Dialect::Postgres, "ROLLBACK TO SAVEPOINT s1"),
            (Dialect::Sqlite, "SAVEPOINT s1; RELEASE SAVEPOINT s1"),
            (Dialect::Sqlite, "INSERT INTO t VALUES ('a; COMMIT')"),
            (Dialect::Postgres, "-- x; COMMIT\nUPDATE t SET a = 1"),
            (
                Dialect::Postgres,
                "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN NEW.a := 1; RETURN NEW; END; $$ LANGUAGE plpgsql",
            ),
            (
                Dialect::Sqlite,
                "CREATE TEMP TRIGGER IF NOT EXISTS t AFTER INSERT ON a BEGIN UPDATE b SET c = 1; END;",
            ),
        ] {
            assert!(dialect.transaction_control(sql).is_none(), "{sql}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql];

    #[test]
    fn translate_per_driver() {
        let params = [Value::Integer(1), Value::Text("x".into())];
        let sql = "UPDATE t SET a = $2 WHERE id = $1 AND b <> $2";
        let (pg, pg_order) = Dialect::Postgres.translate(sql, &params).unwrap();
        assert_eq!(pg, "UPDATE t SET a = $1 WHERE id = $2 AND b <> $3");
        assert_eq!(pg_order, vec![&params[1], &params[0], &params[1]]);
        let (lite, _) = Dialect::Sqlite.translate(sql, &params).unwrap();
        assert_eq!(lite, "UPDATE t SET a = ?2 WHERE id = ?1 AND b <> ?2");
        let (my, my_order) = Dialect::Mysql.translate(sql, &params).unwrap();
        assert_eq!(my, "UPDATE t SET a = ? WHERE id = ? AND b <> ?");
        assert_eq!(my_order, vec![&params[1], &params[0], &params[1]]);
    }

    #[test]
    fn scalar_literals() {
        for d in ALL {
            assert_eq!(d.literal(&Value::Null).unwrap(), "NULL");
            assert_eq!(
                d.literal(&Value::Integer(i64::MIN)).unwrap(),
                "-9223372036854775808"
            );
            assert_eq!(d.literal(&Value::Float(1.0)).unwrap(), "1.0");
            assert_eq!(d.literal(&Value::Float(-2.5e-300)).unwrap(), "-2.5e-300");
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let e = d.literal(&Value::Float(bad)).unwrap_err();
                assert!(e.to_string().contains("NaN or infinity"), "{e}");
            }
        }
        assert_eq!(Dialect::Sqlite.literal(&Value::Boolean(true)).unwrap(), "1");
        assert_eq!(
            Dialect::Postgres.literal(&Value::Boolean(false)).unwrap(),
            "FALSE"
        );
        assert_eq!(
            Dialect::Mysql.literal(&Value::Boolean(true)).unwrap(),
            "TRUE"
        );
    }

    #[test]
    fn hostile_text_literals() {
        let quote = Value::Text("O'Brien; DROP TABLE users; --".into());
        assert_eq!(
            Dialect::Sqlite.literal(&quote).unwrap(),
            "'O''Brien; DROP TABLE users; --'"
        );
        assert_eq!(
            Dialect::Postgres.literal(&quote).unwrap(),
            "'O''Brien; DROP TABLE users; --'"
        );
        assert_eq!(
            Dialect::Mysql.literal(&quote).unwrap(),
            "'O''Brien; DROP TABLE users; --'"
        );
        let backslash = Value::Text(r"C:\path\' OR 1=1 --".into());
        assert_eq!(
            Dialect::Sqlite.literal(&backslash).unwrap(),
            r"'C:\path\'' OR 1=1 --'"
        );
        assert_eq!(
            Dialect::Postgres.literal(&backslash).unwrap(),
            r"E'C:\\path\\'' OR 1=1 --'"
        );
        // MySQL would read \' as an escaped quote; hex keeps the bytes exact
        // whatever sql_mode says about backslashes.
        assert_eq!(
            Dialect::Mysql.literal(&backslash).unwrap(),
            format!(
                "CONVERT(X'{}' USING utf8mb4)",
                hex::encode_upper(r"C:\path\' OR 1=1 --")
            )
        );
        let unicode = Value::Text("Zoë 👋 \u{202e}".into());
        for d in ALL {
            assert_eq!(d.literal(&unicode).unwrap(), "'Zoë 👋 \u{202e}'");
        }
        let nul = Value::Text("a\0b".into());
        assert!(Dialect::Sqlite.literal(&nul).is_err());
        assert!(Dialect::Postgres.literal(&nul).is_err());
        assert_eq!(
            Dialect::Mysql.literal(&nul).unwrap(),
            "CONVERT(X'610062' USING utf8mb4)"
        );
    }

    #[test]
    fn blob_literals() {
        let blob = Value::Blob(vec![0, 0xff, b'\'']);
        assert_eq!(Dialect::Sqlite.literal(&blob).unwrap(), "X'00FF27'");
        assert_eq!(Dialect::Mysql.literal(&blob).unwrap(), "X'00FF27'");
        assert_eq!(
            Dialect::Postgres.literal(&blob).unwrap(),
            r"E'\\x00ff27'::bytea"
        );
        assert_eq!(
            Dialect::Postgres.literal(&Value::Blob(vec![])).unwrap(),
            r"E'\\x'::bytea"
        );
    }

    #[test]
    fn inline_replaces_only_real_placeholders() {
        let params = [Value::Text("$2".into()), Value::Integer(7)];
        let sql = "INSERT INTO t (a, b, c) VALUES ($1, $2, '$1')";
        assert_eq!(
            Dialect::Sqlite.inline_params(sql, &params).unwrap(),
            "INSERT INTO t (a, b, c) VALUES ('$2', 7, '$1')"
        );
        let err = Dialect::Sqlite
            .inline_params("SELECT $3", &params)
            .unwrap_err();
        assert!(
            err.to_string().contains("placeholder $3 has no parameter"),
            "{err}"
        );
    }

    #[test]
    fn implicit_commits_only_on_mysql() {
        let ddl = "-- add it\n/* now */ create table t (a int)";
        assert!(Dialect::Mysql.commits_implicitly(ddl));
        assert!(Dialect::Mysql.commits_implicitly("INSERT INTO t VALUES (1); DROP TABLE u"));
        assert!(!Dialect::Mysql.commits_implicitly("UPDATE t SET a = 1"));
        assert!(!Dialect::Postgres.commits_implicitly(ddl));
        assert!(!Dialect::Sqlite.commits_implicitly(ddl));
    }

    #[test]
    fn quoting_identifiers() {
        assert_eq!(Dialect::Sqlite.quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(Dialect::Mysql.quote_ident("a`b"), "`a``b`");
    }

    #[test]
    fn dialect_from_url() {
        assert_eq!(Dialect::from_url("sqlite:demo.db"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::from_url("postgresql://x"), Some(Dialect::Postgres));
        assert_eq!(Dialect::from_url("mariadb://x"), Some(Dialect::Mysql));
        assert_eq!(Dialect::from_url("oracle://x"), None);
    }
}
