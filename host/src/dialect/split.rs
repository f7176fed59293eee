//! A SQL file split into the statements a client sends one at a time, each
//! with the line it starts on, as psql or the mysql client would split it:
//! at every `;` outside literals, quoted identifiers, comments and dollar
//! quotes, and outside the `BEGIN … END` body of a trigger, function,
//! procedure or event (SQLite triggers, MySQL routines without `DELIMITER`,
//! PostgreSQL's `BEGIN ATOMIC`).

use super::Dialect;
use super::scan::{Kind, tokens};

/// One statement of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located<'a> {
    /// The statement without its `;`, leading line comments and the
    /// whitespace around it (a block comment may be MySQL code: kept).
    pub text: &'a str,
    /// The 1-based line of `sql` its first code is on.
    pub line: usize,
}

/// The statements of `sql`, skipping those that hold only comments.
pub fn statements(sql: &str, dialect: Dialect) -> Vec<Located<'_>> {
    let mut out = Vec::new();
    let mut state = Statement::default();
    let mut at = 0;
    for token in tokens(sql, dialect) {
        let end = at + token.text.len();
        match token.kind {
            Kind::Semicolon => {
                state.semicolon();
                if state.depth() == 0 {
                    state.push_into(sql, at, &mut out);
                    state = Statement {
                        start: end,
                        ..Statement::default()
                    };
                }
            }
            // A MySQL executable comment's code comes as Code tokens.
            Kind::Comment => {}
            Kind::Code => {
                if state.code.is_none()
                    && let Some(offset) = token.text.find(|c: char| !c.is_whitespace())
                {
                    state.code = Some(at + offset);
                }
                state.words(token.text);
            }
            _ => {
                state.code.get_or_insert(at);
            }
        }
        at = end;
    }
    state.push_into(sql, sql.len(), &mut out);
    out
}

/// The statement being read.
#[derive(Debug, Default)]
struct Statement {
    /// Where its text starts (just past the previous `;`).
    start: usize,
    /// Where its first code is, once seen.
    code: Option<usize>,
    /// Words read so far, up to the few that say what it creates.
    words_seen: usize,
    /// `CREATE … TRIGGER|FUNCTION|PROCEDURE|EVENT`, or a `BEGIN ATOMIC`:
    /// its `BEGIN … END` blocks hold `;`s.
    has_body: bool,
    /// Whether the first word was CREATE.
    creates: bool,
    /// Open `BEGIN` and `CASE` blocks.
    open: usize,
    /// The previous word was END: what follows says what it closes.
    after_end: bool,
    /// The previous word was BEGIN.
    after_begin: bool,
}

impl Statement {
    fn depth(&self) -> usize {
        self.open
    }

    /// A `;` inside a body: an `END` just before it closed a block.
    fn semicolon(&mut self) {
        if std::mem::take(&mut self.after_end) {
            self.open = self.open.saturating_sub(1);
        }
        self.after_begin = false;
    }

    fn words(&mut self, code: &str) {
        for word in code
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
            .filter(|w| !w.is_empty())
        {
            self.word(word);
        }
    }

    fn word(&mut self, word: &str) {
        let is = |keyword: &str| word.eq_ignore_ascii_case(keyword);
        if self.words_seen == 0 {
            self.creates = is("CREATE");
        } else if self.creates
            && self.words_seen < 12
            && (is("TRIGGER") || is("FUNCTION") || is("PROCEDURE") || is("EVENT"))
        {
            self.has_body = true;
        }
        self.words_seen += 1;
        if std::mem::take(&mut self.after_begin) && is("ATOMIC") {
            self.has_body = true;
            self.open += 1;
            return;
        }
        if std::mem::take(&mut self.after_end) {
            // END IF / END LOOP / END WHILE / END REPEAT close blocks that
            // were never counted; END CASE and a bare END close one.
            if is("IF") || is("LOOP") || is("WHILE") || is("REPEAT") {
                return;
            }
            self.open = self.open.saturating_sub(1);
            if is("CASE") {
                return;
            }
        }
        if is("BEGIN") {
            if self.has_body {
                self.open += 1;
            } else {
                self.after_begin = true;
            }
        } else if is("CASE") && self.has_body {
            self.open += 1;
        } else if is("END") && self.open > 0 {
            self.after_end = true;
        }
    }

