//! Streams, status, activity, verification, subjects, audit log, OAuth clients.

use serde_json::json;
use ssf_types::StreamId;

use super::{Ctx, Harness, T0};
use crate::{
    AuditQuery, DefaultSubjects, DeliveryMethod, NewAuditEntry, NewStream, OAuthClient, StoreError,
    StreamStatus, StreamUpdate, VerificationGate,
};

fn sid(id: &str) -> StreamId {
    StreamId::new(id)
}

/// SSF-STREAM-31, SSF-STREAM-32, SSF 1.0 §7.1.1 (each receiver sees only its own streams).
pub async fn streams_are_scoped_by_client<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    let created = cx.push_stream("rp-a", "s1").await;
    assert_eq!(created.status, StreamStatus::Enabled, "SSF-STREAM-48");
    assert_eq!(created.revision, 1);
    assert_eq!(created.created_at, T0);
    let s = &cx.store;
    assert_eq!(
        s.get_stream("rp-a", &sid("s1")).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(s.get_stream("rp-b", &sid("s1")).await.unwrap(), None);
    assert!(s.list_streams("rp-b").await.unwrap().is_empty());
    assert_eq!(s.find_stream(&sid("s1")).await.unwrap(), Some(created));
    let update = StreamUpdate {
        config: json!({"hijacked": true}),
        delivery: DeliveryMethod::Push,
        inactivity_timeout_secs: None,
        min_verification_interval_secs: None,
        expected_revision: None,
    };
    assert_eq!(
        s.update_stream("rp-b", &sid("s1"), update).await.unwrap(),
        None
    );
    let reason = Some("nope".to_owned());
    let s1 = sid("s1");
    let status = s
        .set_stream_status("rp-b", &s1, StreamStatus::Disabled, reason)
        .await;
    assert_eq!(status.unwrap(), None);
    assert!(!s.delete_stream("rp-b", &sid("s1")).await.unwrap());
    assert!(!s.touch_activity("rp-b", &sid("s1")).await.unwrap());
    assert_eq!(
        s.begin_verification("rp-b", &sid("s1")).await.unwrap(),
        None
    );
    assert!(
        !s.add_subject("rp-b", &sid("s1"), "k", json!({}), None)
            .await
            .unwrap()
    );
    assert_eq!(s.drop_queued("rp-b", &sid("s1")).await.unwrap(), None);
    let still = s.get_stream("rp-a", &sid("s1")).await.unwrap().unwrap();
    assert_eq!(still.status, StreamStatus::Enabled);
    assert_eq!(still.revision, 1);
}

/// SSF-STREAM-27 with D-13: several streams per receiver.
pub async fn several_streams_per_client<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.clock.advance(1);
    cx.poll_stream("rp", "s2").await;
    cx.push_stream("other", "s3").await;
    let mine: Vec<_> = cx
        .store
        .list_streams("rp")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.stream_id)
        .collect();
    assert_eq!(mine, vec![sid("s1"), sid("s2")]);
    let all = cx
        .store
        .list_all_streams(Some(&sid("s1")), 10)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
}

/// SSF-STREAM-01: stream ids are unique across clients.
pub async fn duplicate_stream_id_conflicts<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp-a", "s1").await;
    let dup = NewStream::new(sid("s1"), "rp-b", DeliveryMethod::Push, json!({}));
    let err = cx.store.create_stream(dup).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(err.http_status(), 409);
}

