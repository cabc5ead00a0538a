//! What several events share: the CAEP common optional claims
//! ([CAEP §2](https://openid.net/specs/openid-caep-1_0.html#section-2)), language maps, and the
//! field reader/writer used by every event parser.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{error::EventError, subject::Extra, time::is_probably_millis};

crate::open_enum! {
    /// Who or what started the change: CAEP `initiating_entity` (CAEP §2, CAEP-02). Closed: a
    /// strict parse refuses other values (CAEP-05, TV-NEG-08).
    pub enum InitiatingEntity {
        /// An administrator.
        Admin = "admin",
        /// The user.
        User = "user",
        /// A policy evaluation.
        Policy = "policy",
        /// A system or platform process.
        System = "system",
    }
}

/// A localized message: BCP 47 language tag -> text, with at least one member
/// (`reason_admin`, `reason_user`; CAEP §2, CAEP-03/04).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReasonMap(BTreeMap<String, String>);

impl ReasonMap {
    /// A map with one message.
    pub fn new(language: impl Into<String>, text: impl Into<String>) -> Self {
        Self(BTreeMap::from([(language.into(), text.into())]))
    }

    /// This map with another message.
    #[must_use]
    pub fn with(mut self, language: impl Into<String>, text: impl Into<String>) -> Self {
        self.0.insert(language.into(), text.into());
        self
    }

    /// The message in `language` (exact tag).
    pub fn get(&self, language: &str) -> Option<&str> {
        self.0.get(language).map(String::as_str)
    }

    /// Every (language, message) pair.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// The optional claims every CAEP event may carry ([CAEP §2](https://openid.net/specs/openid-caep-1_0.html#section-2)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CaepCommon {
    /// `event_timestamp`: seconds since the epoch of the specific change (CAEP-01, CAEP-20).
    /// Milliseconds from old drafts are accepted; see [`Self::is_probably_millis`].
    pub event_timestamp: Option<i64>,
    /// `initiating_entity` (CAEP-02).
    pub initiating_entity: Option<InitiatingEntity>,
    /// `reason_admin`: for logs and audit (CAEP-03).
    pub reason_admin: Option<ReasonMap>,
    /// `reason_user`: for the end user (CAEP-04).
    pub reason_user: Option<ReasonMap>,
}

impl CaepCommon {
    /// No optional claim set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `event_timestamp` looks like milliseconds (> about 10^11; CAEP-06, D-19,
    /// TV-NEG-10). Accepted anyway; the receiver logs a warning.
    pub fn is_probably_millis(&self) -> bool {
        self.event_timestamp.is_some_and(is_probably_millis)
    }

