//! The host's SQL value: a bound parameter or a returned column.

use std::fmt;

/// One SQL value, as a revision binds it or a query returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A boolean.
    Boolean(bool),
    /// A 64-bit signed integer.
    Integer(i64),
    /// A 64-bit float.
    Float(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Blob(Vec<u8>),
}

/// What one row costs the host besides its values (its vector and the
/// guest's list of them), for result budgets.
pub const ROW_OVERHEAD: usize = 64;

impl Value {
    /// The bytes this value takes as the host holds it, roughly: its text or
    /// bytes plus a fixed cost. What budgets on parameters and rows count.
    pub fn size(&self) -> usize {
        const FIXED: usize = 32;
        match self {
            Value::Text(s) => FIXED + s.len(),
            Value::Blob(b) => FIXED + b.len(),
            _ => FIXED,
        }
    }
}

impl fmt::Display for Value {
    /// A short, human-readable form for error messages (not a SQL literal).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Text(s) => write!(f, "{s:?}"),
            Value::Blob(b) => write!(f, "<{} bytes>", b.len()),
        }
    }
}

/// The rows a query returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names in select-list order.
    pub columns: Vec<String>,
    /// One inner vector per row.
    pub values: Vec<Vec<Value>>,
}

/// An error from the database (or from the host on its behalf) for one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    /// SQLSTATE or driver code, where the database gives one.
    pub code: Option<String>,
    /// The message as the database gave it.
    pub message: String,
    /// The database refused because a lock was not granted in time
    /// (PostgreSQL 55P03, MySQL 1205 or 3572, SQLite busy): rolled back,
    /// the statement may succeed once the lock's holder is done.
    pub lock_wait: bool,
}

impl DbError {
    /// An error raised by the host itself (no database code).
    pub fn host(message: impl Into<String>) -> Self {
        DbError {
            code: None,
            message: message.into(),
            lock_wait: false,
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
