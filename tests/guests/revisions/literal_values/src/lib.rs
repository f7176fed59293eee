//! Binds every kind of value, hostile text included, so online and offline
//! runs can be compared value by value.
use retort_sdk::{Db, Dialect, Result, Revision, Value, export_revision, params};

struct LiteralValues;

/// Text that breaks naive quoting in at least one dialect.
pub const HOSTILE: &[&str] = &[
    "plain",
    "O'Brien",
    "''; DROP TABLE users; --",
    r"back\slash \' \\ \n",
    "dollar $1 $$ $tag$",
    "Zoë 👋 日本語 \u{202e}",
    "line\nbreak\ttab\r",
    "",
];

impl Revision for LiteralValues {
    const ID: &'static str = "f00000000007";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "values of every kind";

    fn upgrade(db: &Db) -> Result<()> {
        let blob = match db.dialect() {
            Dialect::Postgres => "BYTEA",
            Dialect::Mysql | Dialect::Sqlite => "BLOB",
        };
        db.execute(
            &format!(
                "CREATE TABLE literal_values (id INTEGER NOT NULL PRIMARY KEY, t TEXT, i BIGINT, f DOUBLE PRECISION, b BOOLEAN, x {blob})"
            ),
            &[],
        )?;
        for (n, text) in HOSTILE.iter().enumerate() {
            let n = n as i64;
            db.execute(
                "INSERT INTO literal_values (id, t, i, f, b, x) VALUES ($1, $2, $3, $4, $5, $6)",
                params![
                    n,
                    *text,
                    i64::MIN + n,
                    0.1 * n as f64 - 1e-300,
                    n % 2 == 0,
                    vec![n as u8, 0, 0xff, b'\'']
                ],
            )?;
        }
        db.execute(
            "INSERT INTO literal_values (id, t, i, f, b, x) VALUES ($1, $2, $2, $2, $2, $2)",
            &[Value::Integer(100), Value::Null],
        )?;
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("DROP TABLE literal_values", &[])?;
        Ok(())
    }
}

export_revision!(LiteralValues);
