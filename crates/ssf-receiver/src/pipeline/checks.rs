//! The checks after signature and shape: what a valid SET means for this receiver.

use std::collections::BTreeSet;

use ssf_types::{
    Event, EventType, ParseMode, SetClaims, SetShapeError, StreamId, SubjectId,
    subject::SubjectFormat,
};

use crate::handler::{DiscardReason, Handling, ReceiptNote};

/// A constant `description` for a shape error (SSF-SEC-17: never echo SET content; the error's
/// own text may quote event-type URIs or parser messages).
pub(crate) fn shape_description(error: &SetShapeError) -> &'static str {
    match error {
        SetShapeError::InvalidJson(_) | SetShapeError::NotAnObject => {
            "the SET claims are not a JSON object"
        }
        SetShapeError::MissingClaim(_) | SetShapeError::WrongClaimType { .. } => {
            "a required SET claim is missing or has the wrong type"
        }
        SetShapeError::MissingEvents
        | SetShapeError::EventsNotObject
        | SetShapeError::NoEvents
        | SetShapeError::EventNotObject(_) => "the SET events claim is missing or malformed",
        SetShapeError::MultipleEvents(_) => "the SET must carry exactly one event",
        SetShapeError::MissingSubId | SetShapeError::LegacyEventSubject => {
            "the SET has no sub_id claim"
        }
        SetShapeError::SubId(_) | SetShapeError::EventSubject(_) => {
            "the SET subject identifier is invalid"
        }
        SetShapeError::Event { .. } => "the event does not conform to its definition",
        _ => "the SET is malformed",
    }
}

/// Whether a verification or stream-updated `sub_id` names this stream: `{"format":"opaque",
/// "id":<stream_id>}` (SSF 1.0 §8.1.4.1, SSF-RXV-11, SSF-EVT-12). When the receiver does not know
/// its stream id yet, any `opaque` subject passes. In legacy mode an event without any subject
/// (ID1) passes too.
pub(crate) fn names_stream(
    claims: &SetClaims,
    stream_id: Option<&StreamId>,
    mode: ParseMode,
) -> bool {
    match (claims.sub_id.as_ref(), stream_id) {
        (Some(sub), Some(id)) => sub.is_stream(id),
        (Some(sub), None) => sub.format() == SubjectFormat::Opaque,
        // ID1 verification and stream-updated events had no subject: the stream they came on.
        (None, _) => mode.is_legacy() && claims.subject().is_none(),
    }
}

/// The critical subject members present in the subject that this receiver cannot process
/// (SSF 1.0 §3.6, SSF-RXV-12). Only complex subjects have member names.
pub(crate) fn has_unprocessable_critical_member(
    subject: Option<&SubjectId>,
    critical: &[String],
    processable: &BTreeSet<String>,
) -> bool {
    let Some(complex) = subject.and_then(SubjectId::as_complex) else {
        return false;
    };
    complex
        .members
        .keys()
        .any(|name| critical.iter().any(|c| c == name) && !processable.contains(name))
}

/// How to handle a valid event (D-05, D-06, D-21). Verification and stream-updated are handled
/// by the caller before this.
pub(crate) fn handling(
    claims: &SetClaims,
    event: &Event,
    critical: &[String],
    processable: &BTreeSet<String>,
    requested: Option<&BTreeSet<String>>,
) -> Handling {
    let subject = claims.subject();
    if has_unprocessable_critical_member(subject.as_deref(), critical, processable) {
        return Handling::Discard(DiscardReason::UnprocessableCriticalMember);
    }
    if let Event::Unknown { .. } = event {
        return Handling::Discard(DiscardReason::UnknownEventType);
    }
    let ty = event.event_type();
    if !ty.is_ssf() && requested.is_some_and(|r| !r.contains(ty.as_str())) {
        return Handling::Discard(DiscardReason::UnrequestedEventType);
    }
    if matches!(
        ty,
        EventType::IdentifierChanged | EventType::IdentifierRecycled
    ) && !matches!(
        subject.as_deref(),
        Some(SubjectId::Email { .. } | SubjectId::PhoneNumber { .. })
    ) {
        return Handling::Discard(DiscardReason::IdentifierSubjectFormat);
    }
    Handling::Act
}

