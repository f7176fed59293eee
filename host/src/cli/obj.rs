//! A JSON object that keeps its keys in the order they were added, so every
//! line starts with `"event"` (serde_json's own map sorts them).

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value as Json;

/// A value in an [`Obj`]: plain JSON, or ordered objects.
#[derive(Debug, Clone)]
pub enum Field {
    /// Any JSON value.
    Json(Json),
    /// An ordered object.
    Obj(Obj),
    /// A list of ordered objects.
    List(Vec<Obj>),
}

impl From<Json> for Field {
    fn from(v: Json) -> Self {
        Field::Json(v)
    }
}

impl From<Obj> for Field {
    fn from(v: Obj) -> Self {
        Field::Obj(v)
    }
}

impl From<Vec<Obj>> for Field {
    fn from(v: Vec<Obj>) -> Self {
        Field::List(v)
    }
}

/// An insertion-ordered JSON object.
#[derive(Debug, Clone, Default)]
pub struct Obj(Vec<(String, Field)>);

impl Obj {
    /// `{"event": NAME}`, to which the event's fields are added.
    pub fn event(name: &str) -> Self {
        Obj::default().with("event", Json::from(name))
    }

    /// Adds (or replaces) a field.
    pub fn with(mut self, key: &str, value: impl Into<Field>) -> Self {
        self.set(key, value);
        self
    }

    /// Sets a field, replacing one of the same name in place.
    pub fn set(&mut self, key: &str, value: impl Into<Field>) {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    /// Inserts a field at `index` (e.g. `target` right after `event`).
    pub fn insert(&mut self, index: usize, key: &str, value: impl Into<Field>) {
        self.0.retain(|(k, _)| k != key);
        let index = index.min(self.0.len());
        self.0.insert(index, (key.to_string(), value.into()));
    }

    /// The object as one line of JSON.
    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!("{{\"event\":\"error\",\"error\":\"cannot write JSON: {e}\"}}")
        })
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Json(v) => v.serialize(s),
            Field::Obj(o) => o.serialize(s),
            Field::List(list) => {
                let mut seq = s.serialize_seq(Some(list.len()))?;
                for o in list {
                    seq.serialize_element(o)?;
                }
                seq.end()
            }
        }
    }
}

impl Serialize for Obj {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_keep_their_order() {
        let mut o = Obj::event("plan").with("zeta", json!(1)).with(
            "alpha",
            Obj::default().with("b", json!(2)).with("a", json!(3)),
        );
        o.insert(1, "target", json!("t1"));
        o.set("zeta", json!(4));
        assert_eq!(
            o.line(),
            r#"{"event":"plan","target":"t1","zeta":4,"alpha":{"b":2,"a":3}}"#
        );
    }
}
