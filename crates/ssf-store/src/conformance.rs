//! The backend-neutral conformance suite for [`TransmitterStore`] (feature `conformance`).
//!
//! Every implementation runs every function here against a fresh database through a
//! [`Harness`]; [`transmitter_conformance_tests!`](crate::transmitter_conformance_tests) expands
//! to one `#[tokio::test]` per function. Times come from a [`ManualClock`] the tests drive; nothing
//! sleeps. Checklist ids in the function docs say which rule each one covers.
// Test-support code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod idempotency;
mod leases;
pub mod outage;
mod outbox;
pub mod pg;
mod poll;
mod streams;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use ssf_types::{Jti, ManualClock, StreamId, UnixMillis};

use crate::{DeliveryMethod, NewSet, NewStream, StreamRecord, TransmitterStore};

pub use idempotency::*;
pub use leases::*;
pub use outbox::*;
pub use poll::*;
pub use streams::*;

/// Opens stores of one backend for the suite.
#[async_trait]
pub trait Harness: Send + Sync {
    /// One empty database (a tempdir file, a fresh schema...), owned for the test's duration.
    type Db: Send + Sync;

    /// Creates an empty database.
    async fn create_db(&self) -> Self::Db;

    /// Opens a store on `db` with `clock`. Called again on the same `db` to simulate a restart.
    async fn open(&self, db: &Self::Db, clock: ManualClock) -> Arc<dyn TransmitterStore>;
}

/// A fresh database and a store on it, with the clock the test drives.
pub struct Ctx<'h, H: Harness> {
    pub harness: &'h H,
    pub db: H::Db,
    pub clock: ManualClock,
    pub store: Arc<dyn TransmitterStore>,
}

impl<H: Harness> std::fmt::Debug for Ctx<'_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("clock", &self.clock)
            .field("store", &self.store)
            .finish()
    }
}

/// The suite's start time.
pub const T0: UnixMillis = UnixMillis(1_767_225_600_000);

impl<'h, H: Harness> Ctx<'h, H> {
    pub async fn new(harness: &'h H) -> Self {
        let db = harness.create_db().await;
        let clock = ManualClock::new(T0);
        let store = harness.open(&db, clock.clone()).await;
        Self {
            harness,
            db,
            clock,
            store,
        }
    }

    /// Drops the store without closing it (a crash) and opens the same database again.
    pub async fn crash_and_reopen(&mut self) {
        self.store = self.harness.open(&self.db, self.clock.clone()).await;
    }

    /// Closes the store cleanly and opens the same database again.
    pub async fn close_and_reopen(&mut self) {
        self.store.close().await;
        self.store = self.harness.open(&self.db, self.clock.clone()).await;
    }

    pub async fn stream(&self, client: &str, id: &str, delivery: DeliveryMethod) -> StreamRecord {
        let config = json!({ "stream_id": id, "delivery": { "method": delivery.as_str() } });
        self.store
            .create_stream(NewStream::new(StreamId::new(id), client, delivery, config))
            .await
            .unwrap()
    }

    pub async fn push_stream(&self, client: &str, id: &str) -> StreamRecord {
        self.stream(client, id, DeliveryMethod::Push).await
    }

    pub async fn poll_stream(&self, client: &str, id: &str) -> StreamRecord {
        self.stream(client, id, DeliveryMethod::Poll).await
    }

    /// Enqueues one SET per `(stream, jti, subject key)`, in one batch.
    pub async fn enqueue(&self, sets: &[(&str, &str, &str)]) {
        let report = self
            .store
            .enqueue(sets.iter().map(|s| set(s.0, s.1, s.2)).collect())
            .await
            .unwrap();
        assert_eq!(report.queued, sets.len() as u64, "{report:?}");
    }
}

/// A SET for the suite: the "JWT" is recognisable text.
pub fn set(stream: &str, jti: &str, subject_key: &str) -> NewSet {
    NewSet {
        stream_id: StreamId::new(stream),
        jti: Jti::new(jti),
        subject_key: subject_key.to_owned(),
        set_jwt: format!("jwt-{stream}-{jti}"),
    }
}

/// The jtis of claimed or polled SETs, in order.
pub fn jtis<'a>(items: impl IntoIterator<Item = &'a Jti>) -> Vec<&'a str> {
    items.into_iter().map(Jti::as_str).collect()
}

/// Expands to one `#[tokio::test]` per conformance function, each with `$harness` (an expression
/// building a [`Harness`]).
#[macro_export]
macro_rules! transmitter_conformance_tests {
    ($harness:expr) => {
        $crate::transmitter_conformance_tests!(@each $harness;
            streams_are_scoped_by_client,
            several_streams_per_client,
            duplicate_stream_id_conflicts,
            update_replaces_config_with_revision_check,
            status_changes_keep_reason,
            delete_stream_cascades,
            activity_and_inactivity_timeout,
            verification_respects_min_interval,
            subjects_add_remove_lookup,
            subjects_are_counted_per_stream,
            matching_follows_default_subjects,
            audit_log_appends_and_pages,
            oauth_clients_upsert_and_get,
            enqueue_batch_is_atomic,
            enqueue_drops_unknown_and_disabled_streams,
            claim_respects_stream_status,
            disabling_drops_queued_sets,
            per_subject_order_under_pause_and_resume,
            per_subject_order_with_retries,
            lease_expiry_returns_rows,
            crash_mid_delivery_loses_nothing,
            retries_dead_letter_and_replay,
            permanent_failure_is_recorded,
            lost_lease_cannot_record_outcomes,
            concurrent_claimers_never_share_rows,
            durability_across_reopen,
            counts_by_state,
            next_push_due_and_purge,
            delivery_method_change_moves_queue,
            enqueue_wakes_subscribers,
            poll_hands_out_oldest_first,
            poll_redelivers_after_timeout_with_same_jti,
            poll_ack_is_idempotent_and_ignores_unknown,
            poll_set_errs_are_recorded_and_removed,
            poll_never_returns_another_streams_sets,
            poll_paused_stream_returns_nothing,
            poll_rejects_wrong_client_and_push_streams,
            idempotent_enqueue_queues_once,
            idempotency_keys_are_scoped_by_client,
            idempotency_window_expires_and_purges,
            idempotent_enqueue_is_atomic,
            concurrent_idempotent_enqueues_queue_once,
        );
    };
    (@each $harness:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::conformance::$name(&$harness).await;
            }
        )+
    };
}
