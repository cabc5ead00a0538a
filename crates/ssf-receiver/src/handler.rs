//! The seam between receiving SETs and acting on them.
//!
//! The receiver verifies a SET ([`crate::pipeline`]) into a [`ReceivedSet`], then the single
//! apply task ([`crate::apply`]) asks the [`EventHandler`] to [`plan`](EventHandler::plan) its
//! state changes, stores them with the SET's (`iss`, `jti`) in one transaction, and tells the
//! handler [`applied`](EventHandler::applied) once they are durable. The continuous access
//! evaluation engine implements this trait; so can any application that wants typed events.
//!
//! State changes are [`StateWrite`]s on `(kind, key)` rows ordered by event time (see
//! [`ssf_store::receiver`]); that keeps application idempotent and order-independent, as the
//! at-least-once delivery of RFC 8935 / RFC 8936 requires.

use std::{
    fmt,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
};

use ssf_jose::VerifiedSet;
pub use ssf_store::receiver::{StateRow, StateWrite};
use ssf_types::{Event, Issuer, SetClaims, StreamId, UnixMillis};
use tokio::sync::mpsc;

/// Why a valid SET is acknowledged but not acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscardReason {
    /// The subject has a member the transmitter marks critical (`critical_subject_members`)
    /// that this receiver cannot process: SSF 1.0 §3.6 says discard; decision D-06 acknowledges
    /// (checklist SSF-RXV-12).
    UnprocessableCriticalMember,
    /// An event type this receiver does not know (D-05, SSF-RXV-16).
    UnknownEventType,
    /// A known event type this receiver did not request (D-05, SSF-RXV-16).
    UnrequestedEventType,
    /// RISC identifier-changed / identifier-recycled whose subject is neither `email` nor
    /// `phone_number` (D-21).
    IdentifierSubjectFormat,
    /// A stream-updated event whose `sub_id` is not this stream (SSF-EVT-12): accepted so the
    /// transmitter is not blocked, but the stream status is not changed.
    ForeignStreamSubject,
}

impl DiscardReason {
    /// A short constant name, for logs, metrics and audit.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnprocessableCriticalMember => "unprocessable_critical_member",
            Self::UnknownEventType => "unknown_event_type",
            Self::UnrequestedEventType => "unrequested_event_type",
            Self::IdentifierSubjectFormat => "identifier_subject_format",
            Self::ForeignStreamSubject => "foreign_stream_subject",
        }
    }
}

/// What the receiver does with a valid SET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handling {
    /// Hand it to the [`EventHandler`].
    Act,
    /// Record its (`iss`, `jti`) and acknowledge it, but do not act on it (logged and audited).
    Discard(DiscardReason),
}

/// Something worth a warning about a valid SET (accepted anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiptNote {
    /// `event_timestamp` looks like milliseconds (CAEP-06, D-19, TV-NEG-10).
    MillisecondEventTimestamp,
    /// `txn` is a number, as ID2/ID3-era peers sent it (D-19, TV-NEG-11).
    NumericTxn,
}

/// A SET that passed every check of the [pipeline](crate::pipeline), with its typed event.
///
/// Only this crate assembles one: from what [`SetVerifier::verify`](ssf_jose::SetVerifier::verify)
/// typed ([`VerifiedSet`]), in the pipeline or with [`ReceivedSet::from_verified`], so a handler
/// never sees claims that skipped verification.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReceivedSet {
    /// The configured peer (transmitter) name.
    pub peer: Arc<str>,
    /// The receiver's stream key it arrived on (the last segment of the push URL).
    pub stream_key: Arc<str>,
    /// The transmitter's `stream_id` of that stream, when the receiver knows it (SSF 1.0
    /// §8.1.1); enforcement checks who may grant by `iss` and stream.
    pub stream_id: Option<StreamId>,
    /// The verified issuer (= the peer's configured issuer = the stream's `iss`).
    pub issuer: Issuer,
    /// The verified claims.
    pub claims: SetClaims,
    /// The single event, typed and checked against its definition.
    pub event: Event,
    /// The compact token as received (for audit or forwarding).
    pub token: Arc<str>,
    /// When the receiver got it.
    pub received_at: UnixMillis,
    /// Act on it, or discard it.
    pub handling: Handling,
    /// Warnings.
    pub notes: Vec<ReceiptNote>,
}

