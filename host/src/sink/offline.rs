//! The offline sink: renders each call as SQL text with its parameters
//! inlined as literals, in the order the calls were made.

use crate::dialect::Dialect;
use crate::value::{DbError, Rows, Value};

/// Records statements into a SQL script instead of sending them.
#[derive(Debug)]
pub struct Recorder {
    dialect: Dialect,
    script: String,
    /// Where the host's tables are (`main` on SQLite, the run's schema on
    /// PostgreSQL when one is set).
    host_schema: Option<String>,
    /// The digest of the revisions' statements.
    pub(super) tap: super::Tap,
}

impl Recorder {
    /// An empty script for `dialect`, opened with the dialect's preamble.
    pub fn new(dialect: Dialect) -> Self {
        let mut recorder = Recorder {
            dialect,
            script: String::new(),
            host_schema: (dialect == Dialect::Sqlite).then(|| "main".to_string()),
            tap: super::Tap::default(),
        };
        for statement in dialect.script_preamble() {
            recorder.push(statement);
        }
        recorder
    }

    /// The script addresses the host's tables in `schema` (PostgreSQL's
    /// `--schema`).
    pub fn with_host_schema(mut self, schema: Option<&str>) -> Self {
        if let Some(schema) = schema {
            self.host_schema = Some(schema.to_string());
        }
        self
    }

    /// Where the host's tables are, if the script says.
    pub fn host_schema(&self) -> Option<&str> {
        self.host_schema.as_deref()
    }

    /// The dialect the script is written in.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub(super) fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        if params.is_empty() {
            self.push(sql);
        } else {
            let text = self
                .dialect
                .inline_params(sql, params)
                .map_err(|e| DbError::host(e.to_string()))?;
            self.push(&text);
        }
        Ok(0)
    }

    pub(super) fn query(&mut self, sql: &str) -> Result<Rows, DbError> {
        Err(DbError::host(format!(
            "query() is not available offline (--sql): there is no database to read rows from. \
             Check the run mode and write the statement as SQL that needs no rows, or run online. \
             The query was: {}",
            first_line(sql)
        )))
    }

    /// Appends `-- text` (one comment line per line of text) after a blank
    /// line. Every character that could end a line for a client (`\r`,
    /// vertical tab, form feed, Unicode line separators…) or act on a
    /// terminal is escaped, so nothing in `text` can leave its comment.
    pub fn comment(&mut self, text: &str) {
        if !self.script.is_empty() {
            self.script.push('\n');
        }
        for line in text.lines() {
            self.script.push_str("-- ");
            self.script.push_str(&crate::printable::one_line(line));
            self.script.push('\n');
        }
    }

    /// The script recorded so far.
    pub fn script(&self) -> &str {
        &self.script
    }

    /// Ends recording and returns the script.
    pub fn into_script(self) -> String {
        self.script
    }

    fn push(&mut self, sql: &str) {
        let sql = sql.trim_end();
        if let Some(delimiter) = self.delimiter_for(sql) {
            // The mysql client ends a statement at every `;` it sees: a
            // BEGIN … END body (or a script) goes between DELIMITER lines.
            let body = sql.strip_suffix(';').unwrap_or(sql);
            self.script.push_str(&format!(
                "DELIMITER {delimiter}\n{body}\n{delimiter}\nDELIMITER ;\n"
            ));
            return;
        }
        self.script.push_str(sql);
        if !sql.ends_with(';') {
            // A script that ends in a line comment needs the terminator on a line of its own.
            let last_line = sql.rsplit('\n').next().unwrap_or("");
            if last_line.contains("--") {
                self.script.push('\n');
            }
            self.script.push(';');
        }
        self.script.push('\n');
    }
}

impl Recorder {
    /// On MySQL, a delimiter the text does not hold, when the text holds a
    /// `;` of its own outside literals and comments.
    fn delimiter_for(&self, sql: &str) -> Option<&'static str> {
        if self.dialect != Dialect::Mysql {
            return None;
        }
        let body = sql.strip_suffix(';').unwrap_or(sql);
        let pieces = crate::dialect::scan::statements(body, self.dialect);
        if pieces.len() < 2 {
            return None;
        }
        ["$$", "//", "@@", "$$$$", "////"]
            .into_iter()
            .find(|d| !sql.contains(d))
    }
}

fn first_line(sql: &str) -> String {
    let line = sql.trim().lines().next().unwrap_or("");
    if line.len() < sql.trim().len() {
        format!("{line} …")
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_statements_with_literals_and_terminators() {
        let mut r = Recorder::new(Dialect::Sqlite);
        r.execute("CREATE TABLE t (a TEXT)", &[]).unwrap();
        r.execute("INSERT INTO t VALUES ($1)", &[Value::Text("it's".into())])
            .unwrap();
        r.execute("SELECT 1; SELECT 2;", &[]).unwrap();
        r.execute("SELECT 3 -- trailing", &[]).unwrap();
        assert_eq!(
            r.script(),
            "CREATE TABLE t (a TEXT);\nINSERT INTO t VALUES ('it''s');\nSELECT 1; SELECT 2;\nSELECT 3 -- trailing\n;\n"
        );
    }

    #[test]
    fn a_mysql_body_goes_between_delimiter_lines() {
        let mut r = Recorder::new(Dialect::Mysql);
        r.execute("CREATE TABLE t (a TEXT)", &[]).unwrap();
        r.execute(
            "CREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = '$$;'; END",
            &[],
        )
        .unwrap();
        assert_eq!(
            r.script(),
            "SET NAMES utf8mb4;\nCREATE TABLE t (a TEXT);\nDELIMITER //\nCREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = '$$;'; END\n//\nDELIMITER ;\n"
        );
    }

    #[test]
    fn comments_cannot_be_left() {
        let mut r = Recorder::new(Dialect::Postgres);
        r.comment("upgrade -> ab12: routine index tweak\rDROP TABLE seed; --\u{2028}x\u{b}y");
        r.comment("two\nlines");
        for line in r.script().lines().skip(1) {
            assert!(line.is_empty() || line.starts_with("-- "), "{line:?}");
        }
        assert!(!r.script().contains('\r'));
        assert!(
            r.script().contains("tweak\\u{d}DROP TABLE seed"),
            "{}",
            r.script()
        );
        assert!(r.script().ends_with("-- two\n-- lines\n"), "{}", r.script());
    }

    #[test]
    fn query_is_an_error_offline() {
        let mut r = Recorder::new(Dialect::Postgres);
        let err = r.query("SELECT id FROM users").unwrap_err();
        assert!(err.message.contains("not available offline"), "{err}");
        assert!(err.message.contains("SELECT id FROM users"), "{err}");
    }

    #[test]
    fn preamble_per_dialect() {
        assert_eq!(
            Recorder::new(Dialect::Mysql).script(),
            "SET NAMES utf8mb4;\n"
        );
        assert_eq!(Recorder::new(Dialect::Sqlite).script(), "");
    }
}
