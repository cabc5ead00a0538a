//! base64url, PEM and strict JSON-object parsing.

use std::fmt;

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde_json::{Map, Value};

/// base64url without padding ([RFC 7515 §2](https://www.rfc-editor.org/rfc/rfc7515#section-2)).
/// Decoding is strict: no padding, no whitespace, no non-canonical trailing bits.
pub(crate) fn b64url_encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends the base64url form of `bytes` to `out`.
pub(crate) fn b64url_encode_into(bytes: impl AsRef<[u8]>, out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// Strict base64url decoding; `None` on any deviation.
pub(crate) fn b64url_decode(text: impl AsRef<[u8]>) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// One PEM block ([RFC 7468](https://www.rfc-editor.org/rfc/rfc7468)).
#[derive(Debug)]
pub(crate) struct PemBlock {
    pub(crate) label: String,
    pub(crate) der: Vec<u8>,
}

/// Encodes DER as a PEM block with 64-character lines (RFC 7468 §2).
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Decodes the first PEM block in `text` (lax about whitespace, strict about labels and base64).
pub(crate) fn pem_decode(text: &str) -> Option<PemBlock> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----")?;
    let label = &rest[..label_end];
    let body_and_end = &rest[label_end + "-----".len()..];
    let end_marker = format!("-----END {label}-----");
    let body_end = body_and_end.find(&end_marker)?;
    let body: String = body_and_end[..body_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if body.contains(':') {
        return None; // RFC 1421 headers (encrypted PEM) are not supported
    }
    let der = STANDARD.decode(body).ok()?;
    Some(PemBlock {
        label: label.to_owned(),
        der,
    })
}

/// Parses `bytes` as a JSON object whose top-level member names are unique.
///
/// RFC 7515 §4 and RFC 7519 §4 require refusing duplicate member names (or taking the last);
/// refusing them avoids parser differentials, e.g. two `iss` claims read differently by two
/// components.
pub(crate) fn parse_unique_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let map = UniqueObject.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(map)
}

struct UniqueObject;

impl<'de> DeserializeSeed<'de> for UniqueObject {
    type Value = Map<String, Value>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for UniqueObject {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with unique member names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value: Value = access.next_value()?;
            if map.insert(key, value).is_some() {
                return Err(de::Error::custom("duplicate member"));
            }
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64url_encode([0xfb, 0xff]), "-_8");
        assert_eq!(b64url_decode("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(b64url_decode("-_8="), None, "padding");
        assert_eq!(b64url_decode("+/8"), None, "standard alphabet");
        assert_eq!(b64url_decode("-_9"), None, "non-canonical trailing bits");
        assert_eq!(b64url_decode("-_ 8"), None, "whitespace");
    }

    #[test]
    fn pem_round_trips() {
        let der: Vec<u8> = (0..=255).collect();
        let pem = pem_encode("PRIVATE KEY", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        let block = pem_decode(&format!("junk before\n{pem}junk after")).unwrap();
        assert_eq!(block.label, "PRIVATE KEY");
        assert_eq!(block.der, der);
        assert!(pem_decode("-----BEGIN X-----\nAAAA\n-----END Y-----\n").is_none());
        assert!(
            pem_decode("-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END X-----")
                .is_none()
        );
    }

    #[test]
    fn duplicate_members_are_refused() {
        assert!(parse_unique_object(br#"{"a":1,"b":{"c":2}}"#).is_some());
        assert!(parse_unique_object(br#"{"a":1,"a":2}"#).is_none());
        assert!(parse_unique_object(br#"[1]"#).is_none());
        assert!(parse_unique_object(br#"{"a":1} x"#).is_none());
        assert!(parse_unique_object(br#"{"a":1}  "#).is_some());
    }
}
