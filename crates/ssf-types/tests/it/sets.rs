//! SET payload vectors: TV-SSF, TV-CAEP, TV-RISC (positive) and the SET-level TV-NEG ones.

use serde_json::Value;
use ssf_types::{
    Event, EventError, EventType, ParseMode, SetClaims, SetErrorCode, SetShapeError, StreamId,
    SubjectId, Txn,
    event::{ChangeType, CredentialType, InitiatingEntity, RiskLevel},
    stream::StreamStatus,
};

use crate::support::load;

pub(crate) const COVERED: &[&str] = &[
    "TV-SSF-01",
    "TV-SSF-02",
    "TV-SSF-03",
    "TV-SSF-04",
    "TV-SSF-05",
    "TV-SSF-06",
    "TV-SSF-07",
    "TV-SSF-08",
    "TV-SSF-09",
    "TV-SSF-10",
    "TV-CAEP-01",
    "TV-CAEP-02",
    "TV-CAEP-03",
    "TV-CAEP-04",
    "TV-CAEP-05",
    "TV-CAEP-06",
    "TV-CAEP-07",
    "TV-CAEP-08",
    "TV-CAEP-09",
    "TV-CAEP-10",
    "TV-CAEP-11",
    "TV-CAEP-12",
    "TV-CAEP-13",
    "TV-RISC-01",
    "TV-RISC-02",
    "TV-RISC-03",
    "TV-RISC-04",
    "TV-RISC-05",
    "TV-RISC-06",
    "TV-RISC-07",
    "TV-RISC-08",
    "TV-RISC-09",
    "TV-RISC-10",
    "TV-RISC-11",
    "TV-RISC-12",
    "TV-RISC-13",
    "TV-RISC-14",
    "TV-RISC-15",
    "TV-NEG-01",
    "TV-NEG-02",
    "TV-NEG-03",
    "TV-NEG-04",
    "TV-NEG-05",
    "TV-NEG-06",
    "TV-NEG-07",
    "TV-NEG-08",
    "TV-NEG-09",
    "TV-NEG-10",
    "TV-NEG-11",
    "TV-NEG-12",
    "TV-NEG-13",
    "TV-NEG-14",
    "TV-NEG-15",
    "TV-NEG-21",
    "TV-NEG-22",
    "TV-NEG-23",
];

/// Each positive SET vector and the event type it must parse to.
const POSITIVE: &[(&str, EventType)] = &[
    ("TV-SSF-01", EventType::Verification),
    ("TV-SSF-02", EventType::Verification),
    ("TV-SSF-03", EventType::StreamUpdated),
    ("TV-SSF-04", EventType::Verification),
    ("TV-SSF-05", EventType::AccountEnabled),
    ("TV-SSF-06", EventType::AccountDisabled),
    ("TV-SSF-07", EventType::TokenClaimsChange),
    ("TV-SSF-08", EventType::SessionRevoked),
    ("TV-SSF-09", EventType::TokenClaimsChange),
    ("TV-SSF-10", EventType::TokenClaimsChange),
    ("TV-CAEP-01", EventType::SessionRevoked),
    ("TV-CAEP-02", EventType::SessionRevoked),
    ("TV-CAEP-03", EventType::SessionRevoked),
    ("TV-CAEP-04", EventType::TokenClaimsChange),
    ("TV-CAEP-05", EventType::TokenClaimsChange),
    ("TV-CAEP-06", EventType::TokenClaimsChange),
    ("TV-CAEP-07", EventType::CredentialChange),
    ("TV-CAEP-08", EventType::AssuranceLevelChange),
    ("TV-CAEP-09", EventType::AssuranceLevelChange),
    ("TV-CAEP-10", EventType::DeviceComplianceChange),
    ("TV-CAEP-11", EventType::SessionEstablished),
    ("TV-CAEP-12", EventType::SessionPresented),
    ("TV-CAEP-13", EventType::RiskLevelChange),
    ("TV-RISC-01", EventType::AccountCredentialChangeRequired),
    ("TV-RISC-02", EventType::AccountPurged),
    ("TV-RISC-03", EventType::AccountDisabled),
    ("TV-RISC-04", EventType::AccountDisabled),
    ("TV-RISC-05", EventType::AccountEnabled),
    ("TV-RISC-06", EventType::IdentifierChanged),
    ("TV-RISC-07", EventType::IdentifierRecycled),
    ("TV-RISC-08", EventType::CredentialCompromise),
    ("TV-RISC-09", EventType::OptIn),
    ("TV-RISC-10", EventType::OptOutInitiated),
    ("TV-RISC-11", EventType::OptOutCancelled),
    ("TV-RISC-12", EventType::OptOutEffective),
    ("TV-RISC-13", EventType::RecoveryActivated),
    ("TV-RISC-14", EventType::RecoveryInformationChanged),
    ("TV-RISC-15", EventType::SessionsRevoked),
];