/// SSF-STREAM-34/37: replace the configuration; optimistic concurrency by revision.
pub async fn update_replaces_config_with_revision_check<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.clock.advance(5);
    let update = |rev| StreamUpdate {
        config: json!({"description": "v2"}),
        delivery: DeliveryMethod::Push,
        inactivity_timeout_secs: Some(3600),
        min_verification_interval_secs: Some(30),
        expected_revision: rev,
    };
    let updated = cx
        .store
        .update_stream("rp", &sid("s1"), update(Some(1)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.revision, 2);
    assert_eq!(updated.config, json!({"description": "v2"}));
    assert_eq!(updated.inactivity_timeout_secs, Some(3600));
    assert_eq!(updated.updated_at, T0.plus_millis(5));
    let err = cx
        .store
        .update_stream("rp", &sid("s1"), update(Some(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::RevisionMismatch { current: 2 }),
        "{err:?}"
    );
    let forced = cx
        .store
        .update_stream("rp", &sid("s1"), update(None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(forced.revision, 3);
}

/// SSF-STATUS-02/03/07, D-10.
pub async fn status_changes_keep_reason<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    let s = &cx.store;
    let paused = Some("maintenance".to_owned());
    let change = s
        .set_stream_status("rp", &sid("s1"), StreamStatus::Paused, paused)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(change.previous, StreamStatus::Enabled);
    assert_eq!(change.stream.status, StreamStatus::Paused);
    assert_eq!(change.stream.status_reason.as_deref(), Some("maintenance"));
    let again = s
        .set_stream_status("rp", &sid("s1"), StreamStatus::Paused, None)
        .await
        .unwrap();
    assert_eq!(
        again.unwrap().previous,
        StreamStatus::Paused,
        "D-10: a no-op change"
    );
    let back = s
        .set_stream_status("rp", &sid("s1"), StreamStatus::Enabled, None)
        .await
        .unwrap();
    let back = back.unwrap().stream;
    assert_eq!(
        (back.status, back.status_reason),
        (StreamStatus::Enabled, None)
    );
}

/// SSF-STREAM-49: deletion discards subjects and queued SETs; later calls see nothing.
pub async fn delete_stream_cascades<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.push_stream("rp", "s2").await;
    assert!(
        cx.store
            .add_subject("rp", &sid("s1"), "k1", json!({"x": 1}), Some(true))
            .await
            .unwrap()
    );
    cx.enqueue(&[("s1", "j1", "k1"), ("s1", "j2", "k2"), ("s2", "j3", "k1")])
        .await;
    assert!(cx.store.delete_stream("rp", &sid("s1")).await.unwrap());
    assert_eq!(cx.store.get_stream("rp", &sid("s1")).await.unwrap(), None);
    assert!(!cx.store.delete_stream("rp", &sid("s1")).await.unwrap());
    assert_eq!(
        cx.store
            .outbox_counts(Some(&sid("s1")))
            .await
            .unwrap()
            .queued(),
        0
    );
    assert_eq!(cx.store.outbox_counts(None).await.unwrap().queued(), 1);
    assert!(
        cx.store
            .subject_entries(&["k1".to_owned()])
            .await
            .unwrap()
            .is_empty()
    );
    // Re-creating the id starts from nothing.
    cx.push_stream("rp", "s1").await;
    assert_eq!(
        cx.store
            .outbox_counts(Some(&sid("s1")))
            .await
            .unwrap()
            .queued(),
        0
    );
    assert_eq!(
        cx.store.get_subject("rp", &sid("s1"), "k1").await.unwrap(),
        None
    );
}

/// SSF-STREAM-10/11: activity restarts the inactivity counter; inactive streams are listed.
pub async fn activity_and_inactivity_timeout<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    let mut new = NewStream::new(sid("s1"), "rp", DeliveryMethod::Push, json!({}));
    new.inactivity_timeout_secs = Some(60);
    cx.store.create_stream(new).await.unwrap();
    cx.push_stream("rp", "no-timeout").await;
    cx.clock.advance(59_000);
    assert!(cx.store.list_inactive_streams().await.unwrap().is_empty());
    assert!(cx.store.touch_activity("rp", &sid("s1")).await.unwrap());
    cx.clock.advance(59_000);
    assert!(cx.store.list_inactive_streams().await.unwrap().is_empty());
    cx.clock.advance(1_000);
    let inactive = cx.store.list_inactive_streams().await.unwrap();
    assert_eq!(inactive.len(), 1);
    assert_eq!(inactive[0].last_activity_at, T0.plus_millis(59_000));
    let s1 = sid("s1");
    cx.store
        .set_stream_status("rp", &s1, StreamStatus::Disabled, None)
        .await
        .unwrap();
    assert!(
        cx.store.list_inactive_streams().await.unwrap().is_empty(),
        "disabled: done"
    );
}

