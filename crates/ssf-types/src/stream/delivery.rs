//! The `delivery` object of a stream ([SSF 1.0 §6.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-6.1)).

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{
    body::{self, deserialize_via_from_json},
    error::BodyError,
    mode::ParseMode,
    subject::Extra,
};

crate::open_enum! {
    /// A delivery method URI (SSF 1.0 §6.1). The legacy RISC URIs are accepted only in legacy
    /// mode and mapped to the RFC ones.
    pub enum DeliveryMethod {
        /// Push delivery, RFC 8935.
        Push = "urn:ietf:rfc:8935",
        /// Poll delivery, RFC 8936.
        Poll = "urn:ietf:rfc:8936",
        /// ID1/RISC push URI (legacy).
        LegacyRiscPush = "https://schemas.openid.net/secevent/risc/delivery-method/push",
        /// ID1/RISC poll URI (legacy).
        LegacyRiscPoll = "https://schemas.openid.net/secevent/risc/delivery-method/poll",
    }
}

impl DeliveryMethod {
    /// A legacy RISC URI.
    pub fn is_legacy(&self) -> bool {
        matches!(self, Self::LegacyRiscPush | Self::LegacyRiscPoll)
    }

    /// The final 1.0 URI of the same method.
    #[must_use]
    pub fn canonical(&self) -> Self {
        match self {
            Self::LegacyRiscPush => Self::Push,
            Self::LegacyRiscPoll => Self::Poll,
            other => other.clone(),
        }
    }
}

/// The value a transmitter sends as the HTTP `Authorization` header on every push
/// (SSF 1.0 §6.1.1, SSF-STREAM-17). A secret: `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuthorizationHeader(String);

impl AuthorizationHeader {
    /// Wraps the full header value, e.g. `Bearer eyJ…`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, to put in the request header (and nowhere else).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthorizationHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthorizationHeader([redacted])")
    }
}

/// Push delivery settings (RFC 8935; SSF 1.0 §6.1.1, SSF-STREAM-15).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushDelivery {
    /// The receiver's endpoint (REQUIRED, SSF-STREAM-20).
    pub endpoint_url: String,
    /// Sent as `Authorization` on every push when present (SSF-STREAM-17/18).
    pub authorization_header: Option<AuthorizationHeader>,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl PushDelivery {
    /// Push to `endpoint_url`, without authorization.
    pub fn new(endpoint_url: impl Into<String>) -> Self {
        Self {
            endpoint_url: endpoint_url.into(),
            authorization_header: None,
            extra: Extra::new(),
        }
    }

    /// This delivery with an `authorization_header`.
    #[must_use]
    pub fn with_authorization(mut self, header: AuthorizationHeader) -> Self {
        self.authorization_header = Some(header);
        self
    }
}

/// Poll delivery settings (RFC 8936; SSF 1.0 §6.1.2, SSF-STREAM-19).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PollDelivery {
    /// The transmitter's poll URL, unique per stream; absent in a receiver's request.
    pub endpoint_url: Option<String>,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl PollDelivery {
    /// Poll delivery with the transmitter's URL (`None` in a receiver's request).
    pub fn new(endpoint_url: Option<String>) -> Self {
        Self {
            endpoint_url,
            extra: Extra::new(),
        }
    }
}

/// A stream's `delivery` object (SSF 1.0 §6.1, SSF-STREAM-07).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// `urn:ietf:rfc:8935`.
    Push(PushDelivery),
    /// `urn:ietf:rfc:8936`.
    Poll(PollDelivery),
    /// Another method, kept verbatim; a transmitter may answer `400` (SSF-STREAM-26).
    Other {
        /// The `method` value.
        method: String,
        /// The other members.
        members: Extra,
    },
}

deserialize_via_from_json!(Delivery);

impl Delivery {
    /// The method URI.
    pub fn method(&self) -> DeliveryMethod {
        match self {
            Self::Push(_) => DeliveryMethod::Push,
            Self::Poll(_) => DeliveryMethod::Poll,
            Self::Other { method, .. } => DeliveryMethod::from(method.as_str()),
        }
    }

