//! MySQL and MariaDB literal forms.

/// Sent before anything else in an offline script, so `'Zoë'` arrives as UTF-8.
pub(super) const PREAMBLE: &[&str] = &["SET NAMES utf8mb4"];

pub(super) fn boolean(b: bool) -> &'static str {
    if b { "TRUE" } else { "FALSE" }
}

/// `'...'` with quotes doubled. Text holding a backslash or NUL becomes
/// `CONVERT(X'..' USING utf8mb4)`: MySQL reads backslashes as escapes unless
/// `NO_BACKSLASH_ESCAPES` is set, and hex means the same bytes in both modes.
pub(super) fn text(s: &str) -> String {
    if s.contains(['\\', '\0']) {
        format!("CONVERT(X'{}' USING utf8mb4)", hex::encode_upper(s))
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}
