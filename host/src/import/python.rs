//! Just enough of Python's lexical structure to read an Alembic revision
//! module without running it: names, string literals (decoded), operators,
//! comments and logical line ends, each with the line and column it starts
//! at. Newlines inside brackets or after a `\` do not end a logical line,
//! as in Python.

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// An identifier or keyword.
    Name(String),
    /// A string literal, its value decoded (`r`/`b`/`u`/`f` prefixes allowed).
    Str(String),
    /// A number literal.
    Number,
    /// One operator or delimiter character.
    Op(char),
    /// The end of a logical line.
    Newline,
}

/// One token of the source.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    /// What it is.
    pub kind: Kind,
    /// The line it starts on, from 1.
    pub line: usize,
    /// The line it ends on (a triple-quoted string may span several).
    pub end_line: usize,
    /// Its column, from 0 (the indentation of a line's first token).
    pub col: usize,
}

impl Token {
    /// Whether it is the name `name`.
    pub fn is_name(&self, name: &str) -> bool {
        matches!(&self.kind, Kind::Name(n) if n == name)
    }

    /// Whether it is the operator `op`.
    pub fn is_op(&self, op: char) -> bool {
        self.kind == Kind::Op(op)
    }
}

/// Why a source could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LexError {
    /// The line, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The tokens of `source`, ending with a [`Kind::Newline`].
pub(crate) fn tokens(source: &str) -> Result<Vec<Token>, LexError> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut line_start, mut depth) = (0, 1, 0, 0usize);
    let newline = |out: &mut Vec<Token>, line: usize| {
        if out.last().is_some_and(|t: &Token| t.kind != Kind::Newline) {
            out.push(Token {
                kind: Kind::Newline,
                line,
                end_line: line,
                col: 0,
            });
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let col = i - line_start;
        match c {
            '\n' => {
                if depth == 0 {
                    newline(&mut out, line);
                }
                i += 1;
                line += 1;
                line_start = i;
            }
            '\\' if chars.get(i + 1) == Some(&'\n') => {
                i += 2;
                line += 1;
                line_start = i;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            c if c.is_whitespace() => i += 1,
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let is_prefix = word.len() <= 2
                    && word
                        .chars()
                        .all(|p| matches!(p.to_ascii_lowercase(), 'r' | 'b' | 'u' | 'f'));
                if is_prefix && matches!(chars.get(i), Some('\'' | '"')) {
                    let raw = word.to_ascii_lowercase().contains('r');
                    let start_line = line;
                    let (value, next, lines) = string(&chars, i, raw, line)?;
                    i = next;
                    if lines > 0 {
                        line += lines;
                        line_start = chars[..i]
                            .iter()
                            .rposition(|&c| c == '\n')
                            .map_or(0, |p| p + 1);
                    }
                    out.push(Token {
                        kind: Kind::Str(value),
                        line: start_line,
                        end_line: line,
                        col,
                    });
                } else {
                    out.push(Token {
                        kind: Kind::Name(word),
                        line,
                        end_line: line,
                        col,
                    });
                }
            }
            '\'' | '"' => {
                let start_line = line;
                let (value, next, lines) = string(&chars, i, false, line)?;
                i = next;
                if lines > 0 {
                    line += lines;
                    line_start = chars[..i]
                        .iter()
                        .rposition(|&c| c == '\n')
                        .map_or(0, |p| p + 1);
                }
                out.push(Token {
                    kind: Kind::Str(value),
                    line: start_line,
                    end_line: line,
                    col,
                });
            }
            c if c.is_ascii_digit() => {
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.'))
                {
                    i += 1;
                }
                out.push(Token {
                    kind: Kind::Number,
                    line,
                    end_line: line,
                    col,
                });
            }
            _ => {
                match c {
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                out.push(Token {
                    kind: Kind::Op(c),
                    line,
                    end_line: line,
                    col,
                });
                i += 1;
            }
        }
    }
    newline(&mut out, line);
    Ok(out)
}

/// The string literal whose opening quote is at `chars[at]`: its value, the
/// index after it, and how many newlines it spans.
fn string(
    chars: &[char],
    at: usize,
    raw: bool,
    line: usize,
) -> Result<(String, usize, usize), LexError> {
    let quote = chars[at];
    let triple = chars.get(at + 1) == Some(&quote) && chars.get(at + 2) == Some(&quote);
    let mut i = at + if triple { 3 } else { 1 };
    let mut value = String::new();
    let mut lines = 0;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(LexError {
                line,
                message: "a string literal is not closed".to_string(),
            });
        };
        if c == quote
            && (!triple || (chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote)))
        {
            return Ok((value, i + if triple { 3 } else { 1 }, lines));
        }
        if c == '\n' {
            if !triple {
                return Err(LexError {
                    line,
                    message: "a string literal is not closed on its line".to_string(),
                });
            }
            lines += 1;
        }
        if c == '\\' && i + 1 < chars.len() {
            let next = chars[i + 1];
            if next == '\n' {
                lines += 1;
            }
            if raw {
                value.push(c);
                value.push(next);
                i += 2;
                continue;
            }
            i += 2;
            match next {
                '\n' => {}
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                '0' => value.push('\0'),
                '\\' | '\'' | '"' => value.push(next),
                'x' | 'u' | 'U' => {
                    let width = match next {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex: String = chars.iter().skip(i).take(width).collect();
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(decoded) if hex.len() == width => {
                            value.push(decoded);
                            i += width;
                        }
                        _ => {
                            value.push('\\');
                            value.push(next);
                        }
                    }
                }
                other => {
                    value.push('\\');
                    value.push(other);
                }
            }
            continue;
        }
        value.push(c);
        i += 1;
    }
}

/// The logical lines of `tokens`, each without its [`Kind::Newline`].
pub(crate) fn logical_lines(tokens: &[Token]) -> impl Iterator<Item = &[Token]> {
    tokens
        .split(|t| t.kind == Kind::Newline)
        .filter(|line| !line.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<Kind> {
        tokens(source)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn strings_are_decoded_and_comments_dropped() {
        assert_eq!(
            kinds("x = 'a\\'b'  # 'not a string'\ny = r\"\\d\"\n"),
            [
                Kind::Name("x".into()),
                Kind::Op('='),
                Kind::Str("a'b".into()),
                Kind::Newline,
                Kind::Name("y".into()),
                Kind::Op('='),
                Kind::Str("\\d".into()),
                Kind::Newline,
            ]
        );
    }

    #[test]
    fn brackets_and_triple_quotes_keep_one_logical_line() {
        let source = "down = (\n  'a',\n  'b',\n)\ns = \"\"\"one\ntwo\"\"\"\nz = 1\n";
        let all = tokens(source).unwrap();
        let lines: Vec<&[Token]> = logical_lines(&all).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1][2].kind, Kind::Str("one\ntwo".into()));
        assert_eq!((lines[1][2].line, lines[1][2].end_line), (5, 6));
        assert_eq!((lines[2][0].line, lines[2][0].col), (7, 0));
    }

    #[test]
    fn an_unclosed_string_names_its_line() {
        assert_eq!(
            tokens("a = 1\nb = 'oops\n").unwrap_err(),
            LexError {
                line: 2,
                message: "a string literal is not closed on its line".into()
            }
        );
    }
}