impl ReceivedSet {
    /// Assembles a received SET from the parts of a [`VerifiedSet`] (the pipeline does this).
    #[allow(clippy::too_many_arguments)] // a plain record: every field is needed
    pub(crate) fn new(
        peer: Arc<str>,
        stream_key: Arc<str>,
        claims: SetClaims,
        event: Event,
        token: Arc<str>,
        received_at: UnixMillis,
        handling: Handling,
        notes: Vec<ReceiptNote>,
    ) -> Self {
        Self {
            peer,
            stream_key,
            stream_id: None,
            issuer: claims.iss.clone(),
            claims,
            event,
            token,
            received_at,
            handling,
            notes,
        }
    }

    /// A SET verified outside the [pipeline](crate::pipeline) (custom pipelines, tests) that
    /// `peer` sent on `stream_key`, received at `received_at`, to be acted on
    /// ([`Handling::Act`]), with the same [`ReceiptNote`]s the pipeline would note. The
    /// pipeline's receiver-side checks (verification-event state, critical subject members,
    /// requested event types) are the caller's to make.
    pub fn from_verified(
        peer: Arc<str>,
        stream_key: Arc<str>,
        verified: VerifiedSet,
        received_at: UnixMillis,
    ) -> Self {
        let (claims, event, token) = verified.into_parts();
        let notes = crate::pipeline::notes(&claims, &event);
        Self::new(
            peer,
            stream_key,
            claims,
            event,
            Arc::from(token),
            received_at,
            Handling::Act,
            notes,
        )
    }

    /// With the transmitter's `stream_id` (the pipeline sets it from its stream context).
    #[must_use]
    pub fn with_stream_id(mut self, stream_id: Option<StreamId>) -> Self {
        self.stream_id = stream_id;
        self
    }

    /// The `jti`.
    pub fn jti(&self) -> &str {
        self.claims.jti.as_str()
    }

    /// The event time in epoch milliseconds: the event's `event_timestamp` (seconds, or
    /// milliseconds from old drafts), else `toe`, else `iat`. Orders state rows.
    pub fn event_time(&self) -> i64 {
        match self.event.event_timestamp() {
            Some(ts) if ssf_types::time::is_probably_millis(ts) => ts,
            Some(ts) => ts.saturating_mul(1000),
            None => self
                .claims
                .toe
                .unwrap_or(self.claims.iat)
                .saturating_mul(1000),
        }
    }
}

/// What a handler planned for one SET: the state changes, and optionally the audit record that
/// says why ([`EventHandler::plan_audited`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The state changes, in order.
    pub writes: Vec<StateWrite>,
    /// The audit record, stored in the same transaction as the writes and the SET's
    /// (`iss`, `jti`). `None`: the receiver audits only SETs that changed something.
    pub audit: Option<PlanAudit>,
}

impl Plan {
    /// A plan of `writes` without an audit record.
    pub fn writes(writes: Vec<StateWrite>) -> Self {
        Self {
            writes,
            audit: None,
        }
    }
}

/// A handler's audit record of one SET: members that say what was decided, and the subject keys
/// operators find it by ([`ReceiverAuditQuery::subject`](ssf_store::receiver::ReceiverAuditQuery)).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanAudit {
    /// What was decided, e.g. rule, outcome, effect count. The receiver adds `iss`, `jti`,
    /// `event_type`, `txn` and `writes`; never put secrets or whole tokens here.
    pub detail: serde_json::Map<String, serde_json::Value>,
    /// Subject keys the entry is filed under (e.g. a canonical subject and its handle keys).
    pub subjects: Vec<String>,
}

