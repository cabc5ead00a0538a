//! Helpers to read JSON bodies member by member, with errors that name the member.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{error::BodyError, subject::Extra};

/// The body as an object.
pub(crate) fn object(value: &Value, what: &'static str) -> Result<Map<String, Value>, BodyError> {
    value
        .as_object()
        .cloned()
        .ok_or(BodyError::NotAnObject(what))
}

/// Removes `field` and deserializes it; `null` counts as absent.
pub(crate) fn take<T: DeserializeOwned>(
    map: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<T>, BodyError> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| BodyError::InvalidField {
                field,
                reason: e.to_string(),
            }),
    }
}

/// Like [`take`], for a required member.
pub(crate) fn require<T: DeserializeOwned>(
    map: &mut Map<String, Value>,
    field: &'static str,
) -> Result<T, BodyError> {
    take(map, field)?.ok_or(BodyError::MissingField(field))
}

/// What is left, kept as unknown members.
pub(crate) fn rest(map: Map<String, Value>) -> Extra {
    map.into_iter().collect()
}

/// Parses JSON bytes into a value.
pub(crate) fn parse_bytes(bytes: &[u8]) -> Result<Value, BodyError> {
    serde_json::from_slice(bytes).map_err(|e| BodyError::InvalidJson(e.into()))
}

/// Implements strict serde `Deserialize` through a type's `from_json(value, mode)`.
macro_rules! deserialize_via_from_json {
    ($ty:ty) => {
        /// Strict parsing (`from_json` with [`ParseMode::Strict`](crate::ParseMode::Strict)).
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = <::serde_json::Value as ::serde::Deserialize>::deserialize(d)?;
                Self::from_json(&value, $crate::mode::ParseMode::Strict)
                    .map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use deserialize_via_from_json;
