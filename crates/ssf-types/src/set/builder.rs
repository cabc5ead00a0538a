//! The transmitter's way to build a SET: always the final 1.0 format.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Audience, SetClaims, Txn};
use crate::{
    error::SetShapeError,
    event::Event,
    ids::{EventTypeUri, Issuer, Jti},
    mode::ParseMode,
    subject::SubjectId,
};

/// Claim names the builder sets itself, or that SSF forbids (SSF-SET-13/14).
const RESERVED: &[&str] = &[
    "iss", "iat", "jti", "aud", "txn", "toe", "sub_id", "events", "sub", "exp",
];

/// Builds [`SetClaims`] in the final 1.0 format ([SSF 1.0 §4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4)):
/// a valid `sub_id` (SSF-SET-12, SSF-SUB-02), exactly one event (SSF-SET-17, CAEPIOP §2.8.1), a
/// string `txn` (SSF-SET-10), never `sub` or `exp` (SSF-SET-13/14), and an event that passes a
/// strict receiver's checks ([`Event::parse`], SSF-RXV-09).
#[derive(Debug, Clone)]
#[must_use]
pub struct SetBuilder {
    iss: Issuer,
    jti: Jti,
    iat: i64,
    sub_id: SubjectId,
    aud: Option<Audience>,
    txn: Option<String>,
    toe: Option<i64>,
    event: Option<(EventTypeUri, Map<String, Value>)>,
    extra: BTreeMap<String, Value>,
}

impl SetBuilder {
    pub(super) fn new(iss: Issuer, jti: Jti, iat: i64, sub_id: SubjectId) -> Self {
        Self {
            iss,
            jti,
            iat,
            sub_id,
            aud: None,
            txn: None,
            toe: None,
            event: None,
            extra: BTreeMap::new(),
        }
    }

    /// Sets `aud` (SSF-SET-07: the stream's `aud`).
    pub fn aud(mut self, aud: impl Into<Audience>) -> Self {
        self.aud = Some(aud.into());
        self
    }

    /// Sets `txn`, a string unique to the underlying cause (SSF-SET-10/11).
    pub fn txn(mut self, txn: impl Into<String>) -> Self {
        self.txn = Some(txn.into());
        self
    }

    /// Sets `toe` (RFC 8417 §2.2).
    pub fn toe(mut self, toe: i64) -> Self {
        self.toe = Some(toe);
        self
    }

    /// Sets the one event from its URI and JSON object, replacing any earlier one. Prefer
    /// [`Self::event`], which serializes a typed event.
    pub fn event_raw(mut self, uri: EventTypeUri, body: Map<String, Value>) -> Self {
        self.event = Some((uri, body));
        self
    }

    /// Sets the one event, replacing any earlier one.
    pub fn event(self, event: &Event) -> Self {
        self.event_raw(event.uri(), event.to_json())
    }

    /// Adds an extra top-level claim (SSF-SET-21). Reserved names (the typed claims, `sub`,
    /// `exp`) make [`Self::build`] fail.
    pub fn claim(mut self, name: impl Into<String>, value: Value) -> Self {
        self.extra.insert(name.into(), value);
        self
    }

    /// The claims, or why they would not be a valid SSF SET.
    pub fn build(self) -> Result<SetClaims, SetShapeError> {
        self.sub_id.validate().map_err(SetShapeError::SubId)?;
        if let Some(name) = self.extra.keys().find(|k| RESERVED.contains(&k.as_str())) {
            return Err(SetShapeError::ForbiddenClaim(name.clone()));
        }
        let (uri, body) = self.event.ok_or(SetShapeError::MissingEvents)?;
        if body.contains_key("subject") {
            // SSF-SET-19: new events never carry a `subject`; our CAEP/RISC output uses `sub_id`.
            return Err(SetShapeError::ForbiddenClaim("events.subject".to_owned()));
        }
        // Never emit what a strict receiver would refuse (empty `claims`, out-of-range values…).
        Event::parse(&uri, &Value::Object(body.clone()), ParseMode::Strict).map_err(|source| {
            SetShapeError::Event {
                uri: uri.to_string(),
                source,
            }
        })?;
        Ok(SetClaims {
            iss: self.iss,
            iat: self.iat,
            jti: self.jti,
            aud: self.aud,
            txn: self.txn.map(Txn::String),
            toe: self.toe,
            sub_id: Some(self.sub_id),
            events: BTreeMap::from([(uri, body)]),
            extra: self.extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::event::{ChangeType, CredentialChange, CredentialType};

    fn builder() -> SetBuilder {
        SetClaims::builder(
            Issuer::new("https://tx.example"),
            Jti::new("j1"),
            1_700_000_000,
            SubjectId::email("a@example.com"),
        )
    }

    #[test]
    fn builds_the_final_format_and_parses_back() {
        let claims = builder()
            .aud("rx")
            .txn("t-1")
            .event_raw(EventTypeUri::new("urn:example:event"), Map::new())
            .build()
            .unwrap();
        let v = claims.to_json();
        assert_eq!(v["txn"], json!("t-1"));
        assert_eq!(
            v["sub_id"],
            json!({"format":"email","email":"a@example.com"})
        );
        assert_eq!(SetClaims::from_json(&v, ParseMode::Strict).unwrap(), claims);
    }

    #[test]
    fn refuses_sub_exp_missing_event_and_bad_subjects_ssf_set_12_13_14() {
        let ev = || (EventTypeUri::new("urn:e"), Map::new());
        let (u, b) = ev();
        assert_eq!(
            builder().event_raw(u, b).claim("exp", json!(1)).build(),
            Err(SetShapeError::ForbiddenClaim("exp".into()))
        );
        let (u, b) = ev();
        assert!(
            builder()
                .event_raw(u, b)
                .claim("sub", json!("x"))
                .build()
                .is_err()
        );
        assert_eq!(builder().build(), Err(SetShapeError::MissingEvents));
        let bad = SetClaims::builder(Issuer::new("i"), Jti::new("j"), 1, SubjectId::email(""));
        let (u, b) = ev();
        assert!(matches!(
            bad.event_raw(u, b).build(),
            Err(SetShapeError::SubId(_))
        ));
        let mut body = Map::new();
        body.insert("subject".into(), json!({"format":"opaque","id":"x"}));
        assert!(
            builder()
                .event_raw(EventTypeUri::new("urn:e"), body)
                .build()
                .is_err()
        );
    }

    #[test]
    fn refuses_events_a_strict_receiver_would_refuse_caep_05() {
        let bad = CredentialChange::new(CredentialType::Password, ChangeType::from("modify"));
        let err = builder()
            .event(&Event::CredentialChange(bad))
            .build()
            .unwrap_err();
        assert!(matches!(err, SetShapeError::Event { .. }));
        let ok = CredentialChange::new(CredentialType::from("bilateral-token"), ChangeType::Create);
        assert!(
            builder()
                .event(&Event::CredentialChange(ok))
                .build()
                .is_ok()
        );
    }
}
