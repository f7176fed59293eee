//! A JavaScript revision script's metadata read from its text, without the
//! interpreter, when the text leaves no doubt: so that `history`, `heads`
//! and planning need not start QuickJS for every script on a cold machine.
//!
//! The interpreter's rule (`interpreters/js/runner.js`) is what `exports`
//! holds after the module body ran. This reader decides only when:
//! - every use of `exports` is `exports.NAME = …` (a plain assignment), and
//!   each metadata name (`id`, `parents`, `message`, `branchLabels`,
//!   `dependsOn`, `transactional`) is assigned at most once, by a statement
//!   of its own at the top level of the file, to a plain literal of the
//!   right kind followed by `;` or a line break that ends the statement;
//! - nothing can reach `exports` another way or bind it dynamically:
//!   no `module`, `arguments`, `this`, `eval`, `Function`, `globalThis`,
//!   `Object`, `Reflect`, `Proxy`, `with`, `import`, no `__proto__`-like
//!   names, no backslash outside a string or template;
//! - the text tokenizes without guessing: a `/` that does not start a
//!   comment (a division or a regular expression) leaves it to the
//!   interpreter, as does any escape in a string other than the simple ones.
//!
//! Anything else is left to the interpreter, as before. The live `info()`
//! is checked before the script runs, as for metadata from the cache.

use std::collections::HashMap;

use crate::sandbox::RevisionInfo;

/// Names whose presence anywhere could bind or reach `exports` other than
/// by the assignments this reader sees.
const DYNAMIC: [&str; 16] = [
    "module",
    "arguments",
    "this",
    "eval",
    "Function",
    "globalThis",
    "Object",
    "Reflect",
    "Proxy",
    "with",
    "import",
    "__proto__",
    "__defineGetter__",
    "__defineSetter__",
    "defineProperty",
    "undefined",
];

const NAMES: [&str; 6] = [
    "id",
    "parents",
    "message",
    "branchLabels",
    "dependsOn",
    "transactional",
];

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Name(String),
    Str(String),
    /// A template literal or a number: never a metadata value.
    Opaque,
    Punct(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// Whether a line break separates it from the token before.
    after_newline: bool,
}

impl Token {
    fn is(&self, punct: &str) -> bool {
        match &self.kind {
            Kind::Punct(p) => *p == punct,
            Kind::Name(n) => n == punct,
            _ => false,
        }
    }
}

/// Multi-character punctuators that matter here (so `=` is never read out
/// of `==`, `=>`, `+=`…); longest first.
const PUNCTS: [&str; 24] = [
    "===", "!==", "**=", "...", "==", "!=", "=>", "+=", "-=", "*=", "%=", "&=", "|=", "^=", "?.",
    "??", "&&", "||", "++", "--", "<=", ">=", "<<", ">>",
];
const SINGLE: &str = "{}()[];,.=<>+-*%&|^!~?:@#";

/// Splits the text into tokens, or `None` where that needs a guess.
fn tokens(source: &str) -> Option<Vec<Token>> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut newline = true;
    // Open braces: `true` for one that opened a template's `${`.
    let mut braces: Vec<bool> = Vec::new();
    let push = |out: &mut Vec<Token>, kind: Kind, newline: &mut bool| {
        out.push(Token {
            kind,
            after_newline: std::mem::take(newline),
        })
    };
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\n' | b'\r' => {
                newline = true;
                i += 1;
            }
            b' ' | b'\t' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = source[i + 2..].find("*/")? + i + 2;
                if source[i..end].contains('\n') {
                    newline = true;
                }
                i = end + 2;
            }
            b'\'' | b'"' => {
                let (value, next) = string(source, i)?;
                push(&mut out, Kind::Str(value), &mut newline);
                i = next;
            }
            // A template's substitutions are tokenized as braces around
            // their code, so they count as nesting.
            b'`' => {
                push(&mut out, Kind::Opaque, &mut newline);
                let (next, entered) = template(bytes, i + 1, &mut braces)?;
                if entered {
                    push(&mut out, Kind::Punct("{"), &mut newline);
                }
                i = next;
            }
            b'}' if braces.last() == Some(&true) => {
                braces.pop();
                push(&mut out, Kind::Punct("}"), &mut newline);
                let (next, entered) = template(bytes, i + 1, &mut braces)?;
                if entered {
                    push(&mut out, Kind::Punct("{"), &mut newline);
                }
                i = next;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$')
                {
                    i += 1;
                }
                push(&mut out, Kind::Name(source[start..i].into()), &mut newline);
            }
            _ if c.is_ascii_digit() => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                push(&mut out, Kind::Opaque, &mut newline);
            }
            _ => {
                let rest = &source[i..];
                let punct = PUNCTS
                    .iter()
                    .find(|p| rest.starts_with(**p))
                    .copied()
                    .or_else(|| {
                        SINGLE
                            .find(c as char)
                            .map(|at| &SINGLE[at..at + 1])
                            .filter(|_| c.is_ascii())
                    })?;
                match punct {
                    "{" => braces.push(false),
                    "}" => {
                        braces.pop()?;
                    }
                    _ => {}
                }
                push(&mut out, Kind::Punct(punct), &mut newline);
                i += punct.len();
            }
        }
    }
    braces.is_empty().then_some(out)
}