/// SSF-STREAM-08, SSF-VERIFY-12: `min_verification_interval` gate.
pub async fn verification_respects_min_interval<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    let mut new = NewStream::new(sid("s1"), "rp", DeliveryMethod::Push, json!({}));
    new.min_verification_interval_secs = Some(30);
    cx.store.create_stream(new).await.unwrap();
    let s = &cx.store;
    assert_eq!(
        s.begin_verification("rp", &sid("s1")).await.unwrap(),
        Some(VerificationGate::Allowed)
    );
    cx.clock.advance(10_000);
    let next_allowed_at = T0.plus_millis(30_000);
    let too_soon = Some(VerificationGate::TooSoon { next_allowed_at });
    assert_eq!(
        s.begin_verification("rp", &sid("s1")).await.unwrap(),
        too_soon
    );
    cx.clock.advance(20_000);
    assert_eq!(
        s.begin_verification("rp", &sid("s1")).await.unwrap(),
        Some(VerificationGate::Allowed)
    );
    let stream = s.get_stream("rp", &sid("s1")).await.unwrap().unwrap();
    assert_eq!(stream.last_verification_at, Some(T0.plus_millis(30_000)));
    assert_eq!(
        stream.last_activity_at,
        T0.plus_millis(30_000),
        "SSF-STREAM-11"
    );
    cx.push_stream("rp", "free").await;
    assert_eq!(
        s.begin_verification("rp", &sid("free")).await.unwrap(),
        Some(VerificationGate::Allowed)
    );
    assert_eq!(
        s.begin_verification("rp", &sid("free")).await.unwrap(),
        Some(VerificationGate::Allowed)
    );
}

/// SSF-SUBJ-01/02/06: add, remove, look up and list by canonical key.
pub async fn subjects_add_remove_lookup<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    let s = &cx.store;
    let alice = json!({"format": "email", "email": "alice@example.com"});
    assert!(
        s.add_subject(
            "rp",
            &sid("s1"),
            "email:alice@example.com",
            alice.clone(),
            None
        )
        .await
        .unwrap()
    );
    assert!(
        s.add_subject(
            "rp",
            &sid("s1"),
            "email:bob@example.com",
            json!({}),
            Some(false)
        )
        .await
        .unwrap()
    );
    let entry = s
        .get_subject("rp", &sid("s1"), "email:alice@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (entry.included, entry.verified, entry.subject),
        (true, None, alice.clone())
    );
    assert_eq!(
        s.get_subject("rp-b", &sid("s1"), "email:alice@example.com")
            .await
            .unwrap(),
        None
    );
    assert!(
        s.remove_subject("rp", &sid("s1"), "email:alice@example.com", alice)
            .await
            .unwrap()
    );
    let removed = s
        .get_subject("rp", &sid("s1"), "email:alice@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(!removed.included);
    let page = s.list_subjects("rp", &sid("s1"), None, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].subject_key, "email:alice@example.com");
    let next = s
        .list_subjects("rp", &sid("s1"), Some("email:alice@example.com"), 10)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].verified, Some(false));
    assert!(
        s.list_subjects("rp-b", &sid("s1"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Subject counts per stream (the operator console): added and removed entries, another
/// stream's apart, zeros for a stream without subjects or unknown; a re-add moves the count;
/// all streams' counts in one query agree, and the streams are counted.
pub async fn subjects_are_counted_per_stream<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.poll_stream("rp-b", "s2").await;
    let s = &cx.store;
    for key in ["a", "b", "c"] {
        assert!(
            s.add_subject("rp", &sid("s1"), key, json!({}), None)
                .await
                .unwrap()
        );
    }
    s.remove_subject("rp", &sid("s1"), "b", json!({}))
        .await
        .unwrap();
    s.add_subject("rp-b", &sid("s2"), "a", json!({}), None)
        .await
        .unwrap();
    let counts = s.count_subjects(&sid("s1")).await.unwrap();
    assert_eq!((counts.included, counts.excluded), (2, 1));
    let other = s.count_subjects(&sid("s2")).await.unwrap();
    assert_eq!((other.included, other.excluded), (1, 0));
    s.add_subject("rp", &sid("s1"), "b", json!({}), None)
        .await
        .unwrap();
    let counts = s.count_subjects(&sid("s1")).await.unwrap();
    assert_eq!((counts.included, counts.excluded), (3, 0));
    // All streams in one query, as the console's streams page reads them.
    let by_stream = s.subject_counts_by_stream().await.unwrap();
    assert_eq!(by_stream.len(), 2, "{by_stream:?}");
    assert_eq!(by_stream[&sid("s1")], counts);
    assert_eq!(by_stream[&sid("s2")], other);
    assert_eq!(s.count_streams().await.unwrap(), 2);
    assert_eq!(
        s.count_subjects(&sid("nope")).await.unwrap(),
        crate::SubjectCounts::default()
    );
    assert!(s.delete_stream("rp", &sid("s1")).await.unwrap());
    assert_eq!(
        s.count_subjects(&sid("s1")).await.unwrap(),
        crate::SubjectCounts::default(),
        "deleted with the stream"
    );
}

/// D-15 and SSF 1.0 §8.1.3: `default_subjects` ALL matches unless removed, NONE only if added;
/// disabled streams never match.
pub async fn matching_follows_default_subjects<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "all").await;
    let mut none = NewStream::new(sid("none"), "rp", DeliveryMethod::Push, json!({}));
    none.default_subjects = DefaultSubjects::None;
    cx.store.create_stream(none).await.unwrap();
    cx.push_stream("rp", "off").await;
    cx.store
        .set_stream_status("rp", &sid("off"), StreamStatus::Disabled, None)
        .await
        .unwrap();
    let s = &cx.store;
    let keys = |k: &[&str]| k.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        s.match_streams(&keys(&["alice"])).await.unwrap(),
        vec![sid("all")]
    );
    s.add_subject("rp", &sid("none"), "alice", json!({}), None)
        .await
        .unwrap();
    s.remove_subject("rp", &sid("all"), "bob", json!({}))
        .await
        .unwrap();
    assert_eq!(
        s.match_streams(&keys(&["alice"])).await.unwrap(),
        vec![sid("all"), sid("none")]
    );
    assert!(s.match_streams(&keys(&["bob"])).await.unwrap().is_empty());
    // Any included key wins; any excluded key excludes an ALL stream otherwise.
    assert_eq!(
        s.match_streams(&keys(&["bob", "alice"])).await.unwrap(),
        vec![sid("none")]
    );
    assert_eq!(s.match_streams(&[]).await.unwrap(), vec![sid("all")]);
    let entries = s.subject_entries(&keys(&["alice", "bob"])).await.unwrap();
    let summary: Vec<_> = entries
        .iter()
        .map(|e| (e.stream_id.as_str(), e.subject_key.as_str(), e.included))
        .collect();
    assert_eq!(
        summary,
        vec![("all", "bob", false), ("none", "alice", true)]
    );
}

