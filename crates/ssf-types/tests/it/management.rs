//! Metadata, discovery and stream management vectors: TV-META, TV-STREAM, TV-STATUS, TV-SUBJ,
//! TV-VERIFY, TV-NEG-26.

use serde_json::Value;
use ssf_types::{
    BodyError, Delivery, DiscoveryFlavor, Issuer, ParseMode, StreamConfiguration, StreamId,
    StreamStatus, SubjectId, TransmitterMetadata, discovery_url,
    metadata::{AuthorizationScheme, DefaultSubjects, SpecVersion},
    stream::{
        AddSubjectRequest, DeliveryMethod, RemoveSubjectRequest, StatusRequest, StatusResponse,
        VerificationRequest,
    },
};

use crate::support::load;

pub(crate) const COVERED: &[&str] = &[
    "TV-META-01",
    "TV-META-02",
    "TV-STREAM-01",
    "TV-STREAM-02",
    "TV-STREAM-03",
    "TV-STREAM-04",
    "TV-STREAM-05",
    "TV-STREAM-06",
    "TV-STREAM-07",
    "TV-STREAM-08",
    "TV-STREAM-09",
    "TV-STATUS-01",
    "TV-STATUS-02",
    "TV-STATUS-03",
    "TV-STATUS-04",
    "TV-SUBJ-01",
    "TV-SUBJ-02",
    "TV-VERIFY-01",
    "TV-NEG-26",
];

fn config(id: &str) -> (Value, StreamConfiguration) {
    let v = load(id);
    let c = StreamConfiguration::from_json(&v, ParseMode::Strict)
        .unwrap_or_else(|e| panic!("{id}: {e}"));
    assert_eq!(serde_json::to_value(&c).unwrap(), v, "{id}: round trip");
    (v, c)
}

/// SSF-META-10..21, 22, 24: the example metadata parses, validates and round-trips.
#[test]
fn metadata_tv_meta_01() {
    let v = load("TV-META-01");
    let m = TransmitterMetadata::from_json(&v, ParseMode::Strict).unwrap();
    assert_eq!(m.spec_version, Some(SpecVersion::V1_0));
    assert_eq!(m.default_subjects, Some(DefaultSubjects::None));
    assert!(m.supports(&DeliveryMethod::Push) && m.supports(&DeliveryMethod::Poll));
    assert_eq!(
        m.authorization_schemes[0].spec_urn,
        AuthorizationScheme::OAUTH2
    );
    assert_eq!(m.critical_subject_members, ["tenant", "user"]);
    assert_eq!(m.validate(), Ok(()));
    assert_eq!(
        m.check_issuer(&Issuer::new("https://tr.example.com")),
        Ok(())
    );
    assert_eq!(serde_json::to_value(&m).unwrap(), v);
}

/// SSF-META-01/02/05, SSF §7.2.1: path insertion with trailing-slash stripping; RISC legacy path.
#[test]
fn discovery_urls_tv_meta_02() {
    let rows = load("TV-META-02");
    for row in rows.as_array().unwrap() {
        let issuer = row["issuer"].as_str().unwrap();
        if let Some(url) = row.get("url") {
            assert_eq!(
                discovery_url(issuer, DiscoveryFlavor::Ssf).unwrap(),
                url.as_str().unwrap()
            );
        }
        if let Some(url) = row.get("legacy_url") {
            assert_eq!(
                discovery_url(issuer, DiscoveryFlavor::LegacyRisc).unwrap(),
                url.as_str().unwrap()
            );
        }
    }
}

/// SSF-STREAM-23: a receiver's create request holds only receiver-supplied properties.
#[test]
fn create_requests_tv_stream_01_03_04() {
    for id in ["TV-STREAM-01", "TV-STREAM-03", "TV-STREAM-04"] {
        let (_, c) = config(id);
        assert!(c.transmitter_supplied_present().is_empty(), "{id}");
        assert_eq!(c.receiver_supplied(), c, "{id}");
    }
    let (_, c) = config("TV-STREAM-03");
    let Some(Delivery::Push(push)) = &c.delivery else {
        panic!()
    };
    assert_eq!(push.endpoint_url, "https://receiver.example.com/events");
    assert_eq!(
        push.authorization_header.as_ref().unwrap().expose(),
        "Bearer eyJ0b2tlbiI6InB1c2gifQ"
    );
    assert!(
        !format!("{c:?}").contains("eyJ0b2tlbiI6InB1c2gifQ"),
        "secret redacted in Debug"
    );
    let (_, c) = config("TV-STREAM-04");
    assert_eq!(
        c.delivery, None,
        "SSF-STREAM-25: the transmitter assumes poll"
    );
}

/// SSF-STREAM-14, 06: a create response carries the required properties.
#[test]
fn create_response_tv_stream_02_05() {
    let (_, c) = config("TV-STREAM-02");
    assert!(c.stream_id.is_some() && c.iss.is_some() && c.aud.is_some());
    assert!(c.events_delivered.is_some() && c.delivery.is_some());
    let delivered = c.events_delivered.as_ref().unwrap();
    assert!(
        delivered
            .iter()
            .all(|e| c.events_supported.as_ref().unwrap().contains(e))
    );
    assert!(
        delivered
            .iter()
            .all(|e| c.events_requested.as_ref().unwrap().contains(e))
    );
    let (_, c) = config("TV-STREAM-05");
    let Some(Delivery::Poll(poll)) = &c.delivery else {
        panic!()
    };
    assert!(
        poll.endpoint_url
            .as_deref()
            .unwrap()
            .ends_with("f67e39a0a4d34d56b3aa1bc4cff0069f")
    );
}

