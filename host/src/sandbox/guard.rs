//! The host's own rules for every statement a revision sends, whatever its
//! trust or policy, online and offline alike: what belongs to the host stays
//! the host's.
//!
//! - **Transaction control.** Retort opens and ends each revision's
//!   transaction; a revision may not begin, end or change one (`BEGIN`,
//!   `COMMIT`, `ROLLBACK`, `END`, `SET TRANSACTION`, `SET autocommit`, `XA`,
//!   `LOCK TABLES`…). Savepoints stay allowed: they live inside the
//!   revision's transaction.
//! - **The host's tables.** A statement (or a text parameter, which dynamic
//!   SQL could run) that names the version table or the failures table, in
//!   any case, quoting or escape, is refused before it is sent.
//! - **Session state the host relies on.** `SET search_path` / `set_config`
//!   of it (PostgreSQL) and `USE` (MySQL) would move where unqualified names
//!   of a later script go.
//! - **What a client would run instead of sending.** Offline scripts are
//!   applied by `psql`, `mariadb` or `sqlite3`, which act on backslash
//!   commands (`\!` runs a shell) and dot-commands (`.shell`) themselves. A
//!   statement carrying one outside a literal is refused, as is one that
//!   leaves a literal, a quoted name or a comment open (what follows it in a
//!   script would be read as part of it).
//!
//! These checks read text; they are not the only wall. After each revision
//! the runner verifies the transaction and the host's tables themselves.

use crate::dialect::Dialect;
use crate::dialect::scan::{self, Kind};
use crate::value::Value;

/// A statement the host refused, and by which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("retort refused {statement}: {reason}")]
pub struct Refusal {
    /// The statement, shortened.
    pub statement: String,
    /// The rule, as a short name (`transaction-control`, `host-table`,
    /// `session-setting`, `client-command`, `left-open`).
    pub rule: &'static str,
    /// What the rule says and what to do instead.
    pub reason: String,
}

/// The names the guard protects (lowercase): the version table and its
/// failures table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    host_tables: Vec<String>,
}

impl Default for Guard {
    fn default() -> Self {
        Guard::new(&[
            crate::runner::version_table::DEFAULT_NAME.to_string(),
            format!("{}_failures", crate::runner::version_table::DEFAULT_NAME),
        ])
    }
}

impl Guard {
    /// A guard for these host table names.
    pub fn new(host_tables: &[String]) -> Guard {
        Guard {
            host_tables: host_tables.iter().map(|t| t.to_lowercase()).collect(),
        }
    }

