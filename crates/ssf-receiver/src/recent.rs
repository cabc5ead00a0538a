//! The last SETs the receiver saw, push or poll, kept in memory for operators (the console's
//! "recent SETs"): when, on which peer and stream, `iss`, `jti`, `txn`, event type, subject
//! and what became of it. [`SetReceiver::receive`](crate::receive::SetReceiver::receive)
//! records one [`RecentSet`] per SET it judges, so push and poll land in the same log.
//!
//! - Bounded: the oldest entry goes when [`RecentSets::capacity`] is reached (default
//!   [`DEFAULT_RECENT_CAPACITY`]). Per process: another receiver node keeps its own.
//! - Never the token: only the claims listed above, each at most [`MAX_TEXT_CHARS`]
//!   characters. For a rejected or unjudged SET, `iss`, `jti`, `txn` and event type are what
//!   its payload claims, unverified ([`RecentSet::verified`] `false`, no subject); they help
//!   find the SET at the transmitter and must be shown as untrusted text.
//! - Pushes refused before the pipeline (unknown stream, wrong `Authorization`, wrong media
//!   type, too large a body) are not SETs the receiver judged and are not recorded; the push
//!   endpoint's logs and metrics count them.

use std::{
    collections::VecDeque,
    sync::{Mutex, PoisonError},
};

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use ssf_types::UnixMillis;

use crate::{
    handler::{Handling, ReceivedSet},
    pipeline::{Rejection, StreamContext},
};

/// How many SETs a receiver remembers unless told otherwise.
pub const DEFAULT_RECENT_CAPACITY: usize = 500;

/// The longest text kept of one claim (longer ones are cut, with `…`).
pub const MAX_TEXT_CHARS: usize = 256;

/// What became of a SET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecentOutcome {
    /// Verified, recorded now, and it changed the receiver's state.
    Applied,
    /// Verified and recorded now; it changed nothing (e.g. older than the state it is about).
    NoChange,
    /// Verified and recorded, not acted on (an event type not requested, an unprocessable
    /// critical subject member, ...); [`RecentSet::description`] says which.
    Discarded,
    /// Verified; its (`iss`, `jti`) was recorded before, so nothing was done again.
    Duplicate,
    /// Refused (push `400`, poll `setErrs`); [`RecentSet::err`] and
    /// [`RecentSet::description`] say why.
    Rejected,
    /// Not judged or not recorded now (keys or store unavailable): it will be delivered again.
    Unavailable,
}

impl RecentOutcome {
    /// The snake-case name (`applied`, `no_change`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::NoChange => "no_change",
            Self::Discarded => "discarded",
            Self::Duplicate => "duplicate",
            Self::Rejected => "rejected",
            Self::Unavailable => "unavailable",
        }
    }
}

/// One SET the receiver saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RecentSet {
    /// When the receiver judged it (its injected clock), epoch milliseconds in JSON.
    #[serde(serialize_with = "millis")]
    pub at: UnixMillis,
    /// The peer (transmitter) name.
    pub peer: String,
    /// The receiver's stream key it came on.
    pub stream_key: String,
    /// Whether the claims below were verified; `false` for a rejected or unjudged SET, whose
    /// claims are as its payload states them (untrusted), when it could be decoded at all.
    pub verified: bool,
    /// `iss`.
    pub iss: Option<String>,
    /// `jti`.
    pub jti: Option<String>,
    /// `txn`.
    pub txn: Option<String>,
    /// The event type URI.
    pub event_type: Option<String>,
    /// The `sub_id` (a Subject Identifier or complex subject), only when verified.
    pub subject: Option<Value>,
    /// The subject keys the event handler filed the SET's audit entry under (e.g. the
    /// enforcement engine's handle keys such as `email:jane@example.com`); empty when it
    /// planned nothing for it.
    pub subject_keys: Vec<String>,
    /// What became of it.
    pub outcome: RecentOutcome,
    /// For a rejection, the RFC 8935 §2.4 `err` code.
    pub err: Option<String>,
    /// For a rejection its constant description; for a discarded SET the reason; for an
    /// unavailable one what failed.
    pub description: Option<String>,
}

