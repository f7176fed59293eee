//! Finds `$N` placeholders in SQL text, skipping everything that only looks
//! like one: string literals, quoted identifiers, comments and PostgreSQL
//! dollar-quoted bodies.

use super::Dialect;

/// One piece of a statement: verbatim text or a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// SQL text to keep as it is.
    Text(&'a str),
    /// `$N`: the 1-based parameter number.
    Param(usize),
}

/// Why a statement's placeholders do not fit its parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    /// `$0` or a number past the parameter list.
    #[error("placeholder ${number} has no parameter (the statement was given {given})")]
    OutOfRange {
        /// The number written after `$`.
        number: usize,
        /// How many parameters the statement was given.
        given: usize,
    },
    /// A parameter that no placeholder refers to: usually a typo in the SQL.
    #[error("parameter ${number} is never used in the statement (placeholders are $1, $2, ...)")]
    Unused {
        /// The unused parameter's number.
        number: usize,
    },
}

/// What a [`Token`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SQL outside every literal and comment: keywords, names, operators.
    Code,
    /// A string literal (`'…'`, and `"…"` on MySQL).
    Literal,
    /// A quoted identifier (`"…"`, `` `…` ``, `[…]`).
    QuotedIdent,
    /// A comment (`-- …`, `# …` on MySQL, `/* … */`). On MySQL an
    /// executable comment (`/*!50001 … */`, MariaDB's `/*M!100100 … */`) is
    /// code the server runs: only its markers are comment tokens, and what
    /// is between them is lexed as SQL.
    Comment,
    /// A PostgreSQL dollar-quoted body (`$tag$ … $tag$`).
    DollarBody,
    /// `$N`: the 1-based parameter number.
    Param(usize),
    /// A `;` that ends a statement.
    Semicolon,
}

/// One lexical piece of SQL text, as the database would read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// What it is.
    pub kind: Kind,
    /// Its text, quotes and comment markers included.
    pub text: &'a str,
    /// False for a literal, identifier, comment or body that runs to the end
    /// of the text without being closed.
    pub closed: bool,
}

/// The tokens of `sql` as `dialect` lexes it: the one lexer behind
/// placeholders, statement splitting and the sandbox's text checks.
pub fn tokens(sql: &str, dialect: Dialect) -> Tokens<'_> {
    Tokens {
        sql,
        dialect,
        at: 0,
        in_executable: false,
    }
}

/// The iterator [`tokens`] returns.
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    sql: &'a str,
    dialect: Dialect,
    at: usize,
    /// Inside a MySQL executable comment: its `*/` ends it.
    in_executable: bool,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.sql.as_bytes();
        let start = self.at;
        if start >= bytes.len() {
            return None;
        }
        let closes = |i: usize| bytes[i..].starts_with(b"*/");
        let (kind, end, closed) = if self.in_executable && closes(start) {
            self.in_executable = false;
            (Kind::Comment, start + 2, true)
        } else if let Some(end) = executable_opening(bytes, start, self.dialect) {
            self.in_executable = true;
            let closed = bytes[end..].windows(2).any(|w| w == b"*/");
            (Kind::Comment, end, closed)
        } else {
            match special(bytes, start, self.dialect) {
                Some(found) => found,
                None => {
                    let mut i = start + 1;
                    while i < bytes.len()
                        && special(bytes, i, self.dialect).is_none()
                        && !(self.in_executable && closes(i))
                    {
                        i += 1;
                    }
                    (Kind::Code, i, true)
                }
            }
        };
        self.at = end;
        Some(Token {
            kind,
            text: &self.sql[start..end],
            closed,
        })
    }
}

