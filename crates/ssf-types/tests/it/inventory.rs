//! No vector is silently skipped: the files on disk are exactly the 112 of the checklist, and
//! each one is claimed by a test module's `COVERED` list.

use std::collections::BTreeSet;

use crate::{delivery, headers, management, matching, sets, subjects, support};

#[test]
fn there_are_112_vector_files_and_every_one_is_tested() {
    let on_disk: BTreeSet<String> = support::ids_on_disk().into_iter().collect();
    assert_eq!(on_disk.len(), 112, "checklist section 15 has 112 vectors");
    let covered: Vec<&str> = [
        sets::COVERED,
        subjects::COVERED,
        matching::COVERED,
        management::COVERED,
        delivery::COVERED,
        headers::COVERED,
    ]
    .concat();
    let covered_set: BTreeSet<String> = covered.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        covered.len(),
        covered_set.len(),
        "a vector is claimed twice"
    );
    let missing: Vec<_> = on_disk.difference(&covered_set).collect();
    let unknown: Vec<_> = covered_set.difference(&on_disk).collect();
    assert!(missing.is_empty(), "vectors no test covers: {missing:?}");
    assert!(
        unknown.is_empty(),
        "covered ids without a file: {unknown:?}"
    );
}

#[test]
fn per_family_counts_match_the_checklist() {
    let ids = support::ids_on_disk();
    let count = |p: &str| {
        ids.iter()
            .filter(|i| i.starts_with(&format!("TV-{p}-")))
            .count()
    };
    let expected = [
        ("HDR", 2),
        ("SSF", 10),
        ("SUBID", 14),
        ("MATCH", 4),
        ("META", 2),
        ("STREAM", 9),
        ("STATUS", 4),
        ("SUBJ", 2),
        ("VERIFY", 1),
        ("PUSH", 2),
        ("POLL", 7),
        ("CAEP", 13),
        ("RISC", 15),
        ("NEG", 27),
    ];
    for (family, n) in expected {
        assert_eq!(count(family), n, "TV-{family}");
    }
}