    /// Checks one call: its SQL (a statement or a script) and its parameters.
    pub fn check(&self, sql: &str, params: &[Value], dialect: Dialect) -> Result<(), Refusal> {
        let refuse = |rule, reason: String| Refusal {
            statement: shorten(sql),
            rule,
            reason,
        };
        if let Some(what) = scan::left_open(sql, dialect) {
            return Err(refuse(
                "left-open",
                format!(
                    "it leaves {what} open at its end, so whatever followed it in a script would be read as part of it; close it"
                ),
            ));
        }
        if let Some(table) = self.names_host_table(sql, dialect) {
            return Err(refuse("host-table", host_table_reason(table)));
        }
        for param in params {
            if let Value::Text(text) = param
                && let Some(table) = self.names_host_table(text, dialect)
            {
                return Err(refuse("host-table", host_table_reason(table)));
            }
        }
        let mut in_body = false;
        for statement in scan::statements(sql, dialect) {
            let words = code_words(statement, dialect);
            let word = |i: usize| words.get(i).map_or("", String::as_str);
            // The body of a trigger, procedure or SQL-standard function is
            // split at its inner `;` but runs only when called: its `END`
            // closes it, and what is inside is not this call's transaction.
            if in_body {
                in_body = word(0) != "END";
                continue;
            }
            if word(0) == "CREATE"
                && words
                    .iter()
                    .any(|w| matches!(w.as_str(), "TRIGGER" | "PROCEDURE" | "FUNCTION" | "EVENT"))
                && words.iter().any(|w| w == "BEGIN")
            {
                in_body = true;
                continue;
            }
            if let Some(what) = transaction_control(&words, dialect) {
                return Err(refuse(
                    "transaction-control",
                    format!(
                        "a revision may not {what}: Retort begins and ends each revision's transaction itself, and verifies it is still the one it opened. Declare `transactional: false` for a revision that must run outside a transaction; use SAVEPOINT to undo part of a revision"
                    ),
                ));
            }
            if let Some(what) = session_setting(&words, statement, dialect) {
                return Err(refuse(
                    "session-setting",
                    format!(
                        "{what} changes how later statements of the run (the host's among them) are read or where they find their tables; qualify names with their schema or database instead, and leave the connection's settings as Retort opened them"
                    ),
                ));
            }
            if let Some(what) = client_command(statement, dialect) {
                return Err(refuse(
                    "client-command",
                    format!(
                        "it holds {what}, which the {dialect} command-line client would run itself when it applies an offline script; a database never accepts it"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The first host table whose name appears in `text`, case-insensitively,
    /// also once backslash and `U&` escapes are decoded. Literals and
    /// comments count: dynamic SQL runs what a literal says.
    fn names_host_table(&self, text: &str, dialect: Dialect) -> Option<&str> {
        let lower = text.to_lowercase();
        // `\137` is octal in an E'' string and the start of `\137c` in a
        // U&'' one: both readings are searched.
        let decoded: Vec<String> = if lower.contains('\\') && dialect != Dialect::Sqlite {
            vec![decode_escapes(&lower, false), decode_escapes(&lower, true)]
        } else {
            Vec::new()
        };
        self.host_tables
            .iter()
            .find(|name| {
                lower.contains(name.as_str()) || decoded.iter().any(|d| d.contains(name.as_str()))
            })
            .map(String::as_str)
    }
}

fn host_table_reason(table: &str) -> String {
    format!(
        "it names {table}, which belongs to Retort (it records what is applied): a revision may not read, write, shadow or alter it"
    )
}

/// The uppercase words of a statement's code (not of its literals, quoted
/// names or comments).
fn code_words(statement: &str, dialect: Dialect) -> Vec<String> {
    scan::tokens(statement, dialect)
        .filter(|t| t.kind == Kind::Code)
        .flat_map(|t| {
            t.text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .map(str::to_ascii_uppercase)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What a statement does to the transaction, if it does: begins, ends or
/// changes it.
fn transaction_control(words: &[String], dialect: Dialect) -> Option<&'static str> {
    let word = |i: usize| words.get(i).map_or("", String::as_str);
    let (first, second) = (word(0), word(1));
    match first {
        "BEGIN" | "START" if first == "BEGIN" || second == "TRANSACTION" => {
            Some("begin a transaction")
        }
        "COMMIT" | "END" if first == "COMMIT" || dialect != Dialect::Mysql => {
            Some("commit the transaction")
        }
        "ROLLBACK" | "ABORT"
            if second != "TO" && !(first == "ABORT" && dialect == Dialect::Mysql) =>
        {
            Some("roll the transaction back")
        }
        "PREPARE" if second == "TRANSACTION" => {
            Some("prepare the transaction for two-phase commit")
        }
        "XA" => Some("run an XA transaction"),
        "SET" => {
            let setting = words[1..]
                .iter()
                .map(String::as_str)
                .find(|w| !matches!(*w, "SESSION" | "LOCAL" | "GLOBAL" | "PERSIST"))
                .unwrap_or("");
            match setting {
                "TRANSACTION" | "CHARACTERISTICS" => {
                    Some("change the transaction's characteristics")
                }
                "AUTOCOMMIT" => Some("change autocommit"),
                "COMPLETION_TYPE" => Some("change how transactions complete"),
                _ => None,
            }
        }
        "LOCK" | "UNLOCK" if dialect == Dialect::Mysql && matches!(second, "TABLES" | "TABLE") => {
            Some("lock tables (which commits the transaction on MySQL)")
        }
        _ => None,
    }
}

/// A statement that moves where unqualified names resolve for the session,
/// or changes how the server reads SQL text (which every text check of the
/// host relies on reading as the server does).
fn session_setting(words: &[String], statement: &str, dialect: Dialect) -> Option<&'static str> {
    let word = |i: usize| words.get(i).map_or("", String::as_str);
    let setting = || {
        words[1..]
            .iter()
            .map(String::as_str)
            .find(|w| !matches!(*w, "SESSION" | "LOCAL"))
            .unwrap_or("")
    };
    let lower = statement.to_ascii_lowercase();
    match dialect {
        Dialect::Postgres => {
            let set_config = words.iter().any(|w| w == "SET_CONFIG");
            if (word(0) == "SET" && matches!(setting(), "SEARCH_PATH" | "SCHEMA"))
                || (set_config && lower.contains("search_path"))
            {
                return Some("setting search_path");
            }
            let reads_text = ["standard_conforming_strings", "backslash_quote"];
            ((matches!(word(0), "SET" | "RESET")
                && matches!(setting(), "STANDARD_CONFORMING_STRINGS" | "BACKSLASH_QUOTE" | "ALL"))
                || (set_config && reads_text.iter().any(|s| lower.contains(s))))
            .then_some("setting how the server reads string literals (standard_conforming_strings, backslash_quote)")
        }
        Dialect::Mysql => {
            if word(0) == "USE" {
                return Some("USE");
            }
            if word(0) == "SET" && words.iter().any(|w| w == "SQL_MODE") {
                return Some(
                    "setting sql_mode (which decides how the server reads quotes and backslashes)",
                );
            }
            // Multi-byte character sets whose second byte can be a backslash
            // or a quote: the server would read a literal's end elsewhere.
            const UNSAFE: &[&str] = &[
                "BIG5", "GBK", "SJIS", "CP932", "GB2312", "GB18030", "EUCJPMS",
            ];
            let sets_charset = word(0) == "SET"
                && words.iter().any(|w| {
                    matches!(
                        w.as_str(),
                        "NAMES" | "CHARACTER" | "CHARSET" | "CHARACTER_SET_CLIENT"
                    )
                });
            (sets_charset && words.iter().any(|w| UNSAFE.contains(&w.as_str()))).then_some(
                "setting a client character set whose bytes can hide a quote or a backslash",
            )
        }
        Dialect::Sqlite => None,
    }
}

/// A client-side command in the statement's code: a backslash (psql and
/// mysql meta-commands), a dot-command at the start of a line (sqlite3), or
/// a mysql client command word at the start of a line.
fn client_command(statement: &str, dialect: Dialect) -> Option<&'static str> {
    const MYSQL_COMMANDS: &[&str] = &[
        "SYSTEM",
        "SOURCE",
        "DELIMITER",
        "PAGER",
        "NOPAGER",
        "TEE",
        "NOTEE",
        "CONNECT",
        "CHARSET",
        "EGO",
        "GO",
        "PRINT",
        "PROMPT",
        "QUIT",
        "EXIT",
        "REHASH",
        "STATUS",
        "WARNINGS",
        "NOWARNING",
        "EDIT",
        "CLEAR",
        "RESETCONNECTION",
    ];
    let mut line_start = true;
    for token in scan::tokens(statement, dialect) {
        if token.kind != Kind::Code {
            line_start = token.text.ends_with('\n');
            continue;
        }
        if dialect != Dialect::Sqlite && token.text.contains('\\') {
            return Some("a backslash command");
        }
        for (i, line) in token.text.split('\n').enumerate() {
            if i == 0 && !line_start {
                continue;
            }
            let trimmed = line.trim_start();
            match dialect {
                Dialect::Sqlite if trimmed.starts_with('.') => return Some("a dot-command"),
                Dialect::Mysql => {
                    let first = trimmed
                        .split(|c: char| !c.is_ascii_alphabetic())
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    if MYSQL_COMMANDS.contains(&first.as_str()) {
                        return Some("a mysql client command");
                    }
                }
                _ => {}
            }
        }
        line_start = token.text.ends_with('\n');
    }
    None
}

/// `text` with backslash escapes (`\x72`, `\162`, `\u0072`, `\U00000072`)
/// and `U&` escapes (`\0072`, `\+000072`) decoded, as far as they decode;
/// where both could apply, octal first if `octal_first`.
pub(crate) fn decode_escapes(text: &str, octal_first: bool) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '\\' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let hex = |from: usize, n: usize| -> Option<char> {
            let digits: String = chars.get(from..from + n)?.iter().collect();
            char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
        };
        let (decoded, used) = match chars.get(i + 1) {
            Some('x') => (hex(i + 2, 2), 4),
            Some('u') => (hex(i + 2, 4), 6),
            Some('U') => (hex(i + 2, 8), 10),
            Some('+') => (hex(i + 2, 6), 8),
            Some(c) if !octal_first && c.is_ascii_hexdigit() && hex(i + 1, 4).is_some() => {
                (hex(i + 1, 4), 5)
            }
            Some(c) if c.is_digit(8) => {
                let digits: String = chars[i + 1..].iter().take(3).collect();
                let n = digits.chars().take_while(|c| c.is_digit(8)).count();
                (
                    u32::from_str_radix(&digits[..n], 8)
                        .ok()
                        .and_then(char::from_u32),
                    1 + n,
                )
            }
            _ => (None, 1),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                i += used;
            }
            None => {
                out.push('\\');
                i += 1;
            }
        }
    }
    out
}

/// A statement as messages show it: one line, escaped, at most 120 characters, in backticks.
pub(crate) fn shorten(sql: &str) -> String {
    let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let one_line = crate::printable::one_line(&one_line);
    match one_line.char_indices().nth(120) {
        Some((cut, _)) => format!("`{}…`", &one_line[..cut]),
        None => format!("`{one_line}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql];

    fn rule(sql: &str, dialect: Dialect) -> Option<&'static str> {
        Guard::default()
            .check(sql, &[], dialect)
            .err()
            .map(|r| r.rule)
    }

    #[test]
    fn transaction_control_is_refused_everywhere() {
        for (dialect, sql) in [
            (Dialect::Postgres, "COMMIT"),
            (Dialect::Sqlite, "  commit;"),
            (Dialect::Postgres, "CREATE TABLE t (a INT); COMMIT; BEGIN"),
            (Dialect::Postgres, "-- done\nEND"),
            (Dialect::Postgres, "/* x */ ROLLBACK"),
            (Dialect::Sqlite, "rollback"),
            (Dialect::Postgres, "START TRANSACTION"),
            (Dialect::Mysql, "START TRANSACTION"),
            (Dialect::Mysql, "BEGIN WORK"),
            (Dialect::Mysql, "SET autocommit = 0"),
            (Dialect::Mysql, "SET SESSION autocommit = 1"),
            (Dialect::Mysql, "XA START 'x'"),
            (Dialect::Mysql, "LOCK TABLES t WRITE"),
            (
                Dialect::Postgres,
                "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            ),
            (
                Dialect::Postgres,
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            ),
            (Dialect::Postgres, "PREPARE TRANSACTION 'x'"),
            (Dialect::Postgres, "ABORT"),
            (Dialect::Sqlite, "BEGIN IMMEDIATE"),
            (
                Dialect::Sqlite,
                "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END; COMMIT",
            ),
        ] {
            assert_eq!(rule(sql, dialect), Some("transaction-control"), "{sql}");
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
                Dialect::Postgres,
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END",
            ),
            (
                Dialect::Sqlite,
                "CREATE TEMP TRIGGER IF NOT EXISTS t AFTER INSERT ON a BEGIN UPDATE b SET c = 1; END;",
            ),
            (Dialect::Mysql, "CREATE PROCEDURE p() BEGIN SELECT 1; END"),
            (Dialect::Mysql, "SET @x = 1"),
        ] {
            assert_eq!(rule(sql, dialect), None, "{sql}");
        }
    }

    #[test]
    fn host_tables_are_refused_however_written() {
        for dialect in ALL {
            for sql in [
                "DELETE FROM retort_version",
                "delete from \"RETORT_VERSION\"",
                "DROP TABLE main.retort_version",
                "CREATE TEMP TABLE retort_version (x INT)",
                "INSERT INTO public.retort_version_failures VALUES (1)",
                "SELECT 1 /* retort_version */",
            ] {
                assert_eq!(rule(sql, dialect), Some("host-table"), "{dialect}: {sql}");
            }
        }
        for sql in [
            "DO $$ BEGIN EXECUTE 'DELETE FROM ' || 'retort_version'; END $$",
            "SELECT * FROM U&\"retort\\005fversion\"",
            "DO $$ BEGIN EXECUTE E'DELETE FROM retort\\x5fversion'; END $$",
            "DO $$ BEGIN EXECUTE E'DELETE FROM retort\\137version'; END $$",
        ] {
            assert_eq!(rule(sql, Dialect::Postgres), Some("host-table"), "{sql}");
        }
        let guard = Guard::new(&["deploys".into(), "deploys_failures".into()]);
        assert!(
            guard
                .check("DELETE FROM retort_version", &[], Dialect::Sqlite)
                .is_ok()
        );
        let err = guard
            .check(
                "SELECT run_dynamic($1)",
                &[Value::Text("DELETE FROM Deploys".into())],
                Dialect::Postgres,
            )
            .unwrap_err();
        assert_eq!(err.rule, "host-table");
        assert!(
            err.reason
                .contains("it names deploys, which belongs to Retort")
        );
    }

    #[test]
    fn session_settings_and_client_commands_are_refused() {
        for (dialect, sql, expected) in [
            (
                Dialect::Postgres,
                "SET search_path TO evil",
                "session-setting",
            ),
            (
                Dialect::Postgres,
                "set local search_path = evil",
                "session-setting",
            ),
            (
                Dialect::Postgres,
                "SELECT set_config('search_path', 'evil', false)",
                "session-setting",
            ),
            (Dialect::Mysql, "USE other_db", "session-setting"),
            (
                Dialect::Postgres,
                "SET standard_conforming_strings = off",
                "session-setting",
            ),
            (
                Dialect::Postgres,
                "SELECT set_config('standard_conforming_strings', 'off', false)",
                "session-setting",
            ),
            (
                Dialect::Postgres,
                "SET backslash_quote = on",
                "session-setting",
            ),
            (
                Dialect::Mysql,
                "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'",
                "session-setting",
            ),
            (
                Dialect::Mysql,
                "SET @@sql_mode = 'ANSI_QUOTES'",
                "session-setting",
            ),
            (
                Dialect::Mysql,
                "/*!40101 SET sql_mode = 'ANSI_QUOTES' */",
                "session-setting",
            ),
            (Dialect::Mysql, "SET NAMES gbk", "session-setting"),
            (Dialect::Mysql, "/*!50001 COMMIT */", "transaction-control"),
            (
                Dialect::Postgres,
                "SELECT 1;\n\\! touch /tmp/x",
                "client-command",
            ),
            (
                Dialect::Mysql,
                "SELECT 1 \\! touch /tmp/x",
                "client-command",
            ),
            (
                Dialect::Mysql,
                "SELECT 1;\nsystem touch /tmp/x",
                "client-command",
            ),
            (
                Dialect::Sqlite,
                "SELECT 1;\n.shell touch /tmp/x",
                "client-command",
            ),
            (Dialect::Sqlite, ".system touch /tmp/x", "client-command"),
            (Dialect::Postgres, "SELECT 'abc", "left-open"),
            (Dialect::Postgres, "SELECT 1 /* open", "left-open"),
            (Dialect::Postgres, "SELECT $x$ body", "left-open"),
            (Dialect::Mysql, "SELECT `open", "left-open"),
        ] {
            assert_eq!(rule(sql, dialect), Some(expected), "{dialect}: {sql}");
        }
        for (dialect, sql) in [
            (Dialect::Postgres, "SELECT E'a\\nb', 'c:\\d'"),
            (Dialect::Mysql, "INSERT INTO t VALUES ('a\\'b')"),
            (Dialect::Sqlite, "SELECT 'line\n.shell in a literal'"),
            (Dialect::Sqlite, "SELECT 1 -- ends in a comment"),
            (Dialect::Postgres, "SET statement_timeout = 0"),
            (Dialect::Mysql, "INSERT INTO t (status) VALUES ('go')"),
        ] {
            assert_eq!(rule(sql, dialect), None, "{dialect}: {sql}");
        }
    }

    #[test]
    fn escapes_decode() {
        assert_eq!(
            decode_escapes("a\\x5fb\\137c\\u005fd\\+00005fe", true),
            "a_b_c_d_e"
        );
        assert_eq!(decode_escapes("a\\005fb\\137c", false), "a_b\u{137c}");
        assert_eq!(decode_escapes("tail\\", false), "tail\\");
        assert_eq!(decode_escapes("\\zz", true), "\\zz");
    }
}