/// SSF-STREAM-31: GET without stream_id answers a JSON array, `[]` when empty.
#[test]
fn empty_stream_list_tv_stream_06() {
    let list: Vec<StreamConfiguration> = serde_json::from_value(load("TV-STREAM-06")).unwrap();
    assert!(list.is_empty());
}

/// SSF-STREAM-33, 34, 36, 37, 40, 41: PATCH/PUT bodies against the stream of TV-STREAM-02.
#[test]
fn patch_and_put_tv_stream_07_08_09() {
    let (_, current) = config("TV-STREAM-02");
    let (_, patch) = config("TV-STREAM-07");
    assert_eq!(
        patch.require_stream_id().unwrap(),
        current.stream_id.as_ref().unwrap()
    );
    assert_eq!(patch.check_transmitter_fields(&current), Ok(()));
    let mut updated = current.clone();
    updated.apply_update(&patch);
    assert_eq!(
        updated.description.as_deref(),
        Some("Stream for Receiver B using events type_2, type_3, type_4")
    );
    assert_eq!(
        updated.delivery, current.delivery,
        "absent properties stay (PATCH)"
    );

    let (_, put) = config("TV-STREAM-08");
    assert_eq!(put.check_transmitter_fields(&current), Ok(()));
    let mut replaced = current.clone();
    replaced.apply_replace(&put);
    assert_eq!(
        replaced.description.as_deref(),
        Some("Stream for Receiver C")
    );

    let (_, bad) = config("TV-STREAM-09");
    assert_eq!(
        bad.check_transmitter_fields(&current),
        Err(BodyError::TransmitterFieldMismatch("aud"))
    );
    assert_eq!(
        BodyError::TransmitterFieldMismatch("aud").http_status(),
        400
    );
}

/// SSF-STATUS-01, 02, 07: status bodies.
#[test]
fn status_bodies_tv_status_01_to_04() {
    for id in ["TV-STATUS-01", "TV-STATUS-04"] {
        let v = load(id);
        let r = StatusResponse::from_json(&v, ParseMode::Strict).unwrap();
        assert_eq!(r.status, StreamStatus::Paused, "{id}");
        assert_eq!(serde_json::to_value(&r).unwrap(), v, "{id}");
    }
    for id in ["TV-STATUS-02", "TV-STATUS-03"] {
        let v = load(id);
        let r = StatusRequest::from_json(&v, ParseMode::Strict).unwrap();
        assert_eq!(
            r.stream_id,
            StreamId::new("f67e39a0a4d34d56b3aa1bc4cff0069f"),
            "{id}"
        );
        assert_eq!(serde_json::to_value(&r).unwrap(), v, "{id}");
    }
}

/// SSF-SUBJ-01, 02, 06: add and remove subject bodies (B-02 fixed: `phone_number`).
#[test]
fn subject_bodies_tv_subj_01_02() {
    let v = load("TV-SUBJ-01");
    let add = AddSubjectRequest::from_json(&v, ParseMode::Strict).unwrap();
    assert_eq!(add.subject, SubjectId::email("example.user@example.com"));
    assert!(add.is_verified());
    assert_eq!(serde_json::to_value(&add).unwrap(), v);
    let v = load("TV-SUBJ-02");
    let rm = RemoveSubjectRequest::from_json(&v, ParseMode::Strict).unwrap();
    assert_eq!(rm.subject, SubjectId::phone_number("+12065550123"));
    assert!(!rm.removes_stream_subject());
    assert_eq!(serde_json::to_value(&rm).unwrap(), v);
}

/// SSF-VERIFY-01: verification request body.
#[test]
fn verification_request_tv_verify_01() {
    let v = load("TV-VERIFY-01");
    let r: VerificationRequest = serde_json::from_value(v.clone()).unwrap();
    assert!(r.state.is_some());
    assert_eq!(serde_json::to_value(&r).unwrap(), v);
}

/// Checklist section 13: ID1 delivery keys and the RISC push URI only in legacy mode.
#[test]
fn legacy_delivery_keys_only_in_legacy_mode_tv_neg_26() {
    let v = load("TV-NEG-26");
    let err = StreamConfiguration::from_json(&v, ParseMode::Strict).unwrap_err();
    assert_eq!(
        err,
        BodyError::LegacyMember {
            member: "delivery_method",
            replacement: "method"
        }
    );
    assert_eq!(err.http_status(), 400);
    let c = StreamConfiguration::from_json(&v, ParseMode::Legacy).unwrap();
    let Some(Delivery::Push(push)) = &c.delivery else {
        panic!("{c:?}")
    };
    assert_eq!(push.endpoint_url, "https://receiver.example.com/events");
    assert_eq!(
        serde_json::to_value(&c).unwrap()["delivery"]["method"],
        "urn:ietf:rfc:8935"
    );
}
