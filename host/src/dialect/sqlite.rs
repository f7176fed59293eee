//! SQLite's literal forms.

/// SQLite has no boolean type; a bound `bool` is stored as the integer 0 or 1.
pub(super) fn boolean(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

/// `'...'` with quotes doubled; backslashes are ordinary characters. `None` for NUL.
pub(super) fn text(s: &str) -> Option<String> {
    if s.contains('\0') {
        return None;
    }
    Some(format!("'{}'", s.replace('\'', "''")))
}
