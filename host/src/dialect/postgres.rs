//! PostgreSQL's literal forms.

/// Sent before anything else in an offline script.
pub(super) const PREAMBLE: &[&str] = &["SET client_encoding = 'UTF8'"];

pub(super) fn boolean(b: bool) -> &'static str {
    if b { "TRUE" } else { "FALSE" }
}

/// `'...'`, or `E'...'` when the text holds a backslash: an escape string means
/// the same whatever `standard_conforming_strings` is set to. `None` for NUL,
/// which PostgreSQL text cannot hold.
pub(super) fn text(s: &str) -> Option<String> {
    if s.contains('\0') {
        return None;
    }
    let quoted = s.replace('\'', "''");
    Some(if s.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    })
}

/// The hex `bytea` form as an escape string, `E'\\x...'::bytea`.
pub(super) fn blob(b: &[u8]) -> String {
    format!("E'\\\\x{}'::bytea", hex::encode(b))
}
