//! Property tests: no parser panics on arbitrary input, and generated subjects, events and SETs
//! round-trip through JSON.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use ssf_types::{
    ComplexSubject, Delivery, DiscoveryFlavor, Event, EventType, EventTypeUri, Issuer, Jti,
    ParseMode, PollRequest, PollResponse, PushErrorBody, SetClaims, StreamConfiguration,
    StreamStatus, SubjectId, TransmitterMetadata, discovery_url,
    event::{
        CaepCommon, ChangeType, CredentialChange, CredentialType, InitiatingEntity, ReasonMap,
        RiskLevel, RiskLevelChange, RiskPrincipal, StreamUpdated, TokenClaimsChange, Verification,
    },
    set::is_secevent_typ,
    stream::{AddSubjectRequest, StatusRequest},
    subject::{LocalPartRule, canonicalize_email},
};

const MODES: [ParseMode; 2] = [ParseMode::Strict, ParseMode::Legacy];

/// Keys that steer the parsers into their interesting branches.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "format", "subject_type", "email", "iss", "sub", "id", "uri", "url", "identifiers",
            "ip-addresses", "user", "device", "events", "sub_id", "subject", "jti", "iat", "aud",
            "txn", "toe", "claims", "credential_type", "change_type", "reason_admin", "status",
            "state", "delivery", "method", "endpoint_url", "delivery_method", "ack", "acks",
            "setErrs", "maxEvents", "sets", "issuer", "stream_id", "namespace", "current_level",
        ]).prop_map(str::to_owned),
        1 => "[a-z_-]{0,8}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            "email",
            "iss_sub",
            "opaque",
            "complex",
            "aliases",
            "urn:ietf:rfc:8935",
            "enabled",
            "create",
            "+12065550100",
            "a@example.com",
            "https://x",
            "",
        ])
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event_uri() -> impl Strategy<Value = EventTypeUri> {
    prop_oneof![
        prop::sample::select(EventType::KNOWN.to_vec()).prop_map(EventTypeUri::new),
        "urn:[a-z]{1,6}".prop_map(EventTypeUri::new),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_parser_panics_on_arbitrary_json(v in arb_json(), uri in event_uri()) {
        for mode in MODES {
            let _ = SetClaims::from_json(&v, mode).map(|c| c.event(mode));
            let _ = SubjectId::from_json(&v, mode);
            let _ = Event::parse(&uri, &v, mode);
            let _ = StreamConfiguration::from_json(&v, mode);
            let _ = Delivery::from_json(&v, mode);
            let _ = TransmitterMetadata::from_json(&v, mode).map(|m| m.validate());
            let _ = PollRequest::from_json(&v, mode);
            let _ = PollResponse::from_json(&v, mode);
            let _ = PushErrorBody::from_json(&v, mode);
            let _ = StatusRequest::from_json(&v, mode);
            let _ = AddSubjectRequest::from_json(&v, mode);
        }
    }

    #[test]
    fn set_like_json_never_panics(sub in arb_json(), body in arb_json(), uri in event_uri()) {
        let v = json!({"iss": "https://t", "jti": "j", "iat": 1, "sub_id": sub,
                       "events": {uri.as_str(): body}});
        for mode in MODES {
            if let Ok(c) = SetClaims::from_json(&v, mode) {
                let _ = c.event(mode);
                if mode == ParseMode::Strict {
                    // Lossless in strict mode; legacy mode normalizes draft shapes on purpose.
                    prop_assert_eq!(c.to_json(), v.clone());
                }
            }
        }
    }

    #[test]
    fn no_panics_on_arbitrary_strings(s in ".{0,40}", bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = SetClaims::from_slice(&bytes, ParseMode::Strict);
        let _ = SetClaims::from_slice(s.as_bytes(), ParseMode::Legacy);
        let _ = PollRequest::from_slice(&bytes, ParseMode::Strict);
        let _ = StreamConfiguration::from_slice(s.as_bytes(), ParseMode::Strict);
        let _ = discovery_url(&s, DiscoveryFlavor::Ssf);
        let _ = discovery_url(&format!("https://h/{s}"), DiscoveryFlavor::LegacyRisc);
        let _ = canonicalize_email(&s, LocalPartRule::LowerCase);
        let _ = is_secevent_typ(&s);
        let _ = EventType::from(s.as_str()).canonical();
    }
}

fn simple_subject() -> impl Strategy<Value = SubjectId> {
    let text = "[a-zA-Z0-9._~-]{1,12}";
    prop_oneof![
        (text, "[a-z]{1,8}\\.(com|org)").prop_map(|(l, d)| SubjectId::email(format!("{l}@{d}"))),
        (text, text).prop_map(|(i, s)| SubjectId::iss_sub(format!("https://{i}/"), s)),
        text.prop_map(SubjectId::opaque),
        "[1-9][0-9]{6,13}".prop_map(|d| SubjectId::phone_number(format!("+{d}"))),
        text.prop_map(|u| SubjectId::account(format!("acct:{u}@example.com"))),
        text.prop_map(|u| SubjectId::did(format!("did:example:{u}"))),
        text.prop_map(|u| SubjectId::uri(format!("urn:x:{u}"))),
        (text, text).prop_map(|(i, j)| SubjectId::jwt_id(format!("https://{i}/"), j)),
        (text, text).prop_map(|(i, a)| SubjectId::saml_assertion_id(i, a)),
        prop::collection::vec(any::<[u8; 4]>(), 1..3).prop_map(|ips| SubjectId::ip_addresses(
            ips.iter().map(|o| std::net::Ipv4Addr::from(*o).to_string())
        )),
    ]
}

fn subject() -> impl Strategy<Value = SubjectId> {
    prop_oneof![
        3 => simple_subject(),
        1 => prop::collection::vec(simple_subject(), 1..4).prop_map(SubjectId::aliases),
        2 => prop::collection::btree_map(
            prop::sample::select(vec!["user", "device", "session", "tenant", "org_unit", "custom"]),
            simple_subject(), 1..4)
            .prop_map(|m| {
                let c = m.into_iter().fold(ComplexSubject::new(), |c, (k, v)| c.with(k, v));
                SubjectId::Complex(c)
            }),
    ]
}

fn common() -> impl Strategy<Value = CaepCommon> {
    (
        prop::option::of(0i64..4_000_000_000_000),
        prop::option::of(prop::sample::select(InitiatingEntity::KNOWN.to_vec())),
        prop::option::of(("[a-z]{2}", ".{0,10}")),
    )
        .prop_map(|(ts, ie, reason)| {
            let mut c = CaepCommon::new();
            c.event_timestamp = ts;
            c.initiating_entity = ie.map(InitiatingEntity::from);
            c.reason_admin = reason.map(|(l, t)| ReasonMap::new(l, t));
            c
        })
}

fn extra() -> impl Strategy<Value = ssf_types::subject::Extra> {
    prop::collection::btree_map("x_[a-z]{1,6}", any::<i32>().prop_map(Value::from), 0..3)
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (
            prop::sample::select(ChangeType::KNOWN.to_vec()),
            "[a-z0-9-]{1,12}",
            common(),
            extra()
        )
            .prop_map(|(ct, cred, common, extra)| {
                let mut e = CredentialChange::new(CredentialType::from(cred), ChangeType::from(ct));
                e.common = common;
                e.extra = extra;
                Event::CredentialChange(e)
            }),
        (
            prop::collection::btree_map("[a-z:/]{1,10}", any::<bool>(), 1..4),
            common()
        )
            .prop_map(|(claims, common)| {
                let claims: Map<String, Value> = claims
                    .into_iter()
                    .map(|(k, v)| (k, Value::Bool(v)))
                    .collect();
                let mut e = TokenClaimsChange::new(claims);
                e.common = common;
                Event::TokenClaimsChange(e)
            }),
        (
            prop::sample::select(RiskLevel::KNOWN.to_vec()),
            "[A-Z_]{1,8}",
            prop::option::of(".{0,8}")
        )
            .prop_map(|(level, principal, reason)| {
                let mut e =
                    RiskLevelChange::new(RiskPrincipal::from(principal), RiskLevel::from(level));
                e.risk_reason = reason;
                Event::RiskLevelChange(e)
            }),
        (
            prop::sample::select(StreamStatus::KNOWN.to_vec()),
            prop::option::of(".{0,8}")
        )
            .prop_map(|(s, r)| Event::StreamUpdated(StreamUpdated::new(StreamStatus::from(s), r))),
        prop::option::of(".{0,16}").prop_map(|s| Event::Verification(Verification::new(s))),
        ("urn:x:[a-z]{1,6}", extra()).prop_map(|(uri, raw)| Event::Unknown {
            uri: EventTypeUri::new(uri),
            raw: raw.into_iter().collect(),
        }),
    ]
}

proptest! {
    #[test]
    fn generated_subjects_round_trip(s in subject()) {
        prop_assert_eq!(s.validate(), Ok(()));
        let v = serde_json::to_value(&s).unwrap();
        prop_assert_eq!(&SubjectId::from_json(&v, ParseMode::Strict).unwrap(), &s);
        prop_assert!(s.matches(&s));
    }

    #[test]
    fn generated_events_round_trip(e in event()) {
        let v = Value::Object(e.to_json());
        prop_assert_eq!(Event::parse(&e.uri(), &v, ParseMode::Strict).unwrap(), e);
    }

    #[test]
    fn generated_sets_round_trip(s in subject(), e in event(), txn in prop::option::of("[0-9]{1,8}")) {
        let mut b = SetClaims::builder(Issuer::new("https://tx.example"), Jti::new("j"), 1_700_000_000, s)
            .aud("rx")
            .event(&e);
        if let Some(t) = txn {
            b = b.txn(t);
        }
        let claims = b.build().unwrap();
        let parsed = SetClaims::from_json(&claims.to_json(), ParseMode::Strict).unwrap();
        prop_assert_eq!(&parsed, &claims);
        prop_assert_eq!(parsed.event(ParseMode::Strict).unwrap(), e);
    }
}
