//! Push and poll vectors: TV-PUSH, TV-POLL, TV-NEG-27.

use ssf_types::{
    BodyError, Jti, ParseMode, PollRequest, PollResponse, PushErrorBody, SetErrorCode,
};

use crate::support::load;

pub(crate) const COVERED: &[&str] = &[
    "TV-PUSH-01",
    "TV-PUSH-02",
    "TV-POLL-01",
    "TV-POLL-02",
    "TV-POLL-03",
    "TV-POLL-04",
    "TV-POLL-05",
    "TV-POLL-06",
    "TV-POLL-07",
    "TV-NEG-27",
];

/// PUSH-10, PUSH-11: error bodies with registered codes round-trip.
#[test]
fn push_error_bodies_tv_push_01_02() {
    for (id, code) in [
        ("TV-PUSH-01", SetErrorCode::InvalidKey),
        ("TV-PUSH-02", SetErrorCode::InvalidState),
    ] {
        let v = load(id);
        let b = PushErrorBody::from_json(&v, ParseMode::Strict).unwrap();
        assert_eq!(b.err, code, "{id}");
        assert!(!b.description.is_empty(), "{id}");
        assert_eq!(serde_json::to_value(&b).unwrap(), v, "{id}");
    }
}

/// POLL-02, POLL-16: the four request patterns of RFC 8936 §2.4 parse and round-trip.
#[test]
fn poll_requests_tv_poll_01_to_05() {
    for id in [
        "TV-POLL-01",
        "TV-POLL-02",
        "TV-POLL-03",
        "TV-POLL-04",
        "TV-POLL-05",
    ] {
        let v = load(id);
        let r =
            PollRequest::from_json(&v, ParseMode::Strict).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(serde_json::to_value(&r).unwrap(), v, "{id}");
    }
    let r = PollRequest::from_json(&load("TV-POLL-01"), ParseMode::Strict).unwrap();
    assert!(r.returns_immediately());
    let r = PollRequest::from_json(&load("TV-POLL-03"), ParseMode::Strict).unwrap();
    assert!(r.is_ack_only());
    assert_eq!(r.ack.len(), 2);
    let r = PollRequest::from_json(&load("TV-POLL-05"), ParseMode::Strict).unwrap();
    let err = &r.set_errs[&Jti::new("4d3559ec67504aaba65d40b0363faad8")];
    assert_eq!(err.err, SetErrorCode::AuthenticationFailed);
}

/// POLL-04, POLL-07: responses, `moreAvailable` kept when true and omitted when false.
#[test]
fn poll_responses_tv_poll_06_07() {
    let v = load("TV-POLL-06");
    let r = PollResponse::from_json(&v, ParseMode::Strict).unwrap();
    assert!(r.more_available);
    assert_eq!(r.sets.len(), 2);
    assert_eq!(serde_json::to_value(&r).unwrap(), v);
    let v = load("TV-POLL-07");
    let r = PollResponse::from_json(&v, ParseMode::Strict).unwrap();
    assert_eq!(r, PollResponse::empty());
    assert_eq!(serde_json::to_value(&r).unwrap(), v);
}

/// Checklist section 13 decision: `acks` (Duo) is refused in strict mode, read as `ack` in
/// legacy mode.
#[test]
fn acks_only_in_legacy_mode_tv_neg_27() {
    let v = load("TV-NEG-27");
    assert_eq!(
        PollRequest::from_json(&v, ParseMode::Strict),
        Err(BodyError::LegacyMember {
            member: "acks",
            replacement: "ack"
        })
    );
    let r = PollRequest::from_json(&v, ParseMode::Legacy).unwrap();
    assert_eq!(r.ack, vec![Jti::new("4d3559ec67504aaba65d40b0363faad8")]);
    assert!(r.returns_immediately());
}