/// Acts on received events. Implemented by the continuous access evaluation engine, by
/// [`RecordingHandler`] and [`NoopHandler`], or by an application.
///
/// Calls come from the single apply task, one SET at a time, in arrival order:
/// 1. [`plan`](Self::plan) computes the SET's state changes from the handler's memory. It must be
///    pure and fast (no I/O): the whole receiver waits for it.
/// 2. [`commit`](Self::commit) applies those changes to memory right away, so that the next SET
///    of the same batch is planned on top of them. Memory is thus ahead of the durable store by
///    at most one batch in flight; if the batch's transaction fails, the apply task rebuilds
///    memory with [`load`](Self::load) from the store, and the transmitter, which got a `503`
///    (push) or no `ack` (poll), delivers the SETs again.
/// 3. [`applied`](Self::applied) says the SET and its changes are durable. Called at most once
///    per (`iss`, `jti`) (never for duplicates); a crash right before it loses the call, never
///    the SET.
///
/// Discarded SETs ([`Handling::Discard`]) are recorded but never given to the handler.
pub trait EventHandler: Send + Sync + fmt::Debug {
    /// The state changes `set` causes, given the handler's current memory.
    fn plan(&self, set: &ReceivedSet) -> Vec<StateWrite>;

    /// [`plan`](Self::plan) with the audit record to store beside the writes. The apply task
    /// calls this one; the default wraps [`plan`](Self::plan) without a record. Handlers that can
    /// say why (the enforcement engine) override it.
    fn plan_audited(&self, set: &ReceivedSet) -> Plan {
        Plan::writes(self.plan(set))
    }

    /// Applies planned changes to memory (before they are durable; see the trait docs).
    fn commit(&self, writes: &[StateWrite]);

    /// Replaces memory with the stored rows (at start, and after a failed transaction).
    fn load(&self, rows: Vec<StateRow>);

    /// `set` and its changes are durable. Default: nothing.
    fn applied(&self, set: &ReceivedSet) {
        let _ = set;
    }
}

/// A handler that does nothing: SETs are verified, de-duplicated and acknowledged only.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopHandler;

impl EventHandler for NoopHandler {
    fn plan(&self, _set: &ReceivedSet) -> Vec<StateWrite> {
        Vec::new()
    }

    fn commit(&self, _writes: &[StateWrite]) {}

    fn load(&self, _rows: Vec<StateRow>) {}
}

/// A handler for applications that only want the events: every durably applied SET is sent on
/// an unbounded channel (once per `jti`; duplicates and discarded SETs are not sent). It keeps no
/// state. Also the test double of the receiver's tests.
#[derive(Debug)]
pub struct RecordingHandler {
    sender: mpsc::UnboundedSender<ReceivedSet>,
    applied: AtomicUsize,
    planned: AtomicUsize,
    loads: Mutex<Vec<usize>>,
}