    pub(crate) fn read(f: &mut Fields) -> Result<Self, EventError> {
        let initiating_entity: Option<InitiatingEntity> = f.opt_enum("initiating_entity")?;
        if let Some(e) = &initiating_entity {
            closed("initiating_entity", e.is_known(), e.as_str())?;
        }
        Ok(Self {
            event_timestamp: f.opt_i64("event_timestamp")?,
            initiating_entity,
            reason_admin: f.opt_reason("reason_admin")?,
            reason_user: f.opt_reason("reason_user")?,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.opt("event_timestamp", self.event_timestamp);
        w.opt(
            "initiating_entity",
            self.initiating_entity.as_ref().map(|e| e.as_str()),
        );
        w.opt_json("reason_admin", self.reason_admin.as_ref());
        w.opt_json("reason_user", self.reason_user.as_ref());
    }
}

/// Refuses a value outside a closed enumeration (CAEP-05).
pub(crate) fn closed(field: &'static str, known: bool, value: &str) -> Result<(), EventError> {
    if known {
        Ok(())
    } else {
        Err(EventError::OutOfRange {
            field,
            value: value.to_owned(),
        })
    }
}

/// Reads typed fields out of an event object; what is left over is kept as `extra`.
#[derive(Debug)]
pub(crate) struct Fields(Map<String, Value>);

impl Fields {
    pub(crate) fn new(value: &Value) -> Result<Self, EventError> {
        value
            .as_object()
            .cloned()
            .map(Self)
            .ok_or(EventError::NotAnObject)
    }

    pub(crate) fn opt_string(&mut self, field: &'static str) -> Result<Option<String>, EventError> {
        match self.0.remove(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(EventError::WrongType {
                field,
                expected: "a string",
            }),
        }
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, EventError> {
        self.opt_string(field)?
            .ok_or(EventError::MissingField(field))
    }

    pub(crate) fn opt_enum<T: From<String>>(
        &mut self,
        field: &'static str,
    ) -> Result<Option<T>, EventError> {
        Ok(self.opt_string(field)?.map(T::from))
    }

    pub(crate) fn enum_<T: From<String>>(&mut self, field: &'static str) -> Result<T, EventError> {
        Ok(T::from(self.string(field)?))
    }

    pub(crate) fn opt_i64(&mut self, field: &'static str) -> Result<Option<i64>, EventError> {
        match self.0.remove(field) {
            None => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(_) => Err(EventError::WrongType {
                field,
                expected: "an integer (seconds)",
            }),
        }
    }

    pub(crate) fn opt_string_array(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Vec<String>>, EventError> {
        let wrong = EventError::WrongType {
            field,
            expected: "an array of strings",
        };
        match self.0.remove(field) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(wrong.clone()),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(wrong),
        }
    }

    /// A required, non-empty JSON object.
    pub(crate) fn object(&mut self, field: &'static str) -> Result<Map<String, Value>, EventError> {
        match self.0.remove(field) {
            None => Err(EventError::MissingField(field)),
            Some(Value::Object(o)) if o.is_empty() => Err(EventError::Empty(field)),
            Some(Value::Object(o)) => Ok(o),
            Some(_) => Err(EventError::WrongType {
                field,
                expected: "a JSON object",
            }),
        }
    }

    pub(crate) fn opt_reason(
        &mut self,
        field: &'static str,
    ) -> Result<Option<ReasonMap>, EventError> {
        let expected = "a JSON object of language tag -> string";
        let map = match self.0.remove(field) {
            None => return Ok(None),
            Some(Value::Object(map)) => map,
            Some(_) => return Err(EventError::WrongType { field, expected }),
        };
        if map.is_empty() {
            return Err(EventError::Empty(field));
        }
        let mut out = BTreeMap::new();
        for (tag, text) in map {
            if !is_language_tag(&tag) {
                return Err(EventError::InvalidLanguageTag { field, tag });
            }
            match text {
                Value::String(text) => out.insert(tag, text),
                _ => return Err(EventError::WrongType { field, expected }),
            };
        }
        Ok(Some(ReasonMap(out)))
    }

    pub(crate) fn rest(self) -> Extra {
        self.0.into_iter().collect()
    }
}

/// BCP 47 syntax, loosely: subtags of 1 to 8 ASCII letters or digits joined by `-`, the first
/// made of letters (`en`, `es-410`, `zh-Hant-TW`, `x-klingon` …).
fn is_language_tag(tag: &str) -> bool {
    let mut subtags = tag.split('-');
    let first_ok = subtags
        .next()
        .is_some_and(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok
        && subtags
            .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Builds an event object: unknown members first, typed fields over them.
#[derive(Debug)]
pub(crate) struct Writer(Map<String, Value>);

impl Writer {
    pub(crate) fn new(extra: &Extra) -> Self {
        Self(extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    pub(crate) fn put(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_owned(), value.into());
    }

    pub(crate) fn opt(&mut self, key: &str, value: Option<impl Into<Value>>) {
        if let Some(v) = value {
            self.put(key, v);
        }
    }

    pub(crate) fn opt_json(&mut self, key: &str, value: Option<&impl Serialize>) {
        if let Some(v) = value.and_then(|v| serde_json::to_value(v).ok()) {
            self.put(key, v);
        }
    }

    pub(crate) fn finish(self) -> Map<String, Value> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn language_tags_caep_03() {
        for ok in ["en", "es-410", "zh-Hant-TW", "x-klingon", "it"] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in ["", "-en", "en-", "en_US", "toolongtag1", "1en", "en us"] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }

    #[test]
    fn reason_maps_must_be_non_empty_objects_of_strings() {
        let read =
            |v: Value| Fields::new(&json!({ "reason_admin": v }))?.opt_reason("reason_admin");
        assert!(read(json!({"en": "x"})).unwrap().is_some());
        assert_eq!(read(json!({})), Err(EventError::Empty("reason_admin")));
        assert!(matches!(
            read(json!("x")),
            Err(EventError::WrongType { .. })
        ));
        assert!(matches!(
            read(json!({"en": 1})),
            Err(EventError::WrongType { .. })
        ));
        assert!(matches!(
            read(json!({"en us": "x"})),
            Err(EventError::InvalidLanguageTag { .. })
        ));
    }
}