    fn push_into<'a>(&self, sql: &'a str, end: usize, out: &mut Vec<Located<'a>>) {
        let Some(code) = self.code else {
            return;
        };
        let text = strip_leading_line_comments(&sql[self.start..end]);
        out.push(Located {
            text: text.trim_end(),
            line: 1 + sql[..code].bytes().filter(|&b| b == b'\n').count(),
        });
    }
}

/// `text` from its first line that is not blank or a `--`/`#` comment.
fn strip_leading_line_comments(text: &str) -> &str {
    let mut rest = text.trim_start();
    while rest.starts_with("--") || rest.starts_with('#') {
        rest = rest.find('\n').map_or("", |i| rest[i + 1..].trim_start());
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str, dialect: Dialect) -> Vec<(&str, usize)> {
        statements(sql, dialect)
            .into_iter()
            .map(|s| (s.text, s.line))
            .collect()
    }

    #[test]
    fn statements_carry_their_lines_and_comments_are_skipped() {
        let sql = "-- header\nCREATE TABLE a (x INT);\n\n-- why\nINSERT INTO a VALUES (';');\n-- trailing\n";
        assert_eq!(
            texts(sql, Dialect::Postgres),
            [
                ("CREATE TABLE a (x INT)", 2),
                ("INSERT INTO a VALUES (';')", 5)
            ]
        );
        assert!(statements("-- nothing\n;\n  ", Dialect::Sqlite).is_empty());
        assert_eq!(texts("SELECT 1", Dialect::Sqlite), [("SELECT 1", 1)]);
    }

    #[test]
    fn dollar_quoted_bodies_are_one_statement() {
        let sql = "CREATE FUNCTION f() RETURNS int AS $$\nBEGIN\n  RETURN 1;\nEND\n$$ LANGUAGE plpgsql;\nSELECT f();";
        let found = texts(sql, Dialect::Postgres);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[1], ("SELECT f()", 6));
    }

    #[test]
    fn begin_end_bodies_hold_their_semicolons() {
        let sqlite = "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = 1;\n  SELECT CASE WHEN 1 THEN 2 END;\nEND;\nINSERT INTO a VALUES (1);";
        let found = texts(sqlite, Dialect::Sqlite);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].0.ends_with("END"), "{found:?}");
        assert_eq!(found[1].1, 5);

        let mysql = "CREATE PROCEDURE p()\nBEGIN\n  DECLARE n INT DEFAULT 0;\n  IF n = 0 THEN SET n = 1; END IF;\n  WHILE n < 3 DO SET n = n + 1; END WHILE;\n  CASE n WHEN 3 THEN SET n = 4; ELSE SET n = 5; END CASE;\n  BEGIN SELECT 1; END;\nEND;\nCALL p();";
        let found = texts(mysql, Dialect::Mysql);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[1], ("CALL p()", 9));

        let atomic = "CREATE FUNCTION one() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\nSELECT one();";
        assert_eq!(texts(atomic, Dialect::Postgres).len(), 2);
    }

    #[test]
    fn transaction_words_outside_bodies_do_not_nest() {
        let sql =
            "BEGIN;\nCREATE TABLE a (x INT);\nCOMMIT;\nSELECT CASE WHEN 1 THEN 2 END;\nSELECT 3;";
        assert_eq!(texts(sql, Dialect::Sqlite).len(), 5);
    }

    #[test]
    fn mysql_executable_comments_are_kept() {
        let sql = "/*!40101 SET NAMES utf8 */;\n# a comment\nSELECT 1;";
        assert_eq!(
            texts(sql, Dialect::Mysql),
            [("/*!40101 SET NAMES utf8 */", 1), ("SELECT 1", 3)]
        );
    }
}