fn strict(v: &Value) -> Result<SetClaims, SetShapeError> {
    SetClaims::from_json(v, ParseMode::Strict)
}

fn parse_ok(id: &str) -> (Value, SetClaims, Event) {
    let v = load(id);
    let claims = strict(&v).unwrap_or_else(|e| panic!("{id}: {e}"));
    let event = claims
        .event(ParseMode::Strict)
        .unwrap_or_else(|e| panic!("{id}: {e}"));
    (v, claims, event)
}

/// SSF-SET-03..18, SSF-RXV-06/07/09/15, CAEP-10..17, RISC-01..14: every positive vector parses in
/// strict mode to the right typed event, and parse -> serialize -> parse is lossless.
#[test]
fn positive_set_vectors_parse_typed_and_round_trip() {
    for (id, expected) in POSITIVE {
        let (v, claims, event) = parse_ok(id);
        assert_eq!(&event.event_type(), expected, "{id}");
        assert!(!matches!(event, Event::Unknown { .. }), "{id}");
        assert!(claims.sub_id.is_some(), "{id}");
        assert!(claims.forbidden_claims().is_empty(), "{id}");
        // Lossless: the claims serialize back to the very same JSON.
        assert_eq!(claims.to_json(), v, "{id}: SetClaims round trip");
        assert_eq!(strict(&claims.to_json()).unwrap(), claims, "{id}");
        // The typed event serializes back to the same event object and parses equal.
        let uri = claims.event_type().unwrap();
        assert_eq!(
            Value::Object(event.to_json()),
            v["events"][uri.as_str()],
            "{id}: event round trip"
        );
        assert_eq!(
            Event::parse(uri, &Value::Object(event.to_json()), ParseMode::Strict).unwrap(),
            event
        );
        // A legacy-mode parse of a final-format SET gives the same result.
        assert_eq!(
            SetClaims::from_json(&v, ParseMode::Legacy).unwrap(),
            claims,
            "{id}"
        );
    }
}

#[test]
fn typed_fields_come_through_tv_caep_and_tv_risc() {
    let (_, _, e) = parse_ok("TV-CAEP-07");
    let Event::CredentialChange(c) = e else {
        panic!()
    };
    assert_eq!(c.credential_type, CredentialType::Fido2Roaming);
    assert_eq!(c.change_type, ChangeType::Create);
    assert_eq!(c.common.initiating_entity, Some(InitiatingEntity::User));
    assert_eq!(
        c.common.reason_admin.as_ref().and_then(|r| r.get("en")),
        Some("User self-enrollment")
    );
    assert_eq!(c.common.event_timestamp, Some(1_615_304_991));

    let (_, _, e) = parse_ok("TV-CAEP-02");
    let Event::SessionRevoked(s) = e else {
        panic!()
    };
    assert!(
        s.common
            .reason_user
            .as_ref()
            .and_then(|r| r.get("es-410"))
            .is_some()
    );

    let (_, claims, e) = parse_ok("TV-CAEP-13");
    let Event::RiskLevelChange(r) = e else {
        panic!()
    };
    assert_eq!(
        (r.current_level, r.previous_level),
        (RiskLevel::Low, Some(RiskLevel::High))
    );
    assert_eq!(claims.txn, Some(Txn::String("8675309".into())));

    let (_, _, e) = parse_ok("TV-CAEP-05");
    let Event::TokenClaimsChange(t) = e else {
        panic!()
    };
    assert_eq!(t.claims["trusted_network"], Value::Bool(false));

    let (_, _, e) = parse_ok("TV-RISC-06");
    let Event::IdentifierChanged(i) = e else {
        panic!()
    };
    assert_eq!(i.new_value.as_deref(), Some("john.roe@example.com"));

    let (_, _, e) = parse_ok("TV-SSF-03");
    let Event::StreamUpdated(u) = e else { panic!() };
    assert_eq!(
        (u.status, u.reason.as_deref()),
        (StreamStatus::Paused, Some("Internal error"))
    );

    let (_, claims, _) = parse_ok("TV-SSF-10");
    assert!(
        matches!(claims.sub_id, Some(SubjectId::Other { ref format, .. }) if format == "catalog_item")
    );
}

