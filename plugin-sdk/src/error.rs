use std::fmt;

use crate::__private::bindings::retort::migration::types::DbError as WitDbError;

/// An error the database reported for one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    /// The SQLSTATE or driver error code, where the database gives one.
    pub code: Option<String>,
    /// The database's message.
    pub message: String,
}

impl DbError {
    pub(crate) fn from_wit(e: WitDbError) -> Self {
        DbError {
            code: e.code,
            message: e.message,
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} (code {code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DbError {}

/// Why a revision failed: a database error or the revision's own message.
///
/// Anything that is a [`DbError`], a `String` or a `&str` converts with `?`
/// or `.into()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        Error::new(e.to_string())
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::new(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::new(message)
    }
}

/// The result of a revision step.
pub type Result<T, E = Error> = std::result::Result<T, E>;
