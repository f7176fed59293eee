//! Text from revisions (messages, logs, errors, SQL) made safe to show: a
//! revision must not be able to drive the operator's terminal (escape
//! sequences that retitle it, clear it or rewrite what was printed) nor end
//! the comment line of an offline script it was written into.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` could act on a terminal or a line-based reader: C0 and C1
/// controls (escape, carriage return, backspace, …), DEL, Unicode line and
/// paragraph separators, and the bidirectional overrides that make text
/// display in another order than it is read.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

/// `text` with every unsafe character but newline and tab written as
/// `\u{…}`: for output that may span lines.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

/// `text` with every unsafe character, newlines included, written as
/// `\u{…}`: for output that must stay on one line (a script's comment).
pub fn one_line(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\t')
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) && !keep(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_escaped() {
        assert_eq!(printable("plain text"), "plain text");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(
            printable("a\u{1b}]0;pwned\u{7}b\u{1b}[2J"),
            "a\\u{1b}]0;pwned\\u{7}b\\u{1b}[2J"
        );
        assert_eq!(printable("two\nlines\ttab"), "two\nlines\ttab");
        assert_eq!(printable("back\rover"), "back\\u{d}over");
        assert_eq!(printable("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(printable("abc\u{202e}fed"), "abc\\u{202e}fed");
    }

    #[test]
    fn one_line_keeps_nothing_that_ends_a_line() {
        for text in [
            "tweak\rDROP TABLE seed; --",
            "tweak\nDROP TABLE seed",
            "tweak\u{b}x\u{c}y\u{85}z\u{2028}w",
        ] {
            let line = one_line(text);
            assert!(!line.chars().any(is_unsafe), "{line:?}");
            assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
        }
        assert_eq!(one_line("a\rb"), "a\\u{d}b");
    }
}