/// TV-SSF-02, SSF-RXV-17: a transmitter-initiated verification has no state and is accepted.
#[test]
fn verification_state_tv_ssf_01_02_and_neg_22() {
    let (_, claims, e) = parse_ok("TV-SSF-01");
    let Event::Verification(v) = e else { panic!() };
    let sent = load("TV-VERIFY-01")["state"].as_str().map(str::to_owned);
    assert!(v.state_matches(sent.as_deref()));
    assert!(
        claims
            .sub_id
            .unwrap()
            .is_stream(&StreamId::new("f67e39a0a4d34d56b3aa1bc4cff0069f"))
    );

    let (_, _, e) = parse_ok("TV-SSF-02");
    assert!(matches!(e, Event::Verification(ref v) if v.state.is_none()));

    // TV-NEG-22, SSF-RXV-10: parses, but the state does not match -> the receiver answers
    // invalid_state.
    let (_, _, e) = parse_ok("TV-NEG-22");
    let Event::Verification(v) = e else { panic!() };
    assert!(!v.state_matches(sent.as_deref()));
}

/// TV-NEG-21, SSF-RXV-11: the shape is valid, but `sub_id` is not the stream's own subject.
#[test]
fn verification_subject_must_be_the_stream_tv_neg_21() {
    let (_, claims, _) = parse_ok("TV-NEG-21");
    let stream = StreamId::new("f67e39a0a4d34d56b3aa1bc4cff0069f");
    assert!(!claims.sub_id.unwrap().is_stream(&stream));
}

/// SSF-SET-12, SSF-RXV-07: no `sub_id` and no legacy subject -> invalid_request in both modes.
#[test]
fn missing_sub_id_tv_neg_01() {
    let v = load("TV-NEG-01");
    assert_eq!(strict(&v), Err(SetShapeError::MissingSubId));
    assert_eq!(
        SetClaims::from_json(&v, ParseMode::Legacy),
        Err(SetShapeError::MissingSubId)
    );
    assert_eq!(
        SetShapeError::MissingSubId.err_code(),
        SetErrorCode::InvalidRequest
    );
}

/// SSF-SET-13/14, SSF-RXV-08, D-07: `sub`/`exp` are the JOSE layer's refusal; this crate keeps
/// them and reports them through `forbidden_claims`.
#[test]
fn sub_and_exp_are_reported_tv_neg_02_03() {
    let c = strict(&load("TV-NEG-02")).unwrap();
    assert_eq!(c.forbidden_claims(), ["sub"]);
    let c = strict(&load("TV-NEG-03")).unwrap();
    assert_eq!(c.forbidden_claims(), ["exp"]);
}

/// SSF-SET-16/17, CAEPIOP §2.8.1: two independent events are refused in both modes.
#[test]
fn two_events_are_refused_tv_neg_04() {
    let v = load("TV-NEG-04");
    assert_eq!(strict(&v), Err(SetShapeError::MultipleEvents(2)));
    assert_eq!(
        SetClaims::from_json(&v, ParseMode::Legacy),
        Err(SetShapeError::MultipleEvents(2))
    );
}

/// SSF-RXV-06: an event value that is not an object.
#[test]
fn event_value_not_an_object_tv_neg_05() {
    let uri = "https://schemas.openid.net/secevent/caep/event-type/credential-change";
    assert_eq!(
        strict(&load("TV-NEG-05")),
        Err(SetShapeError::EventNotObject(uri.into()))
    );
}

/// SSF-RXV-09, CAEP-05: event payloads that do not conform are refused with invalid_request.
#[test]
fn nonconforming_events_are_refused_tv_neg_06_to_15_and_23() {
    let cases: &[(&str, EventError)] = &[
        ("TV-NEG-06", EventError::MissingField("change_type")),
        (
            "TV-NEG-07",
            EventError::OutOfRange {
                field: "change_type",
                value: "modify".into(),
            },
        ),
        (
            "TV-NEG-08",
            EventError::OutOfRange {
                field: "initiating_entity",
                value: "robot".into(),
            },
        ),
        (
            "TV-NEG-09",
            EventError::WrongType {
                field: "reason_admin",
                expected: "a JSON object of language tag -> string",
            },
        ),
        (
            "TV-NEG-13",
            EventError::OutOfRange {
                field: "current_status",
                value: "noncompliant".into(),
            },
        ),
        (
            "TV-NEG-14",
            EventError::OutOfRange {
                field: "current_level",
                value: "critical".into(),
            },
        ),
        ("TV-NEG-15", EventError::MissingField("namespace")),
        (
            "TV-NEG-23",
            EventError::OutOfRange {
                field: "status",
                value: "stopped".into(),
            },
        ),
    ];
    for (id, expected) in cases {
        let claims = strict(&load(id)).unwrap_or_else(|e| panic!("{id}: shape is fine, got {e}"));
        // Legacy mode ignores an unknown initiating_entity (see the test after this one).
        let modes: &[ParseMode] = if *id == "TV-NEG-08" {
            &[ParseMode::Strict]
        } else {
            &[ParseMode::Strict, ParseMode::Legacy]
        };
        for &mode in modes {
            match claims.event(mode) {
                Err(e @ SetShapeError::Event { .. }) => {
                    let SetShapeError::Event { ref source, .. } = e else {
                        unreachable!()
                    };
                    assert_eq!(source, expected, "{id}");
                    assert_eq!(e.err_code(), SetErrorCode::InvalidRequest, "{id}");
                }
                other => panic!("{id}: expected {expected}, got {other:?}"),
            }
        }
    }
}

