//! Conformance of the verification requests a receiver sent: any state sent within a day is
//! accepted, whichever node sent it (SSF-RXV-10, SSF-VERIFY-10 with several receiver nodes).
#![allow(clippy::unwrap_used, missing_docs)]

use super::{Ctx, ReceiverHarness, last_verification_state, stream};
use crate::receiver::VERIFICATION_REQUEST_TTL_MS;

/// Two requests (as two nodes would send them) are both expected, a state never sent is not,
/// nor one of another stream; after a day a state is no longer expected; deleting the stream
/// forgets its requests; a stream that does not exist records nothing.
pub async fn every_recent_verification_request_is_expected<H: ReceiverHarness>(h: &H) {
    let ctx = Ctx::new(h).await;
    let s = &ctx.store;
    let expected = |key: &'static str, state: &'static str| async move {
        s.is_expected_verification_state(key, state).await.unwrap()
    };
    assert!(
        !s.set_expected_verification_state("nope", Some("x".into()))
            .await
            .unwrap()
    );
    assert!(!expected("nope", "x").await);

    s.upsert_stream(stream("peer-a")).await.unwrap();
    s.upsert_stream(stream("peer-b")).await.unwrap();
    s.set_expected_verification_state("peer-a", Some("from-node-1".into()))
        .await
        .unwrap();
    ctx.clock.advance(1_000);
    s.set_expected_verification_state("peer-a", Some("from-node-2".into()))
        .await
        .unwrap();
    assert!(
        expected("peer-a", "from-node-1").await,
        "an earlier request"
    );
    assert!(expected("peer-a", "from-node-2").await, "the last request");
    assert!(!expected("peer-a", "never-sent").await);
    assert!(!expected("peer-b", "from-node-1").await, "another stream's");
    assert_eq!(
        last_verification_state(s.as_ref(), "peer-a")
            .await
            .as_deref(),
        Some("from-node-2"),
        "the last one is still the stream's"
    );

    // A day after the first request, only the second (1 s younger) is still expected.
    ctx.clock.advance(VERIFICATION_REQUEST_TTL_MS - 500);
    assert!(!expected("peer-a", "from-node-1").await, "older than a day");
    assert!(expected("peer-a", "from-node-2").await);
    // A request without state keeps the others.
    s.set_expected_verification_state("peer-a", None)
        .await
        .unwrap();
    assert!(expected("peer-a", "from-node-2").await);

    assert!(s.delete_stream("peer-a").await.unwrap());
    s.upsert_stream(stream("peer-a")).await.unwrap();
    assert!(
        !expected("peer-a", "from-node-2").await,
        "a deleted stream's requests are forgotten"
    );
}