impl RecordingHandler {
    /// A handler and the receiving end of its channel.
    pub fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<ReceivedSet>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let handler = Self {
            sender,
            applied: AtomicUsize::new(0),
            planned: AtomicUsize::new(0),
            loads: Mutex::new(Vec::new()),
        };
        (Arc::new(handler), receiver)
    }

    /// How many SETs were durably applied (sent on the channel, or dropped if it is closed).
    pub fn applied_count(&self) -> usize {
        self.applied.load(Ordering::SeqCst)
    }

    /// How many SETs were planned (including ones whose batch then failed).
    pub fn planned_count(&self) -> usize {
        self.planned.load(Ordering::SeqCst)
    }

    /// The number of rows of each [`load`](EventHandler::load) call so far.
    pub fn loads(&self) -> Vec<usize> {
        self.loads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl EventHandler for RecordingHandler {
    fn plan(&self, _set: &ReceivedSet) -> Vec<StateWrite> {
        self.planned.fetch_add(1, Ordering::SeqCst);
        Vec::new()
    }

    fn commit(&self, _writes: &[StateWrite]) {}

    fn load(&self, rows: Vec<StateRow>) {
        self.loads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(rows.len());
    }

    fn applied(&self, set: &ReceivedSet) {
        self.applied.fetch_add(1, Ordering::SeqCst);
        // A closed channel only means nobody listens any more.
        let _ = self.sender.send(set.clone());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use ssf_types::{ParseMode, SubjectId};

    use super::*;

    fn received(event: serde_json::Value, toe: Option<i64>) -> ReceivedSet {
        let mut claims = json!({
            "iss": "https://tx.example", "jti": "j1", "iat": 1_700_000_000, "aud": "rx",
            "sub_id": SubjectId::email("a@example.com").to_json(),
            "events": {"https://schemas.openid.net/secevent/caep/event-type/session-revoked": event}
        });
        if let Some(toe) = toe {
            claims["toe"] = json!(toe);
        }
        let claims = SetClaims::from_json(&claims, ParseMode::Strict).unwrap();
        let event = claims.event(ParseMode::Strict).unwrap();
        ReceivedSet::new(
            "p".into(),
            "p".into(),
            claims,
            event,
            "t".into(),
            UnixMillis(0),
            Handling::Act,
            Vec::new(),
        )
    }

    #[test]
    fn event_time_prefers_event_timestamp_then_toe_then_iat() {
        assert_eq!(received(json!({}), None).event_time(), 1_700_000_000_000);
        assert_eq!(
            received(json!({}), Some(1_600_000_000)).event_time(),
            1_600_000_000_000
        );
        let ts = json!({"event_timestamp": 1_650_000_000});
        assert_eq!(received(ts, Some(1)).event_time(), 1_650_000_000_000);
        let ms = json!({"event_timestamp": 1_650_000_000_123_i64});
        assert_eq!(
            received(ms, None).event_time(),
            1_650_000_000_123,
            "D-19 milliseconds"
        );
    }

    #[test]
    fn recording_handler_counts_and_sends_applied_sets_only() {
        let (handler, mut rx) = RecordingHandler::new();
        let set = received(json!({}), None);
        assert!(handler.plan(&set).is_empty());
        assert_eq!(handler.planned_count(), 1);
        assert_eq!(handler.applied_count(), 0);
        handler.applied(&set);
        assert_eq!(handler.applied_count(), 1);
        assert_eq!(rx.try_recv().unwrap().jti(), "j1");
        handler.load(Vec::new());
        assert_eq!(handler.loads(), [0]);
        assert_eq!(
            DiscardReason::UnknownEventType.as_str(),
            "unknown_event_type"
        );
    }

    /// D-19: a SET verified outside the pipeline is acted on with the pipeline's notes.
    #[test]
    fn from_verified_acts_with_the_pipelines_notes() {
        use ssf_jose::{
            Algorithm, Jwks, JwksSnapshot, KeyPair, SetVerifier, SigningKey as _, VerifyOptions,
            sign_with,
        };
        use ssf_types::{KeyId, ManualClock};

        let key = KeyPair::generate(Algorithm::EdDsa, Some(KeyId::new("k"))).unwrap();
        let jwks = Jwks {
            keys: vec![key.public_jwk()],
        };
        let verifier = SetVerifier::new(
            VerifyOptions::new("https://tx.example", "rx").algorithms([Algorithm::EdDsa]),
            Arc::new(JwksSnapshot::new(&jwks)),
            Arc::new(ManualClock::new(UnixMillis::from_secs(1_700_000_000))),
        );
        let claims = json!({
            "iss": "https://tx.example", "jti": "j1", "iat": 1_700_000_000, "aud": "rx",
            "txn": 42, "sub_id": SubjectId::email("a@example.com").to_json(),
            "events": {"https://schemas.openid.net/secevent/caep/event-type/session-revoked":
                {"event_timestamp": 1_650_000_000_123_i64}}
        });
        let verified = verifier.verify(sign_with(&key, &claims).unwrap()).unwrap();
        let set = ReceivedSet::from_verified("p".into(), "p".into(), verified, UnixMillis(5));
        assert_eq!((set.jti(), set.handling), ("j1", Handling::Act));
        assert_eq!(
            set.notes,
            [
                ReceiptNote::MillisecondEventTimestamp,
                ReceiptNote::NumericTxn
            ]
        );
        assert_eq!(set.issuer.as_str(), "https://tx.example");
        assert!(matches!(set.event, Event::SessionRevoked(_)));
    }
}
