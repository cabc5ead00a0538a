//! JOSE header vectors: TV-HDR-01/02, TV-NEG-24/25. Only the `typ` rule is this crate's;
//! signature and `alg` checks are `ssf-jose`'s.

use ssf_types::set::{SECEVENT_TYP, is_secevent_typ};

use crate::support::load;

pub(crate) const COVERED: &[&str] = &["TV-HDR-01", "TV-HDR-02", "TV-NEG-24", "TV-NEG-25"];

fn typ(id: &str) -> String {
    load(id)["typ"].as_str().unwrap().to_owned()
}

/// SSF-SET-01/02, SSF-RXV-05: both spellings of the SET media type are accepted.
#[test]
fn secevent_typ_tv_hdr_01_02() {
    assert_eq!(typ("TV-HDR-01"), SECEVENT_TYP);
    assert!(is_secevent_typ(&typ("TV-HDR-01")));
    assert!(is_secevent_typ(&typ("TV-HDR-02")));
}

/// SSF-RXV-05: `typ: JWT` is not a SET (invalid_request).
#[test]
fn jwt_typ_is_refused_tv_neg_24() {
    assert!(!is_secevent_typ(&typ("TV-NEG-24")));
}

/// TV-NEG-25: the `typ` is right; refusing `alg: none` is ssf-jose's job (SSF-SIG-05). Here we
/// only pin the vector's content so a change to it is noticed.
#[test]
fn alg_none_vector_has_a_valid_typ_tv_neg_25() {
    let v = load("TV-NEG-25");
    assert!(is_secevent_typ(&typ("TV-NEG-25")));
    assert_eq!(v["alg"], "none");
    assert!(v.get("kid").is_none());
}
