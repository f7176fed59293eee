//! The statements inside PostgreSQL function, procedure and `DO` bodies,
//! which the SQL parser sees as one string literal: found lexically, so
//! the policy checks what a body will run with the same rules as what the
//! revision sends itself. (Trigger bodies on SQLite and MySQL are parsed
//! statements already; the policy visits them.)

use crate::dialect::Dialect;
use crate::dialect::scan::{self, Kind};

/// How deep bodies inside bodies are followed.
pub const MAX_DEPTH: usize = 8;

/// A statement found in a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// SQL the body runs as written (PL/pgSQL `INTO` targets removed).
    Sql(String),
    /// SQL the body builds at run time (`EXECUTE` of anything but one
    /// literal): what it is, shortened.
    Dynamic(String),
}

/// Words that open a SQL statement inside a PL/pgSQL block.
const COMMANDS: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "CREATE", "ALTER", "DROP", "TRUNCATE",
    "GRANT", "REVOKE", "COMMENT", "COPY", "CALL", "PERFORM", "EXECUTE", "VALUES", "TABLE", "LOCK",
    "ANALYZE", "VACUUM", "REINDEX", "CLUSTER", "REFRESH", "REASSIGN", "SECURITY", "IMPORT",
];

/// The bodies of `CREATE FUNCTION|PROCEDURE` (dollar-quoted or `AS '…'`)
/// and of `DO` in `sql` (PostgreSQL only; empty elsewhere).
pub fn bodies(sql: &str, dialect: Dialect) -> Vec<String> {
    if dialect != Dialect::Postgres {
        return Vec::new();
    }
    let mut out = Vec::new();
    for statement in scan::statements(sql, dialect) {
        let mut words = Vec::new();
        let mut after_as = false;
        for token in scan::tokens(statement, dialect) {
            match token.kind {
                Kind::Code => {
                    for word in code_words(token.text) {
                        after_as = word.eq_ignore_ascii_case("AS");
                        words.push(word.to_ascii_uppercase());
                    }
                }
                Kind::DollarBody => {
                    if creates_code(&words) {
                        out.push(scan::dollar_body(token.text).to_string());
                    }
                    after_as = false;
                }
                Kind::Literal => {
                    if creates_code(&words) && (after_as || words.len() == 1) {
                        out.push(literal_body(token.text));
                    }
                    after_as = false;
                }
                Kind::Comment => {}
                _ => after_as = false,
            }
        }
    }
    out
}

/// `sql` without its PostgreSQL `DO` statements, which the parser cannot
/// read: their bodies are checked on their own.
pub fn without_do_blocks(sql: &str, dialect: Dialect) -> std::borrow::Cow<'_, str> {
    if dialect != Dialect::Postgres {
        return std::borrow::Cow::Borrowed(sql);
    }
    let statements = scan::statements(sql, dialect);
    if !statements.iter().any(|s| first_word(s, dialect) == "DO") {
        return std::borrow::Cow::Borrowed(sql);
    }
    std::borrow::Cow::Owned(
        statements
            .into_iter()
            .filter(|s| first_word(s, dialect) != "DO")
            .collect::<Vec<_>>()
            .join(";"),
    )
}

