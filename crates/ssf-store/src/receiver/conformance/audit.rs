//! Conformance of the receiver's audit log: filters operators need, and its own retention.
#![allow(clippy::unwrap_used, missing_docs)]

use serde_json::json;

use super::{Ctx, ReceiverHarness, T0, item};
use crate::{
    model::{AuditEntry, NewAuditEntry},
    receiver::{ApplyItem, ApplyResult, ReceiverAuditQuery},
};

const DAY: i64 = 24 * 3600 * 1000;

/// An item whose audit entry is filed under `subjects`.
fn audited(iss: &str, jti: &str, subjects: &[&str]) -> ApplyItem {
    let mut it = item(iss, jti);
    it.audit = Some(NewAuditEntry {
        actor: "peer-a".into(),
        action: "set.applied".into(),
        stream_id: None,
        detail: json!({ "jti": jti }),
    });
    it.audit_subjects = subjects.iter().map(|s| (*s).to_owned()).collect();
    it
}

fn jtis(entries: &[AuditEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e.detail["jti"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn q(f: impl FnOnce(&mut ReceiverAuditQuery)) -> ReceiverAuditQuery {
    let mut query = ReceiverAuditQuery {
        limit: 100,
        ..ReceiverAuditQuery::default()
    };
    f(&mut query);
    query
}

/// Audit entries of applied SETs are found by `jti` (and `iss`), by any of their subject keys,
/// by time and by stream key; filters combine and page. A duplicate files nothing twice
/// (SSF-RXV-13).
pub async fn audit_is_found_by_jti_subject_and_time<H: ReceiverHarness>(h: &H) {
    let ctx = Ctx::new(h).await;
    let s = &ctx.store;
    let jane = "user|email|jane@example.com";
    let sess = "session|opaque|s1";
    let pattern = format!("{jane}&{sess}");
    s.apply_batch(vec![
        audited("https://a", "j1", &[jane, &pattern, sess]),
        audited("https://b", "j1", &["user|email|bob@example.com"]),
    ])
    .await
    .unwrap();
    ctx.clock.advance(DAY);
    let later = ctx.clock_now();
    let dup = audited("https://a", "j1", &[jane]);
    let results = s
        .apply_batch(vec![dup, audited("https://a", "j2", &[jane, jane])])
        .await
        .unwrap();
    assert_eq!(results, [ApplyResult::Duplicate, ApplyResult::Applied]);

    let by_jti = s
        .query_audit(q(|q| q.jti = Some("j1".into())))
        .await
        .unwrap();
    assert_eq!(
        by_jti.len(),
        2,
        "one entry per issuer, none for the duplicate"
    );
    let by_iss_jti = q(|q| {
        q.jti = Some("j1".into());
        q.iss = Some("https://b".into());
    });
    let only_b = s.query_audit(by_iss_jti).await.unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].id, by_jti[1].id);

    let by_jane = s
        .query_audit(q(|q| q.subject = Some(jane.into())))
        .await
        .unwrap();
    assert_eq!(
        jtis(&by_jane),
        ["j1", "j2"],
        "oldest first, no duplicate row"
    );
    let by_pattern = q(|q| q.subject = Some(pattern.clone()));
    assert_eq!(jtis(&s.query_audit(by_pattern).await.unwrap()), ["j1"]);
    let by_session = s
        .query_audit(q(|q| q.subject = Some(sess.into())))
        .await
        .unwrap();
    assert_eq!(by_session.len(), 1);
    let nobody = q(|q| q.subject = Some("user|email|nobody@example.com".into()));
    assert!(s.query_audit(nobody).await.unwrap().is_empty());

    let recent = s.query_audit(q(|q| q.since = Some(later))).await.unwrap();
    assert_eq!(jtis(&recent), ["j2"]);
    let jane_recent = q(|q| {
        q.subject = Some(jane.into());
        q.since = Some(later);
    });
    assert_eq!(jtis(&s.query_audit(jane_recent).await.unwrap()), ["j2"]);
    let page = q(|q| {
        q.subject = Some(jane.into());
        q.after_id = Some(by_jane[0].id);
        q.limit = 1;
    });
    assert_eq!(jtis(&s.query_audit(page).await.unwrap()), ["j2"]);
    let other_stream = q(|q| q.stream_key = Some("peer-z".into()));
    assert!(s.query_audit(other_stream).await.unwrap().is_empty());
    let this_stream = q(|q| q.stream_key = Some("peer-a".into()));
    assert_eq!(s.query_audit(this_stream).await.unwrap().len(), 3);
    let newest = q(|q| {
        q.subject = Some(jane.into());
        q.newest_first = true;
        q.limit = 1;
    });
    assert_eq!(
        jtis(&s.query_audit(newest).await.unwrap()),
        ["j2"],
        "newest first: the latest entry, not the oldest"
    );
}

/// The audit log outlives the replay window: purging (`iss`, `jti`) pairs keeps every audit row;
/// purging the audit forgets old rows and their subject keys only (decision D-RX-04).
pub async fn audit_has_its_own_retention<H: ReceiverHarness>(h: &H) {
    let ctx = Ctx::new(h).await;
    let s = &ctx.store;
    let jane = "user|email|jane@example.com";
    s.apply_batch(vec![audited("https://a", "old", &[jane])])
        .await
        .unwrap();
    ctx.clock.advance(10 * DAY);
    let mut recent = audited("https://a", "new", &[jane]);
    recent.received_at = ctx.clock_now();
    s.apply_batch(vec![recent]).await.unwrap();
    assert_eq!(s.purge_seen(T0.plus_millis(DAY)).await.unwrap(), 1);
    let all = s.query_audit(q(|_| {})).await.unwrap();
    assert_eq!(
        jtis(&all),
        ["old", "new"],
        "the dedupe purge keeps the audit"
    );
    assert_eq!(s.purge_audit(T0.plus_millis(DAY)).await.unwrap(), 1);
    let left = s
        .query_audit(q(|q| q.subject = Some(jane.into())))
        .await
        .unwrap();
    assert_eq!(jtis(&left), ["new"]);
    assert_eq!(s.purge_audit(T0.plus_millis(DAY)).await.unwrap(), 0);
}
