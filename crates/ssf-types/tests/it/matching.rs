//! Subject matching vectors (SSF §8.1.3.1): TV-MATCH-01..04.

use ssf_types::{ParseMode, SubjectId};

use crate::support::load;

pub(crate) const COVERED: &[&str] = &["TV-MATCH-01", "TV-MATCH-02", "TV-MATCH-03", "TV-MATCH-04"];

/// SSF-SUB-35, 40, 41: each vector gives its expected result, in both argument orders.
#[test]
fn matching_vectors_give_the_expected_result() {
    for id in COVERED {
        let v = load(id);
        let added = SubjectId::from_json(&v["added"], ParseMode::Strict).unwrap();
        let event = SubjectId::from_json(&v["event"], ParseMode::Strict).unwrap();
        let expected = match v["expected"].as_str() {
            Some("match") => true,
            Some("no_match") => false,
            other => panic!("{id}: unexpected {other:?}"),
        };
        assert_eq!(added.matches(&event), expected, "{id}");
        assert_eq!(event.matches(&added), expected, "{id} (symmetric)");
    }
}
