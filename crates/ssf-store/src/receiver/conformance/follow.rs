//! Conformance of the state change log that lets receiver nodes sharing a store follow each
//! other's writes (issue 6: "a decision on any node sees the event applied on another"). A store
//! serving one node (no log) must say so and return nothing.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use serde_json::json;

use super::{Ctx, ReceiverHarness, delete, item, put};
use crate::{
    receiver::{ApplyResult, StateWrite},
    wake::Wake,
};

const ISS: &str = "https://tx.example";

/// Node A's applied writes reach node B through the log, in commit order and once; A's own are
/// skipped; duplicates log nothing; pages chain; a purge past a cursor tells its reader to
/// reload.
pub async fn state_log_lets_other_nodes_follow<H: ReceiverHarness>(harness: &H) {
    let ctx = Ctx::new(harness).await;
    let a = &ctx.store;
    let Some(head) = a.state_log_head().await.unwrap() else {
        // One node per store: nothing is logged and nothing signals.
        let changes = a.state_changes(0, 10).await.unwrap();
        assert!(changes.writes.is_empty() && !changes.more && !changes.truncated);
        assert!(a.state_change_signal().is_none());
        return;
    };
    let b = harness.open(&ctx.db, ctx.clock.clone()).await;
    let mut signal = b.state_change_signal();

    let mut first = item(ISS, "j1");
    first.writes = vec![
        put("grant", "k1", json!({"n": 1}), 10),
        delete("grant", "k0", 20),
    ];
    let mut second = item(ISS, "j2");
    second.writes = vec![put("grant", "k2", json!({"n": 2}), 30)];
    let results = a
        .apply_batch(vec![first.clone(), second.clone()])
        .await
        .unwrap();
    assert_eq!(results, vec![ApplyResult::Applied; 2]);
    if let Some(signal) = signal.as_mut() {
        assert_eq!(
            signal.wait(Duration::from_secs(10)).await,
            Wake::Signalled,
            "B is told that A committed writes"
        );
    }

    let seen = b.state_changes(head, 100).await.unwrap();
    let expected: Vec<StateWrite> = first.writes.iter().chain(&second.writes).cloned().collect();
    assert_eq!(seen.writes, expected, "B reads A's writes in order");
    assert!(!seen.more && !seen.truncated);
    assert!(seen.cursor > head);

    let own = a.state_changes(head, 100).await.unwrap();
    assert!(own.writes.is_empty(), "a node skips its own writes");
    assert_eq!(own.cursor, seen.cursor, "but its cursor moves past them");

    // A duplicate stores nothing, so logs nothing; an item without writes logs nothing.
    let again = a.apply_batch(vec![first, item(ISS, "j3")]).await.unwrap();
    assert_eq!(again, vec![ApplyResult::Duplicate, ApplyResult::Applied]);
    let none = b.state_changes(seen.cursor, 100).await.unwrap();
    assert!(none.writes.is_empty() && !none.truncated);
    assert_eq!(none.cursor, seen.cursor);

    // B's writes reach A; pages of one chain through `more`.
    let mut third = item(ISS, "j4");
    third.writes = vec![
        put("grant", "k3", json!(3), 40),
        put("grant", "k4", json!(4), 40),
    ];
    b.apply_batch(vec![third.clone()]).await.unwrap();
    let page = a.state_changes(seen.cursor, 1).await.unwrap();
    assert_eq!(page.writes, third.writes[..1]);
    assert!(page.more);
    let rest = a.state_changes(page.cursor, 1).await.unwrap();
    assert_eq!(rest.writes, third.writes[1..]);
    let end = a.state_changes(rest.cursor, 1).await.unwrap();
    assert!(end.writes.is_empty() && !end.more);
    let new_head = a.state_log_head().await.unwrap().unwrap();
    assert_eq!(new_head, end.cursor, "the head is the last entry");

    // A purge of everything: a reader that had not read it must reload; one at the head need not.
    ctx.clock.advance(60_000);
    let purged = a.purge_state_log(ctx.clock_now()).await.unwrap();
    assert_eq!(purged, 5);
    assert!(b.state_changes(head, 100).await.unwrap().truncated);
    let current = b.state_changes(new_head, 100).await.unwrap();
    assert!(!current.truncated && current.writes.is_empty());
    assert_eq!(
        b.state_log_head().await.unwrap(),
        Some(new_head),
        "the head survives a purge"
    );
    assert_eq!(a.purge_state_log(ctx.clock_now()).await.unwrap(), 0);
}