/// The token that starts at `i`, unless `i` is ordinary code: its kind, the
/// index just past it, and whether it is closed.
fn special(bytes: &[u8], i: usize, dialect: Dialect) -> Option<(Kind, usize, bool)> {
    let quoted = |kind, (end, closed)| Some((kind, end, closed));
    match bytes[i] {
        b'\'' => {
            let backslashes = dialect == Dialect::Mysql || is_escape_string(bytes, i, dialect);
            quoted(Kind::Literal, skip_quoted(bytes, i, b'\'', backslashes))
        }
        b'"' if dialect == Dialect::Mysql => {
            quoted(Kind::Literal, skip_quoted(bytes, i, b'"', true))
        }
        b'"' => quoted(Kind::QuotedIdent, skip_quoted(bytes, i, b'"', false)),
        b'`' if dialect != Dialect::Postgres => {
            quoted(Kind::QuotedIdent, skip_quoted(bytes, i, b'`', false))
        }
        b'[' if dialect == Dialect::Sqlite => {
            let end = find_byte(bytes, i + 1, b']');
            Some((
                Kind::QuotedIdent,
                end,
                bytes[end - 1] == b']' && end > i + 1,
            ))
        }
        b'-' if bytes.get(i + 1) == Some(&b'-') => {
            Some((Kind::Comment, find_byte(bytes, i, b'\n'), true))
        }
        b'#' if dialect == Dialect::Mysql => {
            Some((Kind::Comment, find_byte(bytes, i, b'\n'), true))
        }
        b'/' if bytes.get(i + 1) == Some(&b'*') => quoted(
            Kind::Comment,
            skip_block_comment(bytes, i, dialect == Dialect::Postgres),
        ),
        b'$' if !follows_identifier(bytes, i) => {
            let digits = count_digits(bytes, i + 1);
            if digits > 0 {
                let end = i + 1 + digits;
                // Saturate: an absurd number is reported as out of range, not a panic.
                let number = std::str::from_utf8(&bytes[i + 1..end])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(usize::MAX);
                Some((Kind::Param(number), end, true))
            } else if dialect == Dialect::Postgres {
                skip_dollar_quoted(bytes, i).map(|(end, closed)| (Kind::DollarBody, end, closed))
            } else {
                None
            }
        }
        b';' => Some((Kind::Semicolon, i + 1, true)),
        _ => None,
    }
}

/// The end of a MySQL executable comment's opening marker at `i`
/// (`/*!`, `/*M!`, with the version digits after it), if one starts there.
fn executable_opening(bytes: &[u8], i: usize, dialect: Dialect) -> Option<usize> {
    if dialect != Dialect::Mysql {
        return None;
    }
    let rest = &bytes[i..];
    let marker = if rest.starts_with(b"/*!") {
        3
    } else if rest.starts_with(b"/*M!") {
        4
    } else {
        return None;
    };
    Some(i + marker + count_digits(bytes, i + marker))
}

/// `sql` as the server runs it: MySQL executable comment markers blanked
/// out (their contents kept), so a parser sees the code they hold.
pub fn executable(sql: &str, dialect: Dialect) -> std::borrow::Cow<'_, str> {
    if dialect != Dialect::Mysql || !(sql.contains("/*!") || sql.contains("/*M!")) {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut lexer = tokens(sql, dialect);
    while let Some(token) = lexer.next() {
        let marker = token.kind == Kind::Comment
            && (token.text.starts_with("/*!")
                || token.text.starts_with("/*M!")
                || (token.text == "*/" && !lexer.in_executable));
        if marker {
            out.push(' ');
        } else {
            out.push_str(token.text);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The text inside a [`Kind::DollarBody`] token (`$tag$ … $tag$`).
pub fn dollar_body(text: &str) -> &str {
    let tag_end = text[1..].find('$').map_or(text.len(), |p| p + 2);
    let tag = &text[..tag_end.min(text.len())];
    text[tag.len()..]
        .strip_suffix(tag)
        .unwrap_or(&text[tag.len()..])
}

/// Splits `sql` into text and `$N` placeholders, as `dialect` lexes it.
pub fn split(sql: &str, dialect: Dialect) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut text_start = None;
    let mut at = 0;
    for token in tokens(sql, dialect) {
        if let Kind::Param(n) = token.kind {
            if let Some(from) = text_start.take() {
                pieces.push(Piece::Text(&sql[from..at]));
            }
            pieces.push(Piece::Param(n));
        } else {
            text_start.get_or_insert(at);
        }
        at += token.text.len();
    }
    if let Some(from) = text_start {
        pieces.push(Piece::Text(&sql[from..]));
    }
    pieces
}

/// The statements of a script: `sql` split at every `;` that is not inside
/// a string literal, a quoted identifier, a comment or a dollar-quoted body,
/// as `dialect` lexes it.
pub fn statements(sql: &str, dialect: Dialect) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for token in tokens(sql, dialect) {
        if token.kind == Kind::Semicolon {
            out.push(&sql[start..at]);
            start = at + 1;
        }
        at += token.text.len();
    }
    out.push(&sql[start.min(sql.len())..]);
    out
}

/// What `sql` leaves open at its end (a literal, a quoted identifier, a
/// comment or a dollar-quoted body), if anything: text appended after it
/// would be read as part of that construct.
pub fn left_open(sql: &str, dialect: Dialect) -> Option<&'static str> {
    tokens(sql, dialect)
        .find(|t| !t.closed)
        .map(|t| match t.kind {
            Kind::Literal => "a string literal",
            Kind::QuotedIdent => "a quoted identifier",
            Kind::Comment => "a block comment",
            Kind::DollarBody => "a dollar-quoted body",
            _ => "a construct",
        })
}