/// Audit log of management actions.
pub async fn audit_log_appends_and_pages<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    let entry = |action: &str, stream: Option<&str>| NewAuditEntry {
        actor: "rp".to_owned(),
        action: action.to_owned(),
        stream_id: stream.map(sid),
        detail: json!({"n": action}),
    };
    let first = cx
        .store
        .append_audit(entry("stream.create", Some("s1")))
        .await
        .unwrap();
    cx.clock.advance(1);
    cx.store
        .append_audit(entry("client.upsert", None))
        .await
        .unwrap();
    cx.store
        .append_audit(entry("stream.delete", Some("s1")))
        .await
        .unwrap();
    let all = cx
        .store
        .list_audit(AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].id, first);
    assert_eq!(all[0].at, T0);
    assert_eq!(all[1].at, T0.plus_millis(1));
    let query = AuditQuery {
        stream_id: Some(sid("s1")),
        after_id: Some(first),
        limit: 10,
    };
    let page = cx.store.list_audit(query).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].action, "stream.delete");
    assert_eq!(page[0].detail, json!({"n": "stream.delete"}));
}

/// OAuth clients: upsert keeps `created_at`; secrets are stored only as hashes.
pub async fn oauth_clients_upsert_and_get<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    let client = OAuthClient {
        client_id: "rp".to_owned(),
        secret_hash: Some("$argon2id$v=19$hash".to_owned()),
        scopes: vec!["ssf.read".to_owned(), "ssf.manage".to_owned()],
        audience: vec!["https://rp.example".to_owned()],
    };
    let stored = cx.store.upsert_client(client.clone()).await.unwrap();
    assert_eq!(stored.client, client);
    cx.clock.advance(10);
    let changed = OAuthClient {
        scopes: vec!["ssf.read".to_owned()],
        ..client
    };
    let updated = cx.store.upsert_client(changed.clone()).await.unwrap();
    assert_eq!(
        (updated.created_at, updated.updated_at),
        (T0, T0.plus_millis(10))
    );
    assert_eq!(
        cx.store.get_client("rp").await.unwrap().unwrap().client,
        changed
    );
    assert_eq!(cx.store.get_client("nobody").await.unwrap(), None);
    assert_eq!(cx.store.list_clients().await.unwrap().len(), 1);
    assert!(cx.store.delete_client("rp").await.unwrap());
    assert!(!cx.store.delete_client("rp").await.unwrap());
}
