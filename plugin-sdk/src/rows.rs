use crate::__private::bindings::retort::migration::types::Rows as WitRows;
use crate::{Error, Value};

/// The rows a [`Db::query`](crate::Db::query) returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    /// Column names, in select-list order.
    pub columns: Vec<String>,
    /// The values, one inner vector per row.
    pub values: Vec<Vec<Value>>,
}

impl Rows {
    pub(crate) fn from_wit(rows: WitRows) -> Self {
        Rows {
            columns: rows.columns,
            values: rows
                .values
                .into_iter()
                .map(|row| row.into_iter().map(Value::from_wit).collect())
                .collect(),
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the query returned no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Iterates over the rows.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.values.iter().map(move |values| Row {
            columns: &self.columns,
            values,
        })
    }
}

/// One row of [`Rows`], with access by column name or index.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl<'a> Row<'a> {
    /// The raw value of a column by name.
    pub fn value(&self, column: &str) -> Option<&'a Value> {
        let index = self.columns.iter().position(|c| c == column)?;
        self.values.get(index)
    }

    /// A column converted to `T`, with an error naming the column when it is
    /// missing or of another type.
    pub fn get<T: FromValue>(&self, column: &str) -> Result<T, Error> {
        let value = self
            .value(column)
            .ok_or_else(|| Error::new(format!("no column `{column}` in the query result")))?;
        T::from_value(value).ok_or_else(|| Error::new(format!("column `{column}` holds {value:?}")))
    }

    /// All values of the row, in column order.
    pub fn values(&self) -> &'a [Value] {
        self.values
    }
}

/// Types a column value converts to.
pub trait FromValue: Sized {
    /// The converted value, or `None` when the value is of another type.
    fn from_value(value: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Option<Self> {
        value.as_i64()
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> Option<Self> {
        value.as_f64()
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Boolean(b) => Some(*b),
            Value::Integer(i) => Some(*i != 0),
            _ => None,
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Option<Self> {
        value.as_str().map(str::to_string)
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Option<Self> {
        value.as_bytes().map(<[u8]>::to_vec)
    }
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Option<Self> {
        Some(value.clone())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Option<Self> {
        if value.is_null() {
            Some(None)
        } else {
            T::from_value(value).map(Some)
        }
    }
}