impl RecentSet {
    /// A verified SET, before it is applied; the outcome is set afterwards.
    pub(crate) fn of_verified(set: &ReceivedSet) -> Self {
        let (outcome, description) = match set.handling {
            Handling::Discard(reason) => (RecentOutcome::Discarded, Some(reason.as_str().into())),
            _ => (RecentOutcome::Applied, None),
        };
        Self {
            at: set.received_at,
            peer: set.peer.to_string(),
            stream_key: set.stream_key.to_string(),
            verified: true,
            iss: Some(cut(set.issuer.as_str())),
            jti: Some(cut(set.jti())),
            txn: set.claims.txn.as_ref().map(|t| cut(&t.as_text())),
            event_type: Some(cut(&set.event.uri().into_string())),
            subject: set
                .claims
                .sub_id
                .as_ref()
                .map(|s| Value::Object(s.to_json())),
            subject_keys: Vec::new(),
            outcome,
            err: None,
            description,
        }
    }

    /// A SET that was not verified: `token`'s claims as stated, if it decodes (and is not
    /// over `max_bytes`).
    pub(crate) fn of_unverified(
        ctx: &StreamContext,
        token: &[u8],
        max_bytes: usize,
        at: UnixMillis,
        outcome: RecentOutcome,
    ) -> Self {
        let claims = (token.len() <= max_bytes)
            .then(|| ssf_jose::decode_unverified(token).ok())
            .flatten()
            .map(|d| d.claims)
            .unwrap_or_default();
        let text = |name: &str| match claims.get(name) {
            Some(Value::String(s)) => Some(cut(s)),
            Some(Value::Number(n)) => Some(cut(&n.to_string())),
            _ => None,
        };
        let event_type = match claims.get("events") {
            Some(Value::Object(events)) => events.keys().next().map(|k| cut(k)),
            _ => None,
        };
        Self {
            at,
            peer: ctx.peer.to_string(),
            stream_key: ctx.stream_key.to_string(),
            verified: false,
            iss: text("iss"),
            jti: text("jti"),
            txn: text("txn"),
            event_type,
            subject: None,
            subject_keys: Vec::new(),
            outcome,
            err: None,
            description: None,
        }
    }

    /// With the rejection's code and description.
    pub(crate) fn rejected(mut self, rejection: &Rejection) -> Self {
        self.outcome = RecentOutcome::Rejected;
        self.err = Some(rejection.err.as_str().to_owned());
        self.description = Some(cut(&rejection.description));
        self
    }

    /// Marked unavailable, saying why.
    pub(crate) fn unavailable(mut self, reason: &str) -> Self {
        self.outcome = RecentOutcome::Unavailable;
        self.description = Some(cut(reason));
        self
    }

    /// Whether it matches `filter`.
    pub fn matches(&self, filter: &RecentFilter) -> bool {
        let jti_ok = filter
            .jti
            .as_deref()
            .is_none_or(|jti| self.jti.as_deref() == Some(jti));
        let subject_ok = filter.subject.as_deref().is_none_or(|q| {
            self.subject_keys.iter().any(|k| k == q)
                || self.subject.as_ref().is_some_and(|s| has_leaf(s, q))
        });
        jti_ok && subject_ok
    }
}

/// Which recent SETs to list ([`RecentSets::list`]); the default lists all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecentFilter {
    /// Only SETs about this subject: one of its [`RecentSet::subject_keys`] exactly, or any
    /// identifier value of its verified `sub_id` (an e-mail, a phone number, a `sub`, ...,
    /// compared ASCII case-insensitively), e.g. `jane@example.com`.
    pub subject: Option<String>,
    /// Only SETs with this `jti`.
    pub jti: Option<String>,
    /// At most this many (the newest).
    pub limit: Option<usize>,
}

impl RecentFilter {
    /// Everything.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only SETs about `subject` (see [`RecentFilter::subject`]).
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Only SETs with this `jti`.
    #[must_use]
    pub fn jti(mut self, jti: impl Into<String>) -> Self {
        self.jti = Some(jti.into());
        self
    }

    /// At most `n` of them.
    #[must_use]
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }
}

/// The bounded log of recent SETs. Shared by the pushes and polls of one [`SetReceiver`](crate::receive::SetReceiver).
#[derive(Debug)]
pub struct RecentSets {
    capacity: usize,
    entries: Mutex<VecDeque<RecentSet>>,
}

