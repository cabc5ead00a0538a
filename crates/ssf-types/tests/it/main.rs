//! Integration tests of `ssf-types`: every JSON test vector of the checklist (section 15), plus
//! property tests. Test names and comments carry the checklist ids they cover.

// Helpers outside `#[test]` functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod delivery;
mod headers;
mod inventory;
mod management;
mod matching;
mod props;
mod sets;
mod subjects;
mod support;