/// Checks that every placeholder has a parameter and every parameter is used.
pub fn check(pieces: &[Piece<'_>], given: usize) -> Result<(), PlaceholderError> {
    let mut used = vec![false; given];
    for piece in pieces {
        if let Piece::Param(number) = *piece {
            if number == 0 || number > given {
                return Err(PlaceholderError::OutOfRange { number, given });
            }
            used[number - 1] = true;
        }
    }
    match used.iter().position(|u| !u) {
        Some(index) => Err(PlaceholderError::Unused { number: index + 1 }),
        None => Ok(()),
    }
}

/// PostgreSQL `E'...'` strings take backslash escapes.
fn is_escape_string(bytes: &[u8], quote: usize, dialect: Dialect) -> bool {
    dialect == Dialect::Postgres
        && quote > 0
        && matches!(bytes[quote - 1], b'e' | b'E')
        && (quote == 1 || !is_ident_byte(bytes[quote - 2]))
}

/// Returns the index just past the closing quote (a doubled quote is an
/// escaped one), and whether there was one.
fn skip_quoted(bytes: &[u8], open: usize, quote: u8, backslashes: bool) -> (usize, bool) {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslashes => i += 2,
            b if b == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return (i + 1, true);
                }
            }
            _ => i += 1,
        }
    }
    (bytes.len(), false)
}

fn find_byte(bytes: &[u8], from: usize, needle: u8) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == needle)
        .map_or(bytes.len(), |p| from + p + 1)
}

fn skip_block_comment(bytes: &[u8], open: usize, nested: bool) -> (usize, bool) {
    let mut depth = 0usize;
    let mut i = open;
    while i + 1 < bytes.len() {
        if bytes[i] == b'/' && bytes[i + 1] == b'*' {
            depth = if nested || depth == 0 {
                depth + 1
            } else {
                depth
            };
            i += 2;
        } else if bytes[i] == b'*' && bytes[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return (i, true);
            }
        } else {
            i += 1;
        }
    }
    (bytes.len(), false)
}

/// `$tag$ ... $tag$` (tag empty or an identifier not starting with a
/// digit): the index past it and whether it is closed; `None` when the `$`
/// opens no body.
fn skip_dollar_quoted(bytes: &[u8], open: usize) -> Option<(usize, bool)> {
    let mut i = open + 1;
    while i < bytes.len() && is_ident_byte(bytes[i]) {
        i += 1;
    }
    if bytes.get(i) != Some(&b'$') {
        return None;
    }
    let tag = &bytes[open..=i];
    let body = i + 1;
    Some(
        bytes[body..]
            .windows(tag.len())
            .position(|w| w == tag)
            .map_or((bytes.len(), false), |p| (body + p + tag.len(), true)),
    )
}