    /// Parses a `delivery` object. Strict mode refuses the ID1 keys `delivery_method`/`url` and
    /// the RISC method URIs (TV-NEG-26); legacy mode maps them to `method`/`endpoint_url` and the
    /// RFC URIs.
    pub fn from_json(value: &Value, mode: ParseMode) -> Result<Self, BodyError> {
        let mut map = body::object(value, "delivery")?;
        rename_legacy(&mut map, "delivery_method", "method", mode)?;
        rename_legacy(&mut map, "url", "endpoint_url", mode)?;
        let method: String = body::require(&mut map, "method")?;
        let method = DeliveryMethod::from(method);
        if method.is_legacy() && !mode.is_legacy() {
            return Err(BodyError::LegacyDeliveryMethod(method.as_str().to_owned()));
        }
        Ok(match method.canonical() {
            DeliveryMethod::Push => Self::Push(PushDelivery {
                endpoint_url: body::require(&mut map, "endpoint_url")?,
                authorization_header: body::take(&mut map, "authorization_header")?,
                extra: body::rest(map),
            }),
            DeliveryMethod::Poll => Self::Poll(PollDelivery {
                endpoint_url: body::take(&mut map, "endpoint_url")?,
                extra: body::rest(map),
            }),
            other => Self::Other {
                method: other.as_str().to_owned(),
                members: body::rest(map),
            },
        })
    }

    /// The `delivery` object in the final format.
    pub fn to_json(&self) -> Map<String, Value> {
        let (extra, fields): (&Extra, Vec<(&str, Value)>) = match self {
            Self::Push(p) => {
                let mut f = vec![("endpoint_url", Value::from(p.endpoint_url.as_str()))];
                if let Some(h) = &p.authorization_header {
                    f.push(("authorization_header", h.expose().into()));
                }
                (&p.extra, f)
            }
            Self::Poll(p) => (
                &p.extra,
                p.endpoint_url
                    .iter()
                    .map(|u| ("endpoint_url", u.as_str().into()))
                    .collect(),
            ),
            Self::Other { members, .. } => (members, Vec::new()),
        };
        let mut map: Map<String, Value> =
            extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (k, v) in fields {
            map.insert(k.to_owned(), v);
        }
        map.insert("method".to_owned(), self.method().as_str().into());
        map
    }
}

impl Serialize for Delivery {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// Renames an ID1 member in legacy mode, or refuses it in strict mode, when the final one is
/// absent.
fn rename_legacy(
    map: &mut Map<String, Value>,
    legacy: &'static str,
    current: &'static str,
    mode: ParseMode,
) -> Result<(), BodyError> {
    if map.contains_key(current) || !map.contains_key(legacy) {
        return Ok(());
    }
    if !mode.is_legacy() {
        return Err(BodyError::LegacyMember {
            member: legacy,
            replacement: current,
        });
    }
    if let Some(v) = map.remove(legacy) {
        map.insert(current.to_owned(), v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn push_needs_an_endpoint_ssf_stream_20() {
        let v = json!({"method": "urn:ietf:rfc:8935"});
        assert_eq!(
            Delivery::from_json(&v, ParseMode::Strict),
            Err(BodyError::MissingField("endpoint_url"))
        );
        assert_eq!(
            Delivery::from_json(&json!({}), ParseMode::Strict),
            Err(BodyError::MissingField("method"))
        );
    }

    #[test]
    fn authorization_header_is_redacted_in_debug() {
        let p = PushDelivery::new("https://rx/events")
            .with_authorization(AuthorizationHeader::new("Bearer s3cr3t"));
        let d = Delivery::Push(p);
        assert!(!format!("{d:?}").contains("s3cr3t"));
        assert_eq!(d.to_json()["authorization_header"], json!("Bearer s3cr3t"));
    }

    #[test]
    fn other_methods_are_kept() {
        let v = json!({"method": "urn:example:carrier-pigeon", "coop": 7});
        let d = Delivery::from_json(&v, ParseMode::Strict).unwrap();
        assert_eq!(
            d.method(),
            DeliveryMethod::from("urn:example:carrier-pigeon")
        );
        assert_eq!(Value::Object(d.to_json()), v);
    }

    #[test]
    fn legacy_risc_uris_only_in_legacy_mode() {
        let v = json!({"method": "https://schemas.openid.net/secevent/risc/delivery-method/poll"});
        assert!(matches!(
            Delivery::from_json(&v, ParseMode::Strict),
            Err(BodyError::LegacyDeliveryMethod(_))
        ));
        assert_eq!(
            Delivery::from_json(&v, ParseMode::Legacy),
            Ok(Delivery::Poll(PollDelivery::new(None)))
        );
    }
}
