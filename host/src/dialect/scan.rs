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

/// Splits `sql` into text and `$N` placeholders, as `dialect` lexes it.
pub fn split(sql: &str, dialect: Dialect) -> Vec<Piece<'_>> {
    let bytes = sql.as_bytes();
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i = match b {
            b'\'' => {
                let backslashes = dialect == Dialect::Mysql || is_escape_string(bytes, i, dialect);
                skip_quoted(bytes, i, b'\'', backslashes)
            }
            b'"' => skip_quoted(bytes, i, b'"', dialect == Dialect::Mysql),
            b'`' if dialect != Dialect::Postgres => skip_quoted(bytes, i, b'`', false),
            b'[' if dialect == Dialect::Sqlite => find_byte(bytes, i + 1, b']'),
            b'-' if bytes.get(i + 1) == Some(&b'-') => find_byte(bytes, i, b'\n'),
            b'#' if dialect == Dialect::Mysql => find_byte(bytes, i, b'\n'),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                skip_block_comment(bytes, i, dialect == Dialect::Postgres)
            }
            b'$' => {
                let digits = count_digits(bytes, i + 1);
                if digits > 0 && !follows_identifier(bytes, i) {
                    if text_start < i {
                        pieces.push(Piece::Text(&sql[text_start..i]));
                    }
                    let end = i + 1 + digits;
                    // Saturate: an absurd number is reported as out of range, not a panic.
                    let number = sql[i + 1..end].parse().unwrap_or(usize::MAX);
                    pieces.push(Piece::Param(number));
                    text_start = end;
                    end
                } else if dialect == Dialect::Postgres && !follows_identifier(bytes, i) {
                    skip_dollar_quoted(bytes, i)
                } else {
                    i + 1
                }
            }
            _ => i + 1,
        };
    }
    if text_start < bytes.len() {
        pieces.push(Piece::Text(&sql[text_start..]));
    }
    pieces
}

/// The statements of a script: `sql` split at every `;` that is not inside
/// a string literal, a quoted identifier, a comment or a dollar-quoted body,
/// as `dialect` lexes it.
pub fn statements(sql: &str, dialect: Dialect) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        i = match bytes[i] {
            b'\'' => {
                let backslashes = dialect == Dialect::Mysql || is_escape_string(bytes, i, dialect);
                skip_quoted(bytes, i, b'\'', backslashes)
            }
            b'"' => skip_quoted(bytes, i, b'"', dialect == Dialect::Mysql),
            b'`' if dialect != Dialect::Postgres => skip_quoted(bytes, i, b'`', false),
            b'[' if dialect == Dialect::Sqlite => find_byte(bytes, i + 1, b']'),
            b'-' if bytes.get(i + 1) == Some(&b'-') => find_byte(bytes, i, b'\n'),
            b'#' if dialect == Dialect::Mysql => find_byte(bytes, i, b'\n'),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                skip_block_comment(bytes, i, dialect == Dialect::Postgres)
            }
            b'$' if dialect == Dialect::Postgres
                && count_digits(bytes, i + 1) == 0
                && !follows_identifier(bytes, i) =>
            {
                skip_dollar_quoted(bytes, i)
            }
            b';' => {
                out.push(&sql[start..i]);
                start = i + 1;
                i + 1
            }
            _ => i + 1,
        };
    }
    out.push(&sql[start.min(sql.len())..]);
    out
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

/// Returns the index just past the closing quote (a doubled quote is an escaped one).
fn skip_quoted(bytes: &[u8], open: usize, quote: u8, backslashes: bool) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslashes => i += 2,
            b if b == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return i + 1;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

fn find_byte(bytes: &[u8], from: usize, needle: u8) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == needle)
        .map_or(bytes.len(), |p| from + p + 1)
}

fn skip_block_comment(bytes: &[u8], open: usize, nested: bool) -> usize {
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
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// `$tag$ ... $tag$` (tag empty or an identifier not starting with a digit).
fn skip_dollar_quoted(bytes: &[u8], open: usize) -> usize {
    let mut i = open + 1;
    while i < bytes.len() && is_ident_byte(bytes[i]) {
        i += 1;
    }
    if bytes.get(i) != Some(&b'$') {
        return open + 1;
    }
    let tag = &bytes[open..=i];
    let body = i + 1;
    bytes[body..]
        .windows(tag.len())
        .position(|w| w == tag)
        .map_or(bytes.len(), |p| body + p + tag.len())
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
    fn unterminated_constructs_do_not_panic() {
        for sql in [
            "'abc",
            "\"abc",
            "/* abc",
            "$tag$ abc",
            "$",
            "$99999999999999999999999",
            "-- x",
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
