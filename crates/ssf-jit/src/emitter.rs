//! The emitter: sends queued events to the transmitter's `POST /events` (DESIGN §3: the producer
//! hop), with a static bearer token or an OAuth client-credentials token.
//!
//! - `2xx`: the event is durable at the transmitter; the row is marked sent with the answer
//!   (`{"txn", "streams", "jtis"}`, so the audit links the ticket event to the SET `jti`s).
//! - transmitter down, `5xx`, `408`, `429`: retried with backoff from
//!   [`ssf_http::RetrySchedule`] (`Retry-After` honoured); the last delay repeats for ever, so a
//!   revoke is never given up. A `401` renews the token first.
//! - any other `4xx`: the transmitter refuses the event itself; the row is marked failed, logged
//!   at error level and kept for inspection ([`JitStore::retry_failed`] puts it back).
//! - Rows of one (user, asset) go out strictly in order: the next is only looked at once the
//!   previous is sent or failed.
//! - Every request carries an `Idempotency-Key` (D-TX-16) derived from the row (its `txn` and
//!   queue position), the same on every retry of that row: when the transmitter queued the
//!   event but its answer was lost (timeout, reset, a proxy's `502`), the retry gets the first
//!   answer again instead of queuing a second SET (D-JIT-17).
//!
//! Several emitters on one database (bridge nodes on PostgreSQL, or two in one process) take
//! turns: a round runs only while it holds the store's sending turn
//! ([`JitStore::sending_turn`]), so no row is sent by two at once and the per-(user, asset)
//! order holds over all nodes. A round that finds the turn taken does nothing; the holder
//! sends. A node that dies mid-round releases the turn with its connection, and its unmarked
//! rows go out in the next holder's round; a row that reached the transmitter before the node
//! died is answered from its idempotency key then, within the transmitter's
//! `idempotency_window` (default 24 h), so it is queued once.

mod token;

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use sha2::{Digest, Sha256};
use ssf_http::{
    GuardedClient, RetrySchedule, Url, build_client, parse_retry_after,
    reqwest::{
        StatusCode,
        header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER},
    },
};
use ssf_types::secret::ExposeSecret;
use ssf_types::{Clock, UnixMillis};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use self::token::{TokenError, TokenSource};
use crate::{
    config::EmitterConfig,
    error::JitError,
    store::{JitStore, OutboxRow},
};

/// What one round of sending did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Rows accepted by the transmitter.
    pub sent: usize,
    /// Rows scheduled for another attempt.
    pub retried: usize,
    /// Rows refused for good.
    pub failed: usize,
}

/// Sends the outbox to the transmitter.
#[derive(Debug, Clone)]
pub struct Emitter(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Arc<JitStore>,
    clock: Arc<dyn Clock>,
    client: GuardedClient,
    events_url: Url,
    tokens: TokenSource,
    retry: RetrySchedule,
    config: EmitterConfig,
    wake: Arc<Notify>,
}

/// What to do with a row after an attempt (the one place answers become decisions).
enum Decision {
    Sent(Value),
    Retry {
        why: String,
        retry_after: Option<Duration>,
    },
    Failed(String),
}

impl Emitter {
    /// An emitter for `config` (which must have `events_url`); `wake` is notified when events
    /// are queued.
    pub fn new(
        config: &EmitterConfig,
        store: Arc<JitStore>,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
    ) -> Result<Self, JitError> {
        let url = config
            .events_url
            .as_deref()
            .ok_or_else(|| JitError::Config("jit.emitter.events_url is not set".to_owned()))?;
        let events_url = Url::parse(url)
            .map_err(|e| JitError::Config(format!("jit.emitter.events_url: {e}")))?;
        let retry = RetrySchedule::new(&config.retry).map_err(JitError::Http)?;
        Ok(Self(Arc::new(Inner {
            store,
            clock,
            client: build_client(&config.http)?,
            events_url,
            tokens: TokenSource::from_config(config)?,
            retry,
            config: config.clone(),
            wake,
        })))
    }

    /// Sends every row due now (one per (user, asset) in line), once. Does nothing (an empty
    /// report) while another emitter on the same database has the sending turn.
    pub async fn run_once(&self) -> Result<RoundReport, JitError> {
        let Some(turn) = self.0.store.sending_turn().await? else {
            return Ok(RoundReport::default());
        };
        let round = self.round().await;
        turn.end().await;
        round
    }

