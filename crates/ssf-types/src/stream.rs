//! Stream management objects ([SSF 1.0 §8.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1))
//! and delivery configuration ([SSF 1.0 §6.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-6.1)).
//!
//! One [`StreamConfiguration`] type serves create, read, update (PATCH) and replace (PUT) bodies
//! and responses, so every property is optional; [`StreamConfiguration::RECEIVER_SUPPLIED`] and
//! [`StreamConfiguration::TRANSMITTER_SUPPLIED`] say who owns which, and
//! [`StreamConfiguration::check_transmitter_fields`] / [`StreamConfiguration::apply_update`] /
//! [`StreamConfiguration::apply_replace`] implement the PATCH/PUT rules (SSF-STREAM-34, 36, 41).

mod delivery;
mod requests;

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

pub use self::{
    delivery::{AuthorizationHeader, Delivery, DeliveryMethod, PollDelivery, PushDelivery},
    requests::{
        AddSubjectRequest, RemoveSubjectRequest, StatusRequest, StatusResponse, VerificationRequest,
    },
};
use crate::{
    body::{self, deserialize_via_from_json},
    error::BodyError,
    ids::{EventTypeUri, Issuer, StreamId},
    mode::ParseMode,
    set::Audience,
    subject::Extra,
};

crate::open_enum! {
    /// A stream's status (SSF 1.0 §8.1.2.1, SSF-STATUS-02). Unknown values are kept where a peer
    /// reports them; a status update request with one is refused (D-18), and so is a
    /// stream-updated event (TV-NEG-23).
    pub enum StreamStatus {
        /// Events are transmitted.
        Enabled = "enabled",
        /// Nothing is transmitted; events are held (SSF-STATUS-11/12).
        Paused = "paused",
        /// Nothing is transmitted or held (SSF-STATUS-15).
        Disabled = "disabled",
    }
}

/// Who supplies a stream configuration property (SSF 1.0 §8.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Supplier {
    /// The receiver sets it (create, PATCH, PUT).
    Receiver,
    /// The transmitter sets it; a receiver may echo it, and must echo it unchanged.
    Transmitter,
}

/// A stream configuration ([SSF 1.0 §8.1.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.1)).
/// Unknown properties are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct StreamConfiguration {
    /// `stream_id` (T, SSF-STREAM-01).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<StreamId>,
    /// `iss` (T, SSF-STREAM-02).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<Issuer>,
    /// `aud` (T, SSF-STREAM-03; cannot be updated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// `events_supported` (T, SSF-STREAM-04).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_supported: Option<Vec<EventTypeUri>>,
    /// `events_requested` (R, SSF-STREAM-05).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_requested: Option<Vec<EventTypeUri>>,
    /// `events_delivered` (T, SSF-STREAM-06).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_delivered: Option<Vec<EventTypeUri>>,
    /// `delivery` (R: method, push URL and authorization; T: poll URL; SSF-STREAM-07).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// `min_verification_interval`, seconds (T, SSF-STREAM-08).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_verification_interval: Option<u64>,
    /// `description` (R, SSF-STREAM-09).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `inactivity_timeout`, seconds (T, SSF-STREAM-10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactivity_timeout: Option<u64>,
    /// Unknown properties, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_via_from_json!(StreamConfiguration);