/// Reads the string literal opening at `start`; returns its value and the
/// index after it. Only the escapes whose meaning is plain are accepted.
fn string(source: &str, start: usize) -> Option<(String, usize)> {
    let quote = source.as_bytes()[start] as char;
    let mut value = String::new();
    let mut chars = source[start + 1..].char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            _ if c == quote => return Some((value, start + 1 + at + 1)),
            '\n' | '\r' => return None,
            '\\' => value.push(match chars.next()?.1 {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                c @ ('\\' | '\'' | '"') => c,
                _ => return None,
            }),
            c => value.push(c),
        }
    }
    None
}

/// Skips a template literal's text from `i` (after a backtick or the `}`
/// closing a substitution) to its closing backtick, or into a `${`
/// substitution (pushed on `braces`); returns the index after and whether
/// it entered a substitution.
fn template(bytes: &[u8], mut i: usize, braces: &mut Vec<bool>) -> Option<(usize, bool)> {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'`' => return Some((i + 1, false)),
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                braces.push(true);
                return Some((i + 2, true));
            }
            _ => i += 1,
        }
    }
    None
}

/// The script's metadata, when its text decides it.
pub fn read_js(source: &str) -> Option<RevisionInfo> {
    let all = tokens(source)?;
    let mut values: HashMap<&str, &[Token]> = HashMap::new();
    let mut depth = 0usize;
    // The token after a metadata assignment that a line break ended.
    let mut ended_by_newline = None;
    let mut i = 0;
    while i < all.len() {
        let token = &all[i];
        match &token.kind {
            Kind::Name(name) if DYNAMIC.contains(&name.as_str()) => return None,
            Kind::Punct("{" | "(" | "[") => depth += 1,
            Kind::Punct("}" | ")" | "]") => depth = depth.checked_sub(1)?,
            Kind::Name(name) if name == "exports" => {
                let (
                    Some(dot),
                    Some(Token {
                        kind: Kind::Name(field),
                        ..
                    }),
                    Some(eq),
                ) = (all.get(i + 1), all.get(i + 2), all.get(i + 3))
                else {
                    return None;
                };
                if !dot.is(".") || !eq.is("=") || DYNAMIC.contains(&field.as_str()) {
                    return None;
                }
                if let Some(&name) = NAMES.iter().find(|n| *n == field) {
                    let starts_statement = i == 0
                        || matches!(all[i - 1].kind, Kind::Punct(";" | "}"))
                        || ended_by_newline == Some(i);
                    if depth != 0 || !starts_statement {
                        return None;
                    }
                    let (value, next) = value(&all, i + 4)?;
                    if values.insert(name, value).is_some() {
                        return None;
                    }
                    if !all.get(next - 1).is_some_and(|t| t.is(";")) {
                        ended_by_newline = Some(next);
                    }
                    i = next;
                    continue;
                }
                i += 3;
            }
            Kind::Name(name) if NAMES.contains(&name.as_str()) => {
                // A metadata name elsewhere is harmless only as another
                // object's property (`x.id`) or key (`{ id: … }`).
                let property = i > 0 && (all[i - 1].is(".") || all[i - 1].is("?."));
                let key = all.get(i + 1).is_some_and(|t| t.is(":"));
                if !property && !key {
                    return None;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if depth != 0 {
        return None;
    }
    let strings = |name: &str| match values.get(name) {
        None => Some(Vec::new()),
        Some(value) => string_list(value),
    };
    Some(RevisionInfo {
        id: match values.get("id")? {
            [
                Token {
                    kind: Kind::Str(id),
                    ..
                },
            ] => id.clone(),
            _ => return None,
        },
        down_revisions: strings("parents")?,
        message: match values.get("message") {
            None => String::new(),
            Some(
                [
                    Token {
                        kind: Kind::Str(m), ..
                    },
                ],
            ) => m.clone(),
            Some([t]) if t.is("null") => String::new(),
            Some(_) => return None,
        },
        branch_labels: strings("branchLabels")?,
        depends_on: strings("dependsOn")?,
        transactional: match values.get("transactional") {
            None => true,
            Some([t]) if t.is("false") => false,
            Some([t]) if t.is("true") || t.is("null") => true,
            Some(_) => return None,
        },
    })
}

/// The tokens of the literal assigned from `start` and the index of the
/// next statement, when the statement ends right after the literal.
fn value(all: &[Token], start: usize) -> Option<(&[Token], usize)> {
    let first = all.get(start)?;
    let end = if first.is("[") {
        start + all[start..].iter().position(|t| t.is("]"))? + 1
    } else {
        start + 1
    };
    let value = &all[start..end];
    match all.get(end) {
        None => Some((value, end)),
        Some(t) if t.is(";") => Some((value, end + 1)),
        // A line break ends the statement only before what cannot continue
        // the expression (`'a'\n['b']` would index the string).
        Some(
            t @ Token {
                kind: Kind::Name(name),
                ..
            },
        ) if t.after_newline && name != "in" && name != "instanceof" => Some((value, end)),
        Some(_) => None,
    }
}

/// A string, `null`, or an array of strings (a trailing comma allowed).
fn string_list(value: &[Token]) -> Option<Vec<String>> {
    match value {
        [
            Token {
                kind: Kind::Str(s), ..
            },
        ] => Some(vec![s.clone()]),
        [t] if t.is("null") => Some(Vec::new()),
        [open, items @ .., close] if open.is("[") && close.is("]") => {
            let mut out = Vec::new();
            let mut expect_item = true;
            for item in items {
                match &item.kind {
                    Kind::Str(s) if expect_item => out.push(s.clone()),
                    Kind::Punct(",") if !expect_item => {}
                    _ => return None,
                }
                expect_item = !expect_item;
            }
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_metadata_is_read() {
        let info = read_js(
            "'use strict';\n// exports.id = 'not this'\n/* exports.id = 'nor this' */\nexports.id = 'f00000000001';\nexports.parents = ['a', \"b\",];\nexports.message = 'add \\'things\\''\nexports.branchLabels = null;\nexports.transactional = false;\n\nexports.upgrade = () => {\n  db.execute(`CREATE TABLE ${name} (id INTEGER)`, [{ id: 1 }]);\n  x.id = 3;\n};\nexports.downgrade = function () {};\n",
        )
        .unwrap();
        assert_eq!(info.id, "f00000000001");
        assert_eq!(info.down_revisions, ["a", "b"]);
        assert_eq!(info.message, "add 'things'");
        assert!(info.branch_labels.is_empty() && info.depends_on.is_empty());
        assert!(!info.transactional);
        let single = read_js("exports.id = \"x\"\nexports.parents = 'p'\n").unwrap();
        assert_eq!(single.down_revisions, ["p"]);
        assert!(single.transactional);
    }

    #[test]
    fn anything_that_is_not_certain_is_left_to_the_interpreter() {
        for source in [
            "exports.id = 'a';\nexports.id = 'b';\n",
            "exports.id = 'a';\nif (x) {\nexports.id = 'b';\n}\n",
            "exports.id = 'a';\nif (x)\nexports.message = 'b';\n",
            "exports.id = 'a';\nfunction f() { exports.parents = ['b']; }\n",
            "module.exports = { id: 'a' };\n",
            "exports.id = 'a';\nObject.assign(exports, { parents: ['b'] });\n",
            "const e = exports;\ne.id = 'a';\n",
            "exports.id = 'a' + 'b';\n",
            "exports.id = 'a'\n['b'];\n",
            "exports.id = 'a', exports.parents = 'b';\n",
            "exports.id = `a`;\n",
            "exports.id = 'a';\nexports.parents = compute();\n",
            "exports.id = 'a';\nexports.transactional = 0;\n",
            "exports.id = 'a';\nexports.message = undefined;\n",
            "exports.id = '\\u0061';\n",
            "exports.id = 'a';\nexports.__proto__ = p;\n",
            "exports.id = 'a';\nexports.upgrade = () => eval('exports.id = \"b\"');\n",
            "exports.id = 'a';\nconst r = /exports.id = 'b'/;\n",
            "exports.id = 'a';\nexports.x = 1 / 2;\n",
            "exports.id = 'a';\nexports?.parents;\n",
            "exports.id += 'a';\n",
            "exports.id = 'a';\nparents = ['b'];\n",
            "exports.id = 'a';\nconst s = `${ exports.parents = ['b'] }`;\n",
            "exports.message = 'no id';\n",
            "exports.id = 'a';\n{\n",
            "exports.id = 'a';\nexports.upgrade = function ( {};\n",
        ] {
            assert_eq!(read_js(source), None, "{source}");
        }
    }
}