fn first_word(statement: &str, dialect: Dialect) -> String {
    scan::tokens(statement, dialect)
        .filter(|t| t.kind == Kind::Code)
        .flat_map(|t| code_words(t.text).collect::<Vec<_>>())
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

fn creates_code(words: &[String]) -> bool {
    words.first().is_some_and(|w| w == "DO")
        || (words.first().is_some_and(|w| w == "CREATE")
            && words.iter().any(|w| w == "FUNCTION" || w == "PROCEDURE"))
}

/// The statements a PL/pgSQL (or SQL-language) body runs.
pub fn statements_in(body: &str, dialect: Dialect) -> Vec<Piece> {
    let mut out = Vec::new();
    for statement in scan::statements(body, dialect) {
        let words = words_at(statement, dialect);
        match command_start(&words) {
            Some(i) => {
                let (at, word) = &words[i];
                match word.as_str() {
                    "PERFORM" => out.push(Piece::Sql(format!(
                        "SELECT{}",
                        strip_into(&statement[at + "PERFORM".len()..], dialect)
                    ))),
                    "EXECUTE" => out.push(execute(&statement[at + "EXECUTE".len()..], dialect)),
                    _ => out.push(Piece::Sql(strip_into(&statement[*at..], dialect))),
                }
            }
            None => out.extend(subqueries(statement, dialect).into_iter().map(Piece::Sql)),
        }
    }
    out
}

/// The index of the word that opens the piece's SQL statement, past the
/// block structure around it (`BEGIN`, `IF … THEN`, `LOOP`, `RETURN QUERY`).
fn command_start(words: &[(usize, String)]) -> Option<usize> {
    let mut at_start = true;
    for (i, (_, word)) in words.iter().enumerate() {
        let word = word.as_str();
        if !at_start {
            if matches!(word, "THEN" | "LOOP") {
                at_start = true;
            }
            continue;
        }
        match word {
            "BEGIN" | "DECLARE" | "ELSE" | "LOOP" | "EXCEPTION" | "ATOMIC" | "THEN" | "END"
            | "QUERY" => {}
            "RETURN" if words.get(i + 1).is_some_and(|(_, w)| w == "QUERY") => {}
            "IF" | "ELSIF" | "ELSEIF" | "WHILE" | "WHEN" | "FOR" | "FOREACH" | "CASE" => {
                at_start = false
            }
            command if COMMANDS.contains(&command) => return Some(i),
            _ => return None,
        }
    }
    None
}

/// What `EXECUTE` runs: one literal is SQL to check; anything else is built
/// at run time.
fn execute(rest: &str, dialect: Dialect) -> Piece {
    let mut tokens = scan::tokens(rest, dialect).filter(|t| {
        !(t.kind == Kind::Comment || (t.kind == Kind::Code && t.text.trim().is_empty()))
    });
    let first = tokens.next();
    let then = tokens.next();
    let ends = then.is_none_or(|t| {
        t.kind == Kind::Code && {
            let w = t.text.trim_start().to_ascii_uppercase();
            w.starts_with("USING") || w.starts_with("INTO")
        }
    });
    match first {
        Some(t) if t.kind == Kind::Literal && ends => Piece::Sql(literal_body(t.text)),
        Some(t) if t.kind == Kind::DollarBody && ends => {
            Piece::Sql(scan::dollar_body(t.text).to_string())
        }
        _ => Piece::Dynamic(format!(
            "EXECUTE{}",
            rest.split_whitespace()
                .take(6)
                .fold(String::new(), |s, w| s + " " + w)
        )),
    }
}

/// Parenthesized `(SELECT …)` / `(WITH …)` subqueries in a piece that is
/// not itself a statement (an `IF` condition, an assignment).
fn subqueries(statement: &str, dialect: Dialect) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = statement.as_bytes();
    let mut offset = 0;
    let mut code = Vec::new();
    for token in scan::tokens(statement, dialect) {
        if token.kind == Kind::Code {
            for (i, b) in token.text.bytes().enumerate() {
                code.push((offset + i, b));
            }
        }
        offset += token.text.len();
    }
    for (k, &(at, b)) in code.iter().enumerate() {
        if b != b'(' {
            continue;
        }
        let rest = statement[at + 1..].trim_start().to_ascii_uppercase();
        if !(rest.starts_with("SELECT") || rest.starts_with("WITH")) {
            continue;
        }
        let mut depth = 0usize;
        for &(end, c) in &code[k..] {
            match c {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(String::from_utf8_lossy(&bytes[at + 1..end]).into_owned());
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// PL/pgSQL `SELECT … INTO var` and `RETURNING … INTO var` name variables,
/// not tables: the targets are removed before parsing.
fn strip_into(sql: &str, dialect: Dialect) -> String {
    let words = words_at(sql, dialect);
    let mut cut: Option<(usize, usize)> = None;
    for (i, (at, word)) in words.iter().enumerate() {
        let before = i.checked_sub(1).map(|j| words[j].1.as_str());
        if word == "INTO" && !matches!(before, Some("INSERT" | "MERGE" | "REPLACE")) {
            let end = words[i + 1..]
                .iter()
                .find(|(_, w)| {
                    matches!(
                        w.as_str(),
                        "FROM"
                            | "WHERE"
                            | "GROUP"
                            | "ORDER"
                            | "LIMIT"
                            | "UNION"
                            | "HAVING"
                            | "WINDOW"
                            | "OFFSET"
                            | "FOR"
                    )
                })
                .map_or(sql.len(), |(at, _)| *at);
            cut = Some((*at, end));
            break;
        }
    }
    match cut {
        Some((from, to)) => format!("{} {}", &sql[..from], &sql[to..]),
        None => sql.to_string(),
    }
}

/// The uppercase code words of `sql` with their byte offsets.
fn words_at(sql: &str, dialect: Dialect) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for token in scan::tokens(sql, dialect) {
        if token.kind == Kind::Code {
            let mut at = 0;
            for piece in token
                .text
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
            {
                if !piece.is_empty() {
                    out.push((offset + at, piece.to_ascii_uppercase()));
                }
                at += piece.len() + 1;
            }
        }
        offset += token.text.len();
    }
    out
}

fn code_words(code: &str) -> impl Iterator<Item = &str> {
    code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty())
}

fn literal_body(text: &str) -> String {
    let inner = text.strip_prefix('\'').unwrap_or(text);
    let inner = inner.strip_suffix('\'').unwrap_or(inner);
    inner.replace("''", "'")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_pieces(body: &str) -> Vec<String> {
        statements_in(body, Dialect::Postgres)
            .into_iter()
            .map(|p| match p {
                Piece::Sql(s) => s.split_whitespace().collect::<Vec<_>>().join(" "),
                Piece::Dynamic(d) => format!("dynamic: {d}"),
            })
            .collect()
    }

    #[test]
    fn finds_the_statements_of_a_plpgsql_body() {
        let body = "
            DECLARE n int;
            BEGIN
              SELECT count(*) INTO n FROM users;
              IF n > 0 THEN DELETE FROM secrets; END IF;
              IF EXISTS (SELECT 1 FROM other.tokens) THEN RETURN; END IF;
              PERFORM pg_sleep(0);
              EXECUTE 'DROP TABLE seed';
              EXECUTE 'DROP TABLE ' || quote_ident(t);
              RETURN QUERY SELECT * FROM posts;
              n := n + 1;
            END";
        assert_eq!(
            sql_pieces(body),
            [
                "SELECT count(*) FROM users",
                "DELETE FROM secrets",
                "SELECT 1 FROM other.tokens",
                "SELECT pg_sleep(0)",
                "DROP TABLE seed",
                "dynamic: EXECUTE 'DROP TABLE ' || quote_ident(t)",
                "SELECT * FROM posts",
            ]
        );
    }

    #[test]
    fn finds_bodies() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $fn$ BEGIN DELETE FROM t; RETURN 1; END $fn$;
                   CREATE FUNCTION g() RETURNS int AS 'SELECT 1' LANGUAGE sql;
                   DO $$ BEGIN DROP TABLE x; END $$;
                   INSERT INTO t VALUES ($$not a body$$)";
        assert_eq!(
            bodies(sql, Dialect::Postgres),
            [
                " BEGIN DELETE FROM t; RETURN 1; END ",
                "SELECT 1",
                " BEGIN DROP TABLE x; END "
            ]
        );
        assert!(
            !without_do_blocks(sql, Dialect::Postgres).contains("DROP TABLE x"),
            "{}",
            without_do_blocks(sql, Dialect::Postgres)
        );
        assert!(bodies(sql, Dialect::Mysql).is_empty());
    }
}