impl StreamConfiguration {
    /// Receiver-supplied properties (SSF-STREAM-23): all a create request may hold.
    pub const RECEIVER_SUPPLIED: &'static [&'static str] =
        &["events_requested", "delivery", "description"];
    /// Transmitter-supplied properties (SSF-STREAM-23, 36).
    pub const TRANSMITTER_SUPPLIED: &'static [&'static str] = &[
        "stream_id",
        "iss",
        "aud",
        "events_supported",
        "events_delivered",
        "min_verification_interval",
        "inactivity_timeout",
    ];

    /// An empty configuration (e.g. a create request to fill in).
    pub fn new() -> Self {
        Self::default()
    }

    /// Who supplies the property `name`; `None` for a property SSF does not define.
    pub fn supplier(name: &str) -> Option<Supplier> {
        if Self::RECEIVER_SUPPLIED.contains(&name) {
            Some(Supplier::Receiver)
        } else if Self::TRANSMITTER_SUPPLIED.contains(&name) {
            Some(Supplier::Transmitter)
        } else {
            None
        }
    }

    /// Parses a configuration. In strict mode the ID1 delivery keys (`delivery_method`, `url`)
    /// and the RISC delivery-method URIs are refused (TV-NEG-26); legacy mode maps them to the
    /// final names. A push `delivery` without `endpoint_url` is refused (SSF-STREAM-20).
    pub fn from_json(value: &Value, mode: ParseMode) -> Result<Self, BodyError> {
        let mut map = body::object(value, "stream configuration")?;
        let delivery = match map.remove("delivery") {
            None | Some(Value::Null) => None,
            Some(d) => Some(Delivery::from_json(&d, mode)?),
        };
        Ok(Self {
            stream_id: body::take(&mut map, "stream_id")?,
            iss: body::take(&mut map, "iss")?,
            aud: body::take(&mut map, "aud")?,
            events_supported: body::take(&mut map, "events_supported")?,
            events_requested: body::take(&mut map, "events_requested")?,
            events_delivered: body::take(&mut map, "events_delivered")?,
            delivery,
            min_verification_interval: body::take(&mut map, "min_verification_interval")?,
            description: body::take(&mut map, "description")?,
            inactivity_timeout: body::take(&mut map, "inactivity_timeout")?,
            extra: body::rest(map),
        })
    }

    /// Parses JSON bytes; see [`Self::from_json`].
    pub fn from_slice(bytes: &[u8], mode: ParseMode) -> Result<Self, BodyError> {
        Self::from_json(&body::parse_bytes(bytes)?, mode)
    }

    /// The names of the transmitter-supplied properties present. A receiver's create request
    /// must have none (SSF-STREAM-23; CONF fails it); a transmitter ignores and logs them on
    /// create (D-02).
    pub fn transmitter_supplied_present(&self) -> Vec<&'static str> {
        let present = [
            self.stream_id.is_some(),
            self.iss.is_some(),
            self.aud.is_some(),
            self.events_supported.is_some(),
            self.events_delivered.is_some(),
            self.min_verification_interval.is_some(),
            self.inactivity_timeout.is_some(),
        ];
        Self::TRANSMITTER_SUPPLIED
            .iter()
            .zip(present)
            .filter_map(|(name, p)| p.then_some(*name))
            .collect()
    }

    /// Only the receiver-supplied properties (and unknown ones): the body a receiver sends to
    /// create or replace a stream (SSF-STREAM-23, 40).
    #[must_use]
    pub fn receiver_supplied(&self) -> Self {
        Self {
            events_requested: self.events_requested.clone(),
            delivery: self.delivery.clone(),
            description: self.description.clone(),
            extra: self.extra.clone(),
            ..Self::default()
        }
    }

    /// The `stream_id` a PATCH or PUT body must carry (SSF-STREAM-33, 40).
    pub fn require_stream_id(&self) -> Result<&StreamId, BodyError> {
        self.stream_id
            .as_ref()
            .ok_or(BodyError::MissingField("stream_id"))
    }

    /// SSF-STREAM-36/42: every transmitter-supplied property present in this PATCH/PUT body,
    /// other than `stream_id`, must equal its value in `current` (arrays compared as sets, `aud`
    /// by its values); absent ones are ignored. A poll `delivery.endpoint_url` is
    /// transmitter-supplied too. A mismatch is `400` (TV-STREAM-09).
    pub fn check_transmitter_fields(&self, current: &Self) -> Result<(), BodyError> {
        fn same<T: PartialEq>(body: Option<&T>, current: Option<&T>) -> bool {
            body.is_none() || body == current
        }
        fn same_set(body: Option<&Vec<EventTypeUri>>, current: Option<&Vec<EventTypeUri>>) -> bool {
            fn set(v: &[EventTypeUri]) -> BTreeSet<&EventTypeUri> {
                v.iter().collect()
            }
            body.is_none_or(|b| current.is_some_and(|c| set(b) == set(c)))
        }
        let mismatch = BodyError::TransmitterFieldMismatch;
        if !same(self.iss.as_ref(), current.iss.as_ref()) {
            return Err(mismatch("iss"));
        }
        if let Some(aud) = &self.aud
            && !current.aud.as_ref().is_some_and(|c| aud.same_values(c))
        {
            return Err(mismatch("aud"));
        }
        if !same_set(
            self.events_supported.as_ref(),
            current.events_supported.as_ref(),
        ) {
            return Err(mismatch("events_supported"));
        }
        if !same_set(
            self.events_delivered.as_ref(),
            current.events_delivered.as_ref(),
        ) {
            return Err(mismatch("events_delivered"));
        }
        if !same(
            self.min_verification_interval.as_ref(),
            current.min_verification_interval.as_ref(),
        ) {
            return Err(mismatch("min_verification_interval"));
        }
        if !same(
            self.inactivity_timeout.as_ref(),
            current.inactivity_timeout.as_ref(),
        ) {
            return Err(mismatch("inactivity_timeout"));
        }
        if let (Some(Delivery::Poll(body)), Some(Delivery::Poll(cur))) =
            (&self.delivery, &current.delivery)
            && body.endpoint_url.is_some()
            && body.endpoint_url != cur.endpoint_url
        {
            return Err(mismatch("delivery.endpoint_url"));
        }
        Ok(())
    }

    /// PATCH (SSF-STREAM-34): every receiver-supplied property present in `patch` replaces the
    /// current one, absent ones stay. Unknown properties are merged. Transmitter-supplied
    /// properties are not touched: check them first with [`Self::check_transmitter_fields`],
    /// then recompute `events_delivered` (SSF-STREAM-37).
    pub fn apply_update(&mut self, patch: &Self) {
        if let Some(v) = &patch.events_requested {
            self.events_requested = Some(v.clone());
        }
        if let Some(v) = &patch.delivery {
            self.delivery = Some(v.clone());
        }
        if let Some(v) = &patch.description {
            self.description = Some(v.clone());
        }
        self.extra
            .extend(patch.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// PUT (SSF-STREAM-41): the receiver-supplied properties become exactly those of
    /// `replacement`; an absent one is deleted. An absent `delivery` becomes `None`: the caller
    /// applies the create default (poll, D-03). Transmitter-supplied properties are not touched.
    pub fn apply_replace(&mut self, replacement: &Self) {
        self.events_requested = replacement.events_requested.clone();
        self.delivery = replacement.delivery.clone();
        self.description = replacement.description.clone();
        self.extra = replacement.extra.clone();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn current() -> StreamConfiguration {
        StreamConfiguration::from_json(
            &json!({"stream_id": "s1", "iss": "https://tx", "aud": ["a", "b"],
                    "events_supported": ["urn:1", "urn:2"], "events_delivered": ["urn:1"],
                    "delivery": {"method": "urn:ietf:rfc:8936", "endpoint_url": "https://tx/poll/s1"},
                    "description": "old"}),
            ParseMode::Strict,
        )
        .unwrap()
    }

    fn body(v: Value) -> StreamConfiguration {
        StreamConfiguration::from_json(&v, ParseMode::Strict).unwrap()
    }

    #[test]
    fn transmitter_fields_must_match_ssf_stream_36() {
        let cur = current();
        assert!(
            body(json!({"stream_id": "s1", "aud": ["b", "a"], "iss": "https://tx"}))
                .check_transmitter_fields(&cur)
                .is_ok()
        );
        assert!(
            body(json!({"events_delivered": ["urn:1"]}))
                .check_transmitter_fields(&cur)
                .is_ok()
        );
        for (field, v) in [
            ("aud", json!({"aud": "a"})),
            ("iss", json!({"iss": "https://other"})),
            ("events_supported", json!({"events_supported": ["urn:1"]})),
            ("events_delivered", json!({"events_delivered": ["urn:2"]})),
            (
                "min_verification_interval",
                json!({"min_verification_interval": 5}),
            ),
            ("inactivity_timeout", json!({"inactivity_timeout": 5})),
            (
                "delivery.endpoint_url",
                json!({"delivery": {"method": "urn:ietf:rfc:8936", "endpoint_url": "https://x"}}),
            ),
        ] {
            assert_eq!(
                body(v).check_transmitter_fields(&cur),
                Err(BodyError::TransmitterFieldMismatch(field))
            );
        }
    }

    #[test]
    fn patch_and_put_semantics_ssf_stream_34_41() {
        let mut patched = current();
        patched.apply_update(&body(
            json!({"stream_id": "s1", "events_requested": ["urn:2"]}),
        ));
        assert_eq!(patched.description.as_deref(), Some("old"));
        assert_eq!(
            patched.events_requested,
            Some(vec![EventTypeUri::new("urn:2")])
        );
        let mut replaced = current();
        replaced.apply_replace(&body(
            json!({"stream_id": "s1", "events_requested": ["urn:2"]}),
        ));
        assert_eq!(replaced.description, None);
        assert_eq!(replaced.delivery, None);
        assert_eq!(
            replaced.aud,
            current().aud,
            "transmitter-supplied properties stay"
        );
    }

    #[test]
    fn suppliers_ssf_stream_23() {
        assert_eq!(
            StreamConfiguration::supplier("delivery"),
            Some(Supplier::Receiver)
        );
        assert_eq!(
            StreamConfiguration::supplier("aud"),
            Some(Supplier::Transmitter)
        );
        assert_eq!(StreamConfiguration::supplier("format"), None);
        let cur = current();
        assert_eq!(
            cur.transmitter_supplied_present(),
            [
                "stream_id",
                "iss",
                "aud",
                "events_supported",
                "events_delivered"
            ]
        );
        assert!(
            cur.receiver_supplied()
                .transmitter_supplied_present()
                .is_empty()
        );
        assert!(StreamConfiguration::new().require_stream_id().is_err());
    }

    #[test]
    fn wrong_types_are_named() {
        let err = StreamConfiguration::from_json(
            &json!({"min_verification_interval": -1}),
            ParseMode::Strict,
        );
        assert!(matches!(
            err,
            Err(BodyError::InvalidField {
                field: "min_verification_interval",
                ..
            })
        ));
        assert!(StreamConfiguration::from_json(&json!([]), ParseMode::Strict).is_err());
        assert!(StreamConfiguration::from_slice(b"{", ParseMode::Strict).is_err());
    }
}
