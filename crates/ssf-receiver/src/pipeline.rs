//! The validation pipeline for one compact SET received on one of this receiver's streams
//! ([RFC 8935 §2](https://www.rfc-editor.org/rfc/rfc8935#section-2),
//! [SSF 1.0 §4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4);
//! checklist §1.3 SSF-RXV-01..17, PUSH-07).
//!
//! In order:
//! 1. size (at most [`PipelineConfig::max_set_bytes`]);
//! 2. keys: if the header names an allowed `alg` and a `kid`, the stream's [`KeySource`] is
//!    prepared; if keys are unavailable the verdict is [`Verdict::Unavailable`] (push `503`),
//!    never an acceptance;
//! 3. [`SetVerifier::verify`]: `alg` allow-list, `typ`, `crit`, `kid`, signature, `iss` = the
//!    peer's issuer (= the stream's `iss`), `aud`, `iat` not in the future beyond the skew
//!    (SSF-SET-04) and not older than the peer's `max_age` (freshness, D-RX-08: `invalid_request`,
//!    so the SET is neither recorded nor applied), no `sub`/`exp` unless allowed;
//! 4. still in the verifier, with the peer's [`ParseMode`]: [`SetClaims::from_json`] (one event,
//!    `sub_id`) and [`Event::parse`] (the event's definition); failures
//!    ([`JoseError::Shape`]) are `invalid_request`. The pipeline takes the typed claims and event
//!    from the [`VerifiedSet`](ssf_jose::VerifiedSet) and never parses them again;
//! 5. verification events: `sub_id` = this stream (`invalid_request`, SSF-RXV-11); a `state`
//!    must equal the one recorded for the stream's last request (`invalid_state`, SSF-RXV-10),
//!    no `state` is accepted (SSF-RXV-17); stream-updated events change the recorded status;
//! 6. [`Handling`]: unprocessable critical subject members (D-06), unknown or unrequested
//!    event types (D-05), identifier-changed without an email/phone subject (D-21) are accepted
//!    and discarded; millisecond timestamps and numeric `txn` are accepted with a note (D-19).
//!
//! Rejections carry the RFC 8935 `err` and a constant `description` (SSF-SEC-17).

mod checks;
mod keys;

use std::{borrow::Cow, collections::BTreeSet, fmt, sync::Arc, time::Duration};

use ssf_jose::{JoseError, SetVerifier, VerifyOptions};
use ssf_store::receiver::ReceiverStore;
use ssf_types::{Clock, Event, ParseMode, SetClaims, SetErrorCode, StreamId, subject::MemberName};

pub use self::keys::{KeySource, UnavailableKeys};
use crate::{
    handler::{DiscardReason, Handling, ReceivedSet},
    metrics,
};

/// Everything the pipeline needs to know about one of the receiver's streams. Build one per
/// stream from the peer's configuration and the stream's configuration; replace it when either
/// changes (e.g. a re-created stream has a new `stream_id`).
#[derive(Clone)]
#[non_exhaustive]
pub struct StreamContext {
    /// The receiver's stream key: the last segment of the push URL, the store's stream key.
    pub stream_key: Arc<str>,
    /// The peer (transmitter) name, for logs, metrics and audit.
    pub peer: Arc<str>,
    /// Issuer, audiences, algorithms, `sub`/`exp` flags, clock skew (D-07, SSF-SIG-05).
    pub verify: VerifyOptions,
    /// Strict (default) or legacy formats for this peer (D-19).
    pub parse_mode: ParseMode,
    /// The peer's signing keys.
    pub keys: Arc<dyn KeySource>,
    /// The transmitter's `stream_id`, once known: verification events must name it.
    pub stream_id: Option<StreamId>,
    /// Lowercase hex SHA-256 of the `Authorization` value the transmitter must send on pushes
    /// (the `authorization_header` this receiver gave it). `None`: no header is required, only
    /// for development setups.
    pub push_auth_sha256: Option<String>,
    /// The transmitter metadata's `critical_subject_members` (SSF 1.0 §7.1, §3.6).
    pub critical_subject_members: Vec<String>,
    /// The event-type URIs acted on (the stream's `events_delivered`); `None` acts on every
    /// known type. Others are accepted and discarded (D-05).
    pub events_requested: Option<BTreeSet<String>>,
    /// Freshness (D-RX-08, SSF-RXV-20, SSF-SEC-06): a SET whose `iat` is older than this,
    /// beyond the verifier's clock skew, is refused with `invalid_request` and changes nothing.
    /// Default [`StreamContext::DEFAULT_MAX_AGE`].
    pub max_age: Duration,
}

