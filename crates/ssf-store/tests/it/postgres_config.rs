//! PostgreSQL: the configuration channel. Every committed change to a stream or a subject sends
//! one `NOTIFY` on the schema's configuration channel, which the other nodes turn into a
//! [`TransmitterStore::config_changes`] signal (their routing caches reload); writes that change
//! nothing, and writes that fail and roll back, send none.

use sqlx::postgres::PgListener;
use ssf_store::{
    DeliveryMethod, PgOptions, PgStore, StreamStatus, StreamUpdate, TransmitterStore, Wake,
};
use ssf_types::{ManualClock, StreamId, UnixMillis};

use crate::postgres::{DEADLINE, PgHarness, create, two_nodes};

/// The next notification `listener` receives, within [`DEADLINE`]: `(channel, payload)`.
async fn next(listener: &mut PgListener) -> (String, String) {
    let got = tokio::time::timeout(DEADLINE, listener.recv())
        .await
        .expect("a notification within the deadline")
        .unwrap();
    (got.channel().to_owned(), got.payload().to_owned())
}

/// A raw listener on `store`'s configuration channel.
async fn listen_config(url: &str, store: &PgStore) -> PgListener {
    let mut listener = PgListener::connect(url).await.unwrap();
    listener.listen(store.config_channel()).await.unwrap();
    listener
}

/// Issue 6 (stream management on any node): each committed stream or subject change made on
/// node A is announced once on the configuration channel, with A's node id, and signals node B's
/// [`TransmitterStore::config_changes`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_stream_or_subject_change_is_announced() {
    let Some((h, _db, _clock, a, b)) = two_nodes().await else {
        return;
    };
    assert_ne!(a.config_channel(), a.notify_channel());
    let mut raw = listen_config(h.server.url(), &a).await;
    let mut changes = b
        .config_changes()
        .expect("PostgreSQL signals configuration changes");

    create(&a, "s1", DeliveryMethod::Poll).await;
    let (channel, node_a) = next(&mut raw).await;
    assert_eq!(channel, a.config_channel());
    assert!(!node_a.is_empty() && !node_a.contains(' '), "{node_a:?}");
    assert_eq!(changes.wait(DEADLINE).await, Wake::Signalled, "create");

    let id = StreamId::new("s1");
    let update = StreamUpdate {
        config: serde_json::json!({ "stream_id": "s1", "description": "x" }),
        delivery: DeliveryMethod::Poll,
        inactivity_timeout_secs: None,
        min_verification_interval_secs: None,
        expected_revision: None,
    };
    assert!(a.update_stream("rp", &id, update).await.unwrap().is_some());
    assert_eq!(next(&mut raw).await.1, node_a, "update");
    let status = StreamStatus::Disabled;
    assert!(
        a.set_stream_status("rp", &id, status, None)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(next(&mut raw).await.1, node_a, "status");
    let subject = serde_json::json!({ "format": "email", "email": "a@example.com" });
    assert!(
        a.add_subject("rp", &id, "k", subject.clone(), None)
            .await
            .unwrap()
    );
    assert_eq!(next(&mut raw).await.1, node_a, "add subject");
    assert!(a.remove_subject("rp", &id, "k", subject).await.unwrap());
    assert_eq!(next(&mut raw).await.1, node_a, "remove subject");
    assert!(a.delete_stream("rp", &id).await.unwrap());
    assert_eq!(next(&mut raw).await.1, node_a, "delete");
    assert_eq!(
        changes.wait(DEADLINE).await,
        Wake::Signalled,
        "later changes"
    );

    // B's own changes reach A's listener with B's id.
    create(&b, "s2", DeliveryMethod::Poll).await;
    let (_, node_b) = next(&mut raw).await;
    assert_ne!(node_b, node_a);
}

/// Writes that fail (and roll back) or change nothing announce nothing: after them, the next
/// notification on the channel is a marker sent afterwards by another session (notifications
/// arrive in commit order), so no timing is involved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_no_op_writes_announce_nothing() {
    let Some((h, _db, _clock, a, _b)) = two_nodes().await else {
        return;
    };
    create(&a, "s1", DeliveryMethod::Poll).await;
    let mut raw = listen_config(h.server.url(), &a).await;
    let id = StreamId::new("s1");
    let duplicate = ssf_store::NewStream::new(
        id.clone(),
        "rp",
        DeliveryMethod::Poll,
        serde_json::json!({}),
    );
    let err = a.create_stream(duplicate).await.unwrap_err();
    assert!(matches!(err, ssf_store::StoreError::Conflict(_)), "{err:?}");
    let stale = StreamUpdate {
        config: serde_json::json!({}),
        delivery: DeliveryMethod::Poll,
        inactivity_timeout_secs: None,
        min_verification_interval_secs: None,
        expected_revision: Some(99),
    };
    assert!(
        a.update_stream("rp", &id, stale).await.is_err(),
        "revision mismatch"
    );
    let subject = serde_json::json!({ "format": "email", "email": "a@example.com" });
    assert!(
        !a.add_subject("other", &id, "k", subject, None)
            .await
            .unwrap()
    );
    assert!(!a.delete_stream("other", &id).await.unwrap());
    let missing = StreamId::new("missing");
    let status = StreamStatus::Paused;
    assert!(
        a.set_stream_status("rp", &missing, status, None)
            .await
            .unwrap()
            .is_none()
    );
    a.touch_activity("rp", &id).await.unwrap();

    sqlx::query("SELECT pg_notify($1, 'marker')")
        .bind(a.config_channel())
        .execute(h.server.admin())
        .await
        .unwrap();
    assert_eq!(next(&mut raw).await.1, "marker");
}

/// A store without the `LISTEN` task cannot tell about other nodes' changes: it says so.
#[tokio::test]
async fn without_listen_there_is_no_config_subscription() {
    let Some(harness) = PgHarness::new().await else {
        return;
    };
    let db = harness.server.schema().await;
    let clock = std::sync::Arc::new(ManualClock::new(UnixMillis(0)));
    let options = PgOptions {
        listen: false,
        ..db.options()
    };
    let store = PgStore::connect(harness.server.url(), clock, options)
        .await
        .unwrap();
    assert!(store.config_changes().is_none());
    store.close().await;
}