    async fn round(&self) -> Result<RoundReport, JitError> {
        let inner = &self.0;
        let now = inner.clock.now();
        let rows = inner.store.due(now, inner.config.batch).await?;
        let mut report = RoundReport::default();
        if rows.is_empty() {
            return Ok(report);
        }
        let token = match inner.tokens.get(&inner.client, now).await {
            Ok(t) => t,
            Err(e) => {
                match &e {
                    TokenError::Refused(_) => {
                        tracing::error!(error = %e, "jit emitter cannot get a token; events wait until the client is fixed");
                    }
                    TokenError::Unavailable(_) => {
                        tracing::warn!(error = %e, "jit emitter cannot get a token; will retry");
                    }
                }
                for row in &rows {
                    self.retry_later(row, &e.to_string(), None, now).await?;
                    report.retried += 1;
                }
                return Ok(report);
            }
        };
        // Keys whose earlier row failed to go out in this round: the rest of their line waits.
        let mut blocked: Vec<String> = Vec::new();
        for row in rows {
            if blocked.contains(&row.order_key) {
                continue;
            }
            match self.attempt(&row, token.expose_secret()).await {
                Decision::Sent(answer) => {
                    inner
                        .store
                        .mark_sent(row.seq, &answer, inner.clock.now())
                        .await?;
                    metrics::counter!("ssf_jit_events_sent_total", "action" => row.action.clone())
                        .increment(1);
                    let jtis = answer.get("jtis").map(Value::to_string).unwrap_or_default();
                    tracing::info!(
                        seq = row.seq,
                        txn = row.txn,
                        action = row.action,
                        jtis,
                        "jit event delivered to the transmitter"
                    );
                    report.sent += 1;
                }
                Decision::Retry { why, retry_after } => {
                    self.retry_later(&row, &why, retry_after, inner.clock.now())
                        .await?;
                    blocked.push(row.order_key.clone());
                    report.retried += 1;
                }
                Decision::Failed(why) => {
                    tracing::error!(
                        seq = row.seq,
                        txn = row.txn,
                        action = row.action,
                        error = why,
                        "the transmitter REFUSED a jit event; it is kept as failed in the outbox and will not be retried on its own"
                    );
                    metrics::counter!("ssf_jit_events_failed_total", "action" => row.action.clone()).increment(1);
                    inner
                        .store
                        .mark_failed(row.seq, &why, inner.clock.now())
                        .await?;
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    async fn retry_later(
        &self,
        row: &OutboxRow,
        why: &str,
        retry_after: Option<Duration>,
        now: UnixMillis,
    ) -> Result<(), JitError> {
        let inner = &self.0;
        let made = u32::try_from(row.attempts.saturating_add(1)).unwrap_or(u32::MAX);
        // The last delay repeats: a revoke is never given up.
        let step = made
            .min(u32::try_from(inner.retry.delays().len()).unwrap_or(u32::MAX))
            .max(1);
        let delay = inner
            .retry
            .next_delay_after(step, retry_after)
            .unwrap_or(Duration::from_secs(3600));
        let next = now.plus_millis(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        tracing::warn!(
            seq = row.seq,
            txn = row.txn,
            attempts = made,
            error = why,
            retry_in_ms = delay.as_millis(),
            "jit event not delivered yet; will retry"
        );
        metrics::counter!("ssf_jit_events_retried_total").increment(1);
        inner.store.mark_retry(row.seq, why, next).await
    }

    async fn attempt(&self, row: &OutboxRow, token: &str) -> Decision {
        let inner = &self.0;
        let Ok(auth) = HeaderValue::from_str(&format!("Bearer {token}")) else {
            return Decision::Retry {
                why: "the access token is not a valid header value".to_owned(),
                retry_after: None,
            };
        };
        let request = match inner.client.post(inner.events_url.clone()) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "jit emitter: the events URL is refused by the HTTP client settings");
                return Decision::Retry {
                    why: e.to_string(),
                    retry_after: None,
                };
            }
        };
        let mut request = request
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(key) = idempotency_key(row) {
            request = request.header(IDEMPOTENCY_KEY.clone(), key);
        }
        let response = request
            .authorization(auth)
            .body(row.body.to_string())
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            // Down, refused, timed out, or blocked by the client's settings: never lose the event.
            Err(e) => {
                return Decision::Retry {
                    why: e.to_string(),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| parse_retry_after(v, inner.clock.now()));
        let body = ssf_http::read_body_limited(response, 64 * 1024)
            .await
            .unwrap_or_default();
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        match status.as_u16() {
            200..=299 => Decision::Sent(answer),
            401 => {
                inner.tokens.invalidate().await;
                Decision::Retry {
                    why: "the transmitter answered 401; the token is renewed".to_owned(),
                    retry_after,
                }
            }
            408 | 425 | 429 | 500..=599 => Decision::Retry {
                why: format!("the transmitter answered {status}"),
                retry_after,
            },
            400..=499 => Decision::Failed(refusal(status, &answer)),
            _ => {
                tracing::error!(%status, "jit emitter: unexpected status from the events URL; check jit.emitter.events_url");
                Decision::Retry {
                    why: format!("the transmitter answered {status}"),
                    retry_after,
                }
            }
        }
    }

    /// Runs until `shutdown`: sends what is due, then waits for new events or the poll interval.
    pub async fn run(self, shutdown: CancellationToken) {
        let poll = self.0.config.poll_interval.max(Duration::from_millis(10));
        loop {
            let progress = match self.run_once().await {
                Ok(r) => r.sent > 0 || r.failed > 0,
                Err(e) => {
                    tracing::error!(error = %e, "jit emitter round failed");
                    false
                }
            };
            if progress {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.0.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    }
}

fn refusal(status: StatusCode, answer: &Value) -> String {
    let description = answer
        .get("error_description")
        .or_else(|| answer.get("description"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let code = answer
        .get("error")
        .or_else(|| answer.get("err"))
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("the transmitter answered {status} {code}: {description}")
        .trim_end_matches([' ', ':'])
        .to_owned()
}

/// The header of D-TX-16.
static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The `Idempotency-Key` of a row: `jit-` and the hex SHA-256 of its `txn` and queue position.
/// Hashed, so a ticket id of any length or alphabet gives a valid key (1 to 255 printable
/// ASCII); the position tells apart the rows one ticket event queued (a reassignment's revoke
/// and grant share its `txn`).
fn idempotency_key(row: &OutboxRow) -> Option<HeaderValue> {
    let mut digest = Sha256::new();
    digest.update(row.txn.as_bytes());
    digest.update([0]);
    digest.update(row.seq.to_be_bytes());
    HeaderValue::from_str(&format!("jit-{}", hex::encode(digest.finalize()))).ok()
}