/// Warnings about a valid SET (D-19).
pub(crate) fn notes(claims: &SetClaims, event: &Event) -> Vec<ReceiptNote> {
    let mut notes = Vec::new();
    if event.is_probably_millis() {
        notes.push(ReceiptNote::MillisecondEventTimestamp);
    }
    if matches!(claims.txn, Some(ssf_types::Txn::Number(_))) {
        notes.push(ReceiptNote::NumericTxn);
    }
    notes
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use ssf_types::{ComplexSubject, ParseMode};

    use super::*;

    fn claims(uri: &str, event: serde_json::Value, sub_id: &SubjectId) -> SetClaims {
        let value = json!({
            "iss": "https://tx.example", "jti": "j", "iat": 1, "aud": "rx",
            "sub_id": sub_id.to_json(), "events": {uri: event}
        });
        SetClaims::from_json(&value, ParseMode::Strict).unwrap()
    }

    fn handle(c: &SetClaims, critical: &[&str], requested: Option<&[&str]>) -> Handling {
        let event = c.event(ParseMode::Strict).unwrap();
        let critical: Vec<String> = critical.iter().map(|s| (*s).to_owned()).collect();
        let processable: BTreeSet<String> = ["user", "session"].map(str::to_owned).into();
        let requested: Option<BTreeSet<String>> =
            requested.map(|r| r.iter().map(|s| (*s).to_owned()).collect());
        handling(c, &event, &critical, &processable, requested.as_ref())
    }

    const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
    const ID_CHANGED: &str =
        "https://schemas.openid.net/secevent/risc/event-type/identifier-changed";

    #[test]
    fn critical_members_d06_ssf_rxv_12() {
        let complex = SubjectId::Complex(
            ComplexSubject::new()
                .with("user", SubjectId::email("a@example.com"))
                .with("device", SubjectId::opaque("d1")),
        );
        let c = claims(REVOKED, json!({}), &complex);
        assert_eq!(handle(&c, &[], None), Handling::Act);
        assert_eq!(handle(&c, &["user"], None), Handling::Act, "processable");
        assert_eq!(
            handle(&c, &["device"], None),
            Handling::Discard(DiscardReason::UnprocessableCriticalMember)
        );
        assert_eq!(
            handle(&c, &["tenant"], None),
            Handling::Act,
            "absent member"
        );
    }

    #[test]
    fn unknown_and_unrequested_types_are_discarded_d05() {
        let email = SubjectId::email("a@example.com");
        let c = claims("urn:example:event", json!({}), &email);
        assert_eq!(
            handle(&c, &[], None),
            Handling::Discard(DiscardReason::UnknownEventType)
        );
        let c = claims(REVOKED, json!({}), &email);
        assert_eq!(
            handle(&c, &[], Some(&[ID_CHANGED])),
            Handling::Discard(DiscardReason::UnrequestedEventType)
        );
        assert_eq!(handle(&c, &[], Some(&[REVOKED])), Handling::Act);
    }

    #[test]
    fn identifier_changed_needs_email_or_phone_d21() {
        let c = claims(
            ID_CHANGED,
            json!({"new-value": "b@example.com"}),
            &SubjectId::email("a@example.com"),
        );
        assert_eq!(handle(&c, &[], None), Handling::Act);
        let c = claims(
            ID_CHANGED,
            json!({}),
            &SubjectId::iss_sub("https://idp", "u1"),
        );
        assert_eq!(
            handle(&c, &[], None),
            Handling::Discard(DiscardReason::IdentifierSubjectFormat)
        );
    }

    #[test]
    fn stream_subject_ssf_rxv_11() {
        let id = StreamId::new("s1");
        let verification = "https://schemas.openid.net/secevent/ssf/event-type/verification";
        let ok = claims(verification, json!({}), &SubjectId::for_stream(&id));
        assert!(names_stream(&ok, Some(&id), ParseMode::Strict));
        assert!(!names_stream(
            &ok,
            Some(&StreamId::new("s2")),
            ParseMode::Strict
        ));
        assert!(names_stream(&ok, None, ParseMode::Strict));
        let email = claims(verification, json!({}), &SubjectId::email("a@example.com"));
        assert!(!names_stream(&email, None, ParseMode::Strict));
    }

    #[test]
    fn descriptions_are_constant_ssf_sec_17() {
        let e = SetShapeError::EventNotObject("urn:secret:content".into());
        assert!(!shape_description(&e).contains("secret"));
    }
}
