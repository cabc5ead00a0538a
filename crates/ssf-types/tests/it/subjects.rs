//! Subject identifier vectors: TV-SUBID (positive) and TV-NEG-16..20.

use serde_json::Value;
use ssf_types::{ParseMode, SubjectError, SubjectId, subject::SubjectFormat};

use crate::support::load;

pub(crate) const COVERED: &[&str] = &[
    "TV-SUBID-01",
    "TV-SUBID-02",
    "TV-SUBID-03",
    "TV-SUBID-04",
    "TV-SUBID-05",
    "TV-SUBID-06",
    "TV-SUBID-07",
    "TV-SUBID-08",
    "TV-SUBID-09",
    "TV-SUBID-10",
    "TV-SUBID-11",
    "TV-SUBID-12",
    "TV-SUBID-13",
    "TV-SUBID-14",
    "TV-NEG-16",
    "TV-NEG-17",
    "TV-NEG-18",
    "TV-NEG-19",
    "TV-NEG-20",
];

/// SSF-SUB-10..21: every format of RFC 9493 and SSF §3 parses to its variant, passes the
/// transmitter validation and round-trips exactly.
#[test]
fn subject_vectors_parse_validate_and_round_trip() {
    let cases = [
        ("TV-SUBID-01", SubjectFormat::Account),
        ("TV-SUBID-02", SubjectFormat::Email),
        ("TV-SUBID-03", SubjectFormat::IssSub),
        ("TV-SUBID-04", SubjectFormat::Opaque),
        ("TV-SUBID-05", SubjectFormat::PhoneNumber),
        ("TV-SUBID-06", SubjectFormat::Did),
        ("TV-SUBID-07", SubjectFormat::Did),
        ("TV-SUBID-08", SubjectFormat::Uri),
        ("TV-SUBID-09", SubjectFormat::Uri),
        ("TV-SUBID-10", SubjectFormat::Aliases),
        ("TV-SUBID-11", SubjectFormat::JwtId),
        ("TV-SUBID-12", SubjectFormat::SamlAssertionId),
        ("TV-SUBID-13", SubjectFormat::IpAddresses),
        ("TV-SUBID-14", SubjectFormat::Complex),
    ];
    for (id, format) in cases {
        let v = load(id);
        let s = SubjectId::from_json(&v, ParseMode::Strict).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(s.format(), format, "{id}");
        assert!(!matches!(s, SubjectId::Other { .. }), "{id}");
        assert_eq!(s.validate(), Ok(()), "{id}");
        assert_eq!(serde_json::to_value(&s).unwrap(), v, "{id}");
        let back: SubjectId = serde_json::from_value(v).unwrap();
        assert_eq!(back, s, "{id}");
    }
}

#[test]
fn complex_and_aliases_members_tv_subid_10_14() {
    let s = SubjectId::from_json(&load("TV-SUBID-14"), ParseMode::Strict).unwrap();
    let c = s.as_complex().unwrap();
    assert_eq!(c.user(), Some(&SubjectId::email("bar@example.com")));
    assert_eq!(
        c.get("tenant"),
        Some(&SubjectId::iss_sub("https://example.com/idp1", "1234"))
    );
    let SubjectId::Aliases { identifiers, .. } =
        SubjectId::from_json(&load("TV-SUBID-10"), ParseMode::Strict).unwrap()
    else {
        panic!()
    };
    assert_eq!(identifiers.len(), 3);
}

/// SSF-SUB-17, 33, 02, 03, 23: invalid subjects are refused with a precise error.
#[test]
fn invalid_subjects_are_refused_tv_neg_16_to_19() {
    let cases = [
        ("TV-NEG-16", SubjectError::NestedAliases),
        ("TV-NEG-17", SubjectError::NestedComplex("user".into())),
        (
            "TV-NEG-18",
            SubjectError::MissingMember {
                format: "email".into(),
                member: "email",
            },
        ),
        (
            "TV-NEG-19",
            SubjectError::EmptyMember {
                format: "iss_sub".into(),
                member: "sub",
            },
        ),
    ];
    for (id, expected) in cases {
        let v = load(id);
        for mode in [ParseMode::Strict, ParseMode::Legacy] {
            assert_eq!(
                SubjectId::from_json(&v, mode),
                Err(expected.clone()),
                "{id}"
            );
        }
        assert!(serde_json::from_value::<SubjectId>(v).is_err(), "{id}");
    }
}

/// SSF-SUB-23/24, RISC §3.1: Google's `subject_type` only in legacy mode.
#[test]
fn subject_type_only_in_legacy_mode_tv_neg_20() {
    let v: Value = load("TV-NEG-20");
    assert_eq!(
        SubjectId::from_json(&v, ParseMode::Strict),
        Err(SubjectError::LegacySubjectType)
    );
    let s = SubjectId::from_json(&v, ParseMode::Legacy).unwrap();
    assert_eq!(
        s,
        SubjectId::iss_sub("https://accounts.google.com/", "7375626A656374")
    );
    // Re-serialized in the final format (SSF-SUB-23: never emit subject_type).
    assert_eq!(serde_json::to_value(&s).unwrap()["format"], "iss_sub");
    assert!(
        serde_json::to_value(&s)
            .unwrap()
            .get("subject_type")
            .is_none()
    );
}