impl fmt::Debug for StreamContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamContext")
            .field("stream_key", &self.stream_key)
            .field("peer", &self.peer)
            .field("issuer", self.verify.issuer())
            .field("stream_id", &self.stream_id)
            .field("max_age", &self.max_age)
            .field(
                "push_auth",
                &self.push_auth_sha256.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl StreamContext {
    /// The default freshness limit: 3 days, above the usual transmitter retry horizon (ours
    /// about 31 h) and below the default 7-day dedupe retention.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3 * 86_400);

    /// A context for `stream_key` of `peer`, strict parsing, no push authorization, no critical
    /// members, every known event type acted on, SETs up to [`Self::DEFAULT_MAX_AGE`] old.
    pub fn new(
        stream_key: impl Into<Arc<str>>,
        peer: impl Into<Arc<str>>,
        verify: VerifyOptions,
        keys: Arc<dyn KeySource>,
    ) -> Self {
        Self {
            stream_key: stream_key.into(),
            peer: peer.into(),
            verify,
            parse_mode: ParseMode::Strict,
            keys,
            stream_id: None,
            push_auth_sha256: None,
            critical_subject_members: Vec::new(),
            events_requested: None,
            max_age: Self::DEFAULT_MAX_AGE,
        }
    }

    /// Refusing SETs whose `iat` is older than `max_age` (D-RX-08).
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// With the transmitter's `stream_id`.
    #[must_use]
    pub fn with_stream_id(mut self, stream_id: Option<StreamId>) -> Self {
        self.stream_id = stream_id;
        self
    }

    /// With the parse mode.
    #[must_use]
    pub fn with_parse_mode(mut self, mode: ParseMode) -> Self {
        self.parse_mode = mode;
        self
    }

    /// Requiring the push `Authorization` value whose SHA-256 is `digest_hex` (see
    /// [`crate::push::authorization_digest`]).
    #[must_use]
    pub fn with_push_auth_sha256(mut self, digest_hex: Option<String>) -> Self {
        self.push_auth_sha256 = digest_hex;
        self
    }

    /// With the metadata's `critical_subject_members`.
    #[must_use]
    pub fn with_critical_subject_members(mut self, members: Vec<String>) -> Self {
        self.critical_subject_members = members;
        self
    }

    /// Acting only on these event-type URIs.
    #[must_use]
    pub fn with_events_requested(mut self, events: Option<BTreeSet<String>>) -> Self {
        self.events_requested = events;
        self
    }
}

/// Receiver-wide pipeline settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// The largest SET accepted, in bytes (default 64 KiB).
    pub max_set_bytes: usize,
    /// The complex-subject member names the handlers can process (SSF 1.0 §3.6). Default: the
    /// SSF 1.0 §3.3 names `user`, `device`, `session`, `application`, `tenant`, `org_unit`,
    /// `group`.
    pub processable_subject_members: BTreeSet<String>,
}

impl PipelineConfig {
    /// The default largest SET.
    pub const DEFAULT_MAX_SET_BYTES: usize = 64 * 1024;
}

impl Default for PipelineConfig {
    fn default() -> Self {
        let names = MemberName::KNOWN.iter().map(|s| (*s).to_owned()).collect();
        Self {
            max_set_bytes: Self::DEFAULT_MAX_SET_BYTES,
            processable_subject_members: names,
        }
    }
}

/// A refused SET: the RFC 8935 §2.4 `err` and a constant, non-leaking `description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The code (push `400` body, poll `setErrs`).
    pub err: SetErrorCode,
    /// Human-readable, never quoting SET content or expected values (SSF-SEC-17).
    pub description: Cow<'static, str>,
}

impl Rejection {
    fn new(err: SetErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            err,
            description: description.into(),
        }
    }
}

/// The pipeline's judgement of one SET.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Valid: record it (and act on it unless its [`Handling`] says discard).
    Accepted(Box<ReceivedSet>),
    /// Invalid: push `400` with this body; poll `setErrs`.
    Rejected(Rejection),
    /// Could not be judged now (keys or store unavailable): push `503`; poll: no `ack`.
    Unavailable(String),
}

/// Validates SETs; see the module docs. Cheap to share.
#[derive(Debug, Clone)]
pub struct Pipeline {
    config: Arc<PipelineConfig>,
    store: Arc<dyn ReceiverStore>,
    clock: Arc<dyn Clock>,
}