/// CAEP-02, CAEP-05, D-19 (issue 12): a draft-era `initiating_entity` outside the enumeration
/// is refused in strict mode (TV-NEG-08) and ignored in legacy mode: the event parses without
/// it, everything else kept.
#[test]
fn unknown_initiating_entity_is_ignored_in_legacy_mode_tv_neg_08() {
    let claims = strict(&load("TV-NEG-08")).unwrap();
    assert!(claims.event(ParseMode::Strict).is_err());
    let Ok(Event::CredentialChange(change)) = claims.event(ParseMode::Legacy) else {
        panic!("accepted in legacy mode");
    };
    assert_eq!(change.common.initiating_entity, None);
    assert!(change.common.reason_admin.is_some());
    // A known value is kept in legacy mode too.
    let (_, claims, _) = parse_ok("TV-CAEP-07");
    let Ok(Event::CredentialChange(change)) = claims.event(ParseMode::Legacy) else {
        panic!("parses");
    };
    assert!(change.common.initiating_entity.is_some());
}

/// Checklist section 13 (ID1): a verification or stream-updated event without any subject is
/// accepted in legacy mode only; other events still need one.
#[test]
fn id1_verification_without_a_subject_only_in_legacy_mode() {
    let v = serde_json::json!({
        "iss": "https://tx.example.com", "jti": "v1", "iat": 1_615_305_159,
        "aud": "https://rx.example.com",
        "events": {"https://schemas.openid.net/secevent/sse/event-type/verification": {"state": "s"}}
    });
    assert_eq!(strict(&v), Err(SetShapeError::MissingSubId));
    let c = SetClaims::from_json(&v, ParseMode::Legacy).unwrap();
    assert_eq!(c.sub_id, None);
    assert!(matches!(
        c.event(ParseMode::Legacy),
        Ok(Event::Verification(_))
    ));
    let mut other = v;
    other["events"] = serde_json::json!({
        "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {}
    });
    assert_eq!(
        SetClaims::from_json(&other, ParseMode::Legacy),
        Err(SetShapeError::MissingSubId)
    );
}

/// CAEP-06, D-19: a millisecond `event_timestamp` is accepted and flagged.
#[test]
fn millisecond_timestamp_is_accepted_and_flagged_tv_neg_10() {
    let (_, _, e) = parse_ok("TV-NEG-10");
    assert!(e.is_probably_millis());
    assert_eq!(e.event_timestamp(), Some(1_615_304_991_643));
    let (_, _, e) = parse_ok("TV-CAEP-07");
    assert!(!e.is_probably_millis());
}

/// D-19, SSF-SET-10: a numeric `txn` is accepted and kept as a number.
#[test]
fn numeric_txn_is_kept_tv_neg_11() {
    let v = load("TV-NEG-11");
    let c = strict(&v).unwrap();
    assert!(matches!(c.txn, Some(Txn::Number(_))));
    assert_eq!(c.txn.as_ref().unwrap().as_text(), "8675309");
    assert_eq!(c.to_json(), v);
}

/// D-19, SSF-RXV-19: a `subject` inside the event without `sub_id` only in legacy mode.
#[test]
fn event_level_subject_only_in_legacy_mode_tv_neg_12() {
    let v = load("TV-NEG-12");
    assert_eq!(strict(&v), Err(SetShapeError::LegacyEventSubject));
    assert_eq!(
        SetShapeError::LegacyEventSubject.err_code(),
        SetErrorCode::InvalidRequest
    );
    let c = SetClaims::from_json(&v, ParseMode::Legacy).unwrap();
    assert_eq!(c.sub_id, None);
    assert_eq!(
        c.subject().as_deref(),
        Some(&SubjectId::email("jane.smith@example.com"))
    );
    assert!(matches!(
        c.event(ParseMode::Legacy),
        Ok(Event::CredentialChange(_))
    ));
    assert_eq!(c.to_json(), v, "kept as it came");
}

/// SSF-SET-01..17: what the transmitter builds is the final format and parses back.
#[test]
fn builder_output_matches_a_vector_tv_caep_07() {
    let (v, claims, event) = parse_ok("TV-CAEP-07");
    let built = SetClaims::builder(
        claims.iss.clone(),
        claims.jti.clone(),
        claims.iat,
        claims.sub_id.clone().unwrap(),
    )
    .aud(claims.aud.unwrap())
    .txn("8675309")
    .event(&event)
    .build()
    .unwrap();
    assert_eq!(built.to_json(), v);
}