impl Default for RecentSets {
    fn default() -> Self {
        Self::new(DEFAULT_RECENT_CAPACITY)
    }
}

impl RecentSets {
    /// A log of at most `capacity` SETs (`0` keeps none).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(VecDeque::with_capacity(
                capacity.min(DEFAULT_RECENT_CAPACITY),
            )),
        }
    }

    /// How many it keeps at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds `entry`, dropping the oldest beyond the capacity.
    pub fn record(&self, entry: RecentSet) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        while entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The SETs matching `filter`, newest first.
    pub fn list(&self, filter: &RecentFilter) -> Vec<RecentSet> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .iter()
            .rev()
            .filter(|e| e.matches(filter))
            .take(filter.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect()
    }

    /// How many are kept now.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn millis<S: Serializer>(at: &UnixMillis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(at.0)
}

/// At most [`MAX_TEXT_CHARS`] characters of `text`.
fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Whether a string anywhere in `value` equals `q` (ASCII case-insensitively).
fn has_leaf(value: &Value, q: &str) -> bool {
    match value {
        Value::String(s) => s.eq_ignore_ascii_case(q),
        Value::Object(map) => map_has_leaf(map, q),
        Value::Array(items) => items.iter().any(|v| has_leaf(v, q)),
        _ => false,
    }
}

fn map_has_leaf(map: &Map<String, Value>, q: &str) -> bool {
    // The `format` member names the kind of identifier, not the subject.
    map.iter()
        .filter(|(k, _)| k.as_str() != "format")
        .any(|(_, v)| has_leaf(v, q))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(jti: &str, subject: Option<Value>, keys: &[&str]) -> RecentSet {
        RecentSet {
            at: UnixMillis(1),
            peer: "tx".into(),
            stream_key: "s".into(),
            verified: subject.is_some(),
            iss: Some("https://tx.example".into()),
            jti: Some(jti.into()),
            txn: None,
            event_type: None,
            subject,
            subject_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            outcome: RecentOutcome::Applied,
            err: None,
            description: None,
        }
    }

    #[test]
    fn keeps_the_newest_up_to_the_capacity_newest_first() {
        let log = RecentSets::new(3);
        for i in 0..5 {
            log.record(entry(&format!("j{i}"), None, &[]));
        }
        let jtis: Vec<_> = log
            .list(&RecentFilter::all())
            .into_iter()
            .map(|e| e.jti.unwrap())
            .collect();
        assert_eq!(jtis, ["j4", "j3", "j2"]);
        assert_eq!(log.list(&RecentFilter::all().limit(1)).len(), 1);
        let none = RecentSets::new(0);
        none.record(entry("j", None, &[]));
        assert!(none.is_empty());
    }

    #[test]
    fn filters_by_jti_and_by_subject_value_or_key() {
        let log = RecentSets::default();
        let jane =
            json!({"format": "complex", "user": {"format": "email", "email": "Jane@Example.com"}});
        log.record(entry("a", Some(jane), &["email:jane@example.com"]));
        log.record(entry(
            "b",
            Some(json!({"format": "opaque", "id": "u-7"})),
            &[],
        ));
        log.record(entry("c", None, &[]));
        let jtis = |f: RecentFilter| -> Vec<String> {
            log.list(&f).into_iter().map(|e| e.jti.unwrap()).collect()
        };
        assert_eq!(jtis(RecentFilter::all().jti("b")), ["b"]);
        assert_eq!(jtis(RecentFilter::all().subject("jane@example.com")), ["a"]);
        assert_eq!(
            jtis(RecentFilter::all().subject("email:jane@example.com")),
            ["a"]
        );
        assert_eq!(jtis(RecentFilter::all().subject("u-7")), ["b"]);
        assert!(
            jtis(RecentFilter::all().subject("email")).is_empty(),
            "not the format"
        );
        assert!(jtis(RecentFilter::all().subject("u-7").jti("a")).is_empty());
    }

    #[test]
    fn long_claims_are_cut() {
        let long = "x".repeat(MAX_TEXT_CHARS + 10);
        let kept = cut(&long);
        assert_eq!(kept.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(kept.ends_with('…'));
        assert_eq!(cut("short"), "short");
    }
}