fn count_digits(bytes: &[u8], from: usize) -> usize {
    bytes[from.min(bytes.len())..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count()
}

/// `$` inside an identifier (`price$1`) is part of the name, not a placeholder.
fn follows_identifier(bytes: &[u8], at: usize) -> bool {
    at > 0 && (is_ident_byte(bytes[at - 1]) || bytes[at - 1] == b'$')
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(sql: &str, dialect: Dialect) -> Vec<usize> {
        split(sql, dialect)
            .into_iter()
            .filter_map(|p| match p {
                Piece::Param(n) => Some(n),
                Piece::Text(_) => None,
            })
            .collect()
    }

    #[test]
    fn finds_placeholders_in_order() {
        let sql = "UPDATE t SET a = $2, b = $1 WHERE c = $2";
        for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
            assert_eq!(params(sql, dialect), vec![2, 1, 2]);
        }
    }

    #[test]
    fn skips_literals_identifiers_and_comments() {
        let sql = "SELECT '$1', \"$2\", $1 -- $3\n /* $4 */ FROM t";
        assert_eq!(params(sql, Dialect::Postgres), vec![1]);
        assert_eq!(params("SELECT `$1`, $2 # $3\n", Dialect::Mysql), vec![2]);
        assert_eq!(params("SELECT [$1], $2", Dialect::Sqlite), vec![2]);
    }

    #[test]
    fn doubled_quotes_and_backslashes() {
        assert_eq!(params("SELECT 'it''s $1', $2", Dialect::Sqlite), vec![2]);
        // MySQL: \' does not end the string.
        assert_eq!(params(r"SELECT 'a\' $1', $2", Dialect::Mysql), vec![2]);
        // PostgreSQL: a backslash is literal in '...' but escapes in E'...'.
        assert_eq!(params(r"SELECT 'a\', $1", Dialect::Postgres), vec![1]);
        assert_eq!(params(r"SELECT E'a\' $1', $2", Dialect::Postgres), vec![2]);
    }

    #[test]
    fn postgres_dollar_quotes_and_identifiers() {
        let sql = "CREATE FUNCTION f() RETURNS int AS $body$ SELECT $1 $body$ LANGUAGE sql; SELECT $$ $2 $$, $3";
        assert_eq!(params(sql, Dialect::Postgres), vec![3]);
        assert_eq!(
            params("SELECT price$1 FROM t WHERE x = $1", Dialect::Postgres),
            vec![1]
        );
    }

    #[test]
    fn nested_comments_only_on_postgres() {
        assert_eq!(params("/* a /* b */ $1 */ $2", Dialect::Postgres), vec![2]);
        assert_eq!(params("/* a /* b */ $1 */ $2", Dialect::Sqlite), vec![1, 2]);
    }

    #[test]
    fn mysql_executable_comments_are_code() {
        let sql = "/*!50001 DROP TABLE seed */; /*M!100100 DELETE FROM t */ /* DROP x */";
        let code: Vec<&str> = tokens(sql, Dialect::Mysql)
            .filter(|t| t.kind == Kind::Code)
            .map(|t| t.text.trim())
            .filter(|t| !t.is_empty())
            .collect();
        assert_eq!(code, ["DROP TABLE seed", "DELETE FROM t"]);
        assert_eq!(
            executable(sql, Dialect::Mysql)
                .split_whitespace()
                .collect::<Vec<_>>(),
            [
                "DROP", "TABLE", "seed", ";", "DELETE", "FROM", "t", "/*", "DROP", "x", "*/"
            ]
        );
        // Elsewhere it is an ordinary comment.
        assert!(
            tokens(sql, Dialect::Postgres)
                .all(|t| t.kind != Kind::Code || !t.text.contains("DROP"))
        );
        assert_eq!(
            left_open("/*! DROP TABLE t", Dialect::Mysql),
            Some("a block comment")
        );
        assert_eq!(
            statements("/*!40101 SET a=1 */; SELECT 1", Dialect::Mysql).len(),
            2
        );
    }

    #[test]
    fn unterminated_constructs_do_not_panic() {
        for sql in [
            "'abc",
            "\"abc",
            "/* abc",
            "$tag$ abc",
            "$",
            "$99999999999999999999999",
            "-- x",
            "/*!",
            "/*M!1",
            "/*! 'a */",
        ] {
            for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
                let _ = split(sql, dialect);
            }
        }
    }

    #[test]
    fn check_reports_missing_and_unused() {
        let pieces = split("SELECT $1, $3", Dialect::Sqlite);
        assert_eq!(
            check(&pieces, 2),
            Err(PlaceholderError::OutOfRange {
                number: 3,
                given: 2
            })
        );
        let pieces = split("SELECT $1", Dialect::Sqlite);
        assert_eq!(
            check(&pieces, 2),
            Err(PlaceholderError::Unused { number: 2 })
        );
        assert_eq!(
            check(&split("SELECT $0", Dialect::Sqlite), 1),
            Err(PlaceholderError::OutOfRange {
                number: 0,
                given: 1
            })
        );
        assert_eq!(check(&split("SELECT $2, $1", Dialect::Sqlite), 2), Ok(()));
    }
}