impl Pipeline {
    /// A pipeline reading verification state from `store`, time from `clock`.
    pub fn new(
        config: PipelineConfig,
        store: Arc<dyn ReceiverStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            config: Arc::new(config),
            store,
            clock,
        }
    }

    /// The settings.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// The clock verdicts are given on.
    pub(crate) fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Judges the compact SET `token` received on the stream `ctx`.
    pub async fn validate(&self, ctx: &StreamContext, token: &[u8]) -> Verdict {
        if token.len() > self.config.max_set_bytes {
            return reject(SetErrorCode::InvalidRequest, "the SET is too large");
        }
        // Keys only matter when the verifier will look one up.
        if let Some((alg, kid)) = keys::peek_header(token)
            && ctx.verify.allowed_algorithms().contains(&alg)
            && (!kid.is_empty() || ctx.verify.allows_missing_kid())
            && let Err(e) = ctx.keys.prepare(&kid).await
        {
            tracing::warn!(peer = %ctx.peer, error = %e, "SET not judged: keys unavailable");
            return Verdict::Unavailable(e.to_string());
        }
        let resolver: Arc<dyn ssf_jose::KeyResolver> = ctx.keys.clone();
        // D-RX-08: the freshness limit is the verifier's `iat` age check, on the injected clock.
        let options = ctx
            .verify
            .clone()
            .max_age(ctx.max_age)
            .parse_mode(ctx.parse_mode);
        let verifier = SetVerifier::new(options, resolver, Arc::clone(&self.clock));
        let (claims, event, compact) = match verifier.verify(token) {
            Ok(v) => v.into_parts(),
            Err(JoseError::Shape(e)) => return shape_rejection(ctx, &e),
            Err(e) => {
                tracing::info!(peer = %ctx.peer, error = %e, "SET refused");
                return match e.set_error_code() {
                    Some(err) => Verdict::Rejected(Rejection::new(err, e.to_string())),
                    None => Verdict::Unavailable(e.to_string()),
                };
            }
        };
        let handling = match &event {
            Event::Verification(v) => {
                if !checks::names_stream(&claims, ctx.stream_id.as_ref(), ctx.parse_mode) {
                    return reject(
                        SetErrorCode::InvalidRequest,
                        "the verification event's sub_id must be this stream",
                    );
                }
                if let Some(state) = &v.state {
                    match self.check_state(ctx, &claims, state).await {
                        Ok(()) => {}
                        Err(verdict) => return verdict,
                    }
                }
                Handling::Act
            }
            Event::StreamUpdated(_)
                if !checks::names_stream(&claims, ctx.stream_id.as_ref(), ctx.parse_mode) =>
            {
                Handling::Discard(DiscardReason::ForeignStreamSubject)
            }
            Event::StreamUpdated(_) => Handling::Act,
            _ => checks::handling(
                &claims,
                &event,
                &ctx.critical_subject_members,
                &self.config.processable_subject_members,
                ctx.events_requested.as_ref(),
            ),
        };
        let notes = checks::notes(&claims, &event);
        let now = self.clock.now();
        let age_secs = (now.0 - claims.iat.saturating_mul(1000)) as f64 / 1000.0;
        ::metrics::histogram!(metrics::EVENT_AGE_SECONDS).record(age_secs.max(0.0));
        if !notes.is_empty() {
            tracing::warn!(peer = %ctx.peer, jti = %claims.jti, ?notes, "SET accepted with legacy formats (D-19)");
        }
        if let Handling::Discard(reason) = handling {
            tracing::info!(peer = %ctx.peer, jti = %claims.jti, event_type = %event.uri(), reason = reason.as_str(), "SET accepted and discarded");
        }
        Verdict::Accepted(Box::new(
            ReceivedSet::new(
                Arc::clone(&ctx.peer),
                Arc::clone(&ctx.stream_key),
                claims,
                event,
                Arc::from(compact),
                now,
                handling,
                notes,
            )
            .with_stream_id(ctx.stream_id.clone()),
        ))
    }

    /// SSF-RXV-10 / SSF-VERIFY-10: a `state` must be one this receiver sent: any request
    /// recorded on the stream within a day, by any of the receiver's nodes (each requests
    /// verification on its own schedule). A mismatching SET that was already recorded is a
    /// redelivery, answered like the first time (PUSH-14).
    async fn check_state(
        &self,
        ctx: &StreamContext,
        claims: &SetClaims,
        state: &str,
    ) -> Result<(), Verdict> {
        let unavailable = |e: ssf_store::StoreError| Verdict::Unavailable(e.to_string());
        let expected = self
            .store
            .is_expected_verification_state(&ctx.stream_key, state)
            .await
            .map_err(unavailable)?;
        if expected {
            return Ok(());
        }
        let seen = self
            .store
            .is_seen(claims.iss.as_str(), claims.jti.as_str())
            .await
            .map_err(unavailable)?;
        if seen {
            return Ok(());
        }
        tracing::info!(peer = %ctx.peer, jti = %claims.jti, "verification state mismatch");
        Err(Verdict::Rejected(Rejection::new(
            SetErrorCode::InvalidState,
            "the verification state does not match a request of this receiver",
        )))
    }
}

/// The [`ReceiptNote`](crate::handler::ReceiptNote)s of a valid SET (D-19).
pub(crate) fn notes(claims: &SetClaims, event: &Event) -> Vec<crate::handler::ReceiptNote> {
    checks::notes(claims, event)
}

fn reject(err: SetErrorCode, description: &'static str) -> Verdict {
    Verdict::Rejected(Rejection::new(err, description))
}

fn shape_rejection(ctx: &StreamContext, e: &ssf_types::SetShapeError) -> Verdict {
    tracing::info!(peer = %ctx.peer, error = %e, "SET refused: shape");
    reject(e.err_code(), checks::shape_description(e))
}
