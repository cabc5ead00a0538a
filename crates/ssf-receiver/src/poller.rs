//! The RFC 8936 poll loop of one poll stream ([RFC 8936 §2](https://www.rfc-editor.org/rfc/rfc8936#section-2),
//! [SSF 1.0 §6.1.2](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-6.1.2)).
//!
//! Each round is one `POST` to the stream's poll URL (POLL-01) with `maxEvents`,
//! `returnImmediately: false` (a long poll, POLL-07), and the outcome of the previous round:
//! `ack` for every SET that was applied or was a duplicate (POLL-13, POLL-14), `setErrs` for
//! every SET that was refused (POLL-15) — never an `ack` for an invalid SET. A SET that could
//! not be judged for a passing reason (JWKS or store unavailable) gets neither, so the
//! transmitter delivers it again (POLL-12).
//!
//! Failures (connection refused while the transmitter restarts, timeouts, `5xx`, `429`, and
//! also `4xx`) back off along the [`RetrySchedule`] (its last delay repeating: polling never
//! gives up) and honour `Retry-After`. So does a round that made no progress: it brought SETs,
//! but every one was already handled (a duplicate), refused, or left for redelivery — a
//! transmitter that keeps handing out the same SETs (e.g. it loses our `ack`s) is then polled
//! along the schedule, not in a tight loop (issue 12). A round that brought nothing (the long
//! poll ended empty) polls again at once. Acknowledgements are kept until a request carrying them
//! succeeded. The loop stops when its [`CancellationToken`] fires, after one last
//! acknowledge-only request (`maxEvents: 0`, RFC 8936 §2.4.2) if acknowledgements are pending.
//!
//! Metrics: `ssf_receiver_poll_requests_total{peer,result}` and
//! `ssf_receiver_poll_sets_total{peer,result}` (`ack`, `set_err`, `retry`).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use ssf_http::{
    GuardedClient, RetrySchedule, Url,
    reqwest::{StatusCode, header::ACCEPT},
};
use ssf_types::{
    Clock, Jti, ParseMode, PollRequest, PollResponse, PushErrorBody, StreamConfiguration,
    stream::Delivery,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    config::PollSettings,
    error::ReceiverError,
    receive::{Receipt, SetProcessor},
    setup::{PeerHandle, backoff},
    token::TokenSource,
    wire::{ACCEPT_JSON, MAX_JSON_BODY, error_from, read_json},
};

/// How long the final acknowledge-only request may take at shutdown.
const FINAL_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// The counts of one poll round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollRound {
    /// SETs received.
    pub received: usize,
    /// SETs to acknowledge (new and duplicates).
    pub acknowledged: usize,
    /// Of those, SETs handled before (duplicates).
    pub duplicates: usize,
    /// SETs refused (reported in `setErrs`).
    pub refused: usize,
    /// SETs left for redelivery.
    pub retried: usize,
    /// The transmitter has more SETs waiting.
    pub more_available: bool,
}

impl PollRound {
    /// Whether the round brought SETs but none that was new and applied: all duplicates,
    /// refused or left for redelivery. The poller backs off after such a round.
    pub fn made_no_progress(&self) -> bool {
        self.received > 0 && self.acknowledged <= self.duplicates
    }
}

enum Endpoint {
    Fixed(Url),
    Follow(watch::Receiver<StreamConfiguration>),
}

/// The poll loop of one stream.
pub struct Poller {
    label: String,
    http: GuardedClient,
    tokens: TokenSource,
    endpoint: Endpoint,
    settings: PollSettings,
    processor: Arc<dyn SetProcessor>,
    clock: Arc<dyn Clock>,
    schedule: RetrySchedule,
    /// Rounds in a row that failed or made no progress: where the back-off stands.
    failures: u32,
    ack: Vec<Jti>,
    set_errs: BTreeMap<Jti, PushErrorBody>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("label", &self.label)
            .field("pending_ack", &self.ack.len())
            .field("pending_set_errs", &self.set_errs.len())
            .finish_non_exhaustive()
    }
}

impl Poller {
    /// A poller for the poll URL `endpoint`; `label` names it in logs and metrics.
    pub fn new(
        label: impl Into<String>,
        http: GuardedClient,
        tokens: TokenSource,
        endpoint: Url,
        settings: PollSettings,
        processor: Arc<dyn SetProcessor>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ReceiverError> {
        let schedule = RetrySchedule::new(&settings.retry)
            .map_err(|e| ReceiverError::config("poll.retry", e.to_string()))?;
        Ok(Self {
            label: label.into(),
            http,
            tokens,
            endpoint: Endpoint::Fixed(endpoint),
            settings,
            processor,
            clock,
            schedule,
            failures: 0,
            ack: Vec::new(),
            set_errs: BTreeMap::new(),
        })
    }

    /// A poller for a set-up poll peer. It follows the peer's stream, so a stream re-created by
    /// the health checks is polled at its new URL.
    pub fn for_peer(
        peer: &PeerHandle,
        http: GuardedClient,
        processor: Arc<dyn SetProcessor>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ReceiverError> {
        let url = peer
            .poll_endpoint()
            .ok_or(ReceiverError::MissingEndpoint("poll delivery endpoint_url"))?;
        let mut poller = Self::new(
            peer.name(),
            http,
            peer.client().tokens().clone(),
            url,
            peer.config().poll.clone(),
            processor,
            clock,
        )?;
        poller.endpoint = Endpoint::Follow(peer.subscribe());
        Ok(poller)
    }

    /// The `jti`s waiting to be acknowledged in the next request.
    pub fn pending_ack(&self) -> &[Jti] {
        &self.ack
    }

    /// Polls until `cancel` fires. Never returns early: every failure is logged and retried.
    pub async fn run(mut self, cancel: CancellationToken) {
        loop {
            let wait = tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                wait = self.round() => wait,
            };
            if let Some(delay) = wait {
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
        if !self.ack.is_empty() || !self.set_errs.is_empty() {
            match tokio::time::timeout(FINAL_ACK_TIMEOUT, self.acknowledge_only()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(peer = %self.label, %error, "final acknowledgement failed; the transmitter will redeliver");
                }
                Err(_) => tracing::warn!(peer = %self.label, "final acknowledgement timed out"),
            }
        }
    }

    /// One round of [`run`](Self::run): a long poll ([`poll_once`](Self::poll_once)), then how
    /// long to wait before the next one. `None`: poll again at once (the round brought new
    /// SETs, or nothing). A delay along the retry schedule (growing with each such round in a
    /// row, then repeating its last value) after a failed round, a round with SETs left for
    /// redelivery, and a round that [made no progress](PollRound::made_no_progress).
    pub async fn round(&mut self) -> Option<Duration> {
        let result = self.poll_once(false).await;
        let retry_after = match result {
            Ok(round) if round.retried == 0 && !round.made_no_progress() => {
                self.failures = 0;
                return None;
            }
            Ok(round) if round.retried > 0 => {
                tracing::warn!(peer = %self.label, retried = round.retried, "some SETs could not be judged now; backing off");
                None
            }
            Ok(round) => {
                tracing::warn!(peer = %self.label, received = round.received, duplicates = round.duplicates, refused = round.refused, "the transmitter sent only SETs already handled or refused; backing off");
                None
            }
            Err(error) => {
                tracing::warn!(peer = %self.label, %error, "poll failed; backing off");
                error.retry_after()
            }
        };
        self.failures = self.failures.saturating_add(1);
        Some(backoff(&self.schedule, self.failures, retry_after))
    }

    /// Sends only the pending `ack` and `setErrs` (`maxEvents: 0`, `returnImmediately: true`,
    /// RFC 8936 §2.4.2).
    pub async fn acknowledge_only(&mut self) -> Result<(), ReceiverError> {
        let mut request = self.request(true);
        request.max_events = Some(0);
        self.send(&request).await.map(|_| ())
    }

    /// One poll round: send the pending acknowledgements with a poll, process every SET
    /// received, and keep their outcome for the next request.
    pub async fn poll_once(
        &mut self,
        return_immediately: bool,
    ) -> Result<PollRound, ReceiverError> {
        let request = self.request(return_immediately);
        let response = self.send(&request).await?;
        let mut round = PollRound {
            received: response.sets.len(),
            more_available: response.more_available,
            ..PollRound::default()
        };
        for (jti, set) in &response.sets {
            let receipt = self.processor.process(jti, set).await;
            if receipt == Receipt::Duplicate {
                round.duplicates += 1;
            }
            match receipt {
                Receipt::Applied | Receipt::Duplicate => {
                    round.acknowledged += 1;
                    count_set(&self.label, "ack");
                    if !self.ack.contains(jti) {
                        self.ack.push(jti.clone());
                    }
                }
                Receipt::Rejected { err, description } => {
                    round.refused += 1;
                    count_set(&self.label, "set_err");
                    tracing::info!(peer = %self.label, %jti, %err, "SET refused; reporting it in setErrs");
                    self.set_errs.insert(
                        jti.clone(),
                        PushErrorBody::new(err, description.into_owned()),
                    );
                }
                Receipt::Unavailable(reason) => {
                    round.retried += 1;
                    count_set(&self.label, "retry");
                    tracing::warn!(peer = %self.label, %jti, %reason, "SET left for redelivery");
                }
            }
        }
        Ok(round)
    }

    fn request(&self, return_immediately: bool) -> PollRequest {
        let mut request = PollRequest::new();
        request.max_events = Some(u64::from(self.settings.max_events));
        request.return_immediately = Some(return_immediately);
        request.ack.clone_from(&self.ack);
        request.set_errs.clone_from(&self.set_errs);
        request
    }

    /// Sends `request`; on `200`, the acknowledgements it carried are done with.
    async fn send(&mut self, request: &PollRequest) -> Result<PollResponse, ReceiverError> {
        const OP: &str = "poll";
        let url = self.url()?;
        let timeout = self.settings.long_poll_timeout;
        let http = &self.http;
        let result = self
            .tokens
            .send(|| {
                Ok(http
                    .post(url.clone())?
                    .header(ACCEPT, ACCEPT_JSON)
                    .json(request)
                    .timeout(timeout))
            })
            .await;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                count_request(&self.label, "error");
                return Err(e);
            }
        };
        if response.status() != StatusCode::OK {
            count_request(&self.label, "refused");
            return Err(error_from(response, OP, self.clock.now()).await);
        }
        // The transmitter has our acknowledgements now (RFC 8936 §2.4).
        self.ack.retain(|j| !request.ack.contains(j));
        self.set_errs
            .retain(|j, _| !request.set_errs.contains_key(j));
        let body = read_json(response, MAX_JSON_BODY, OP).await?;
        let parsed = PollResponse::from_json(&body, ParseMode::Strict)
            .map_err(ReceiverError::body("poll response"));
        count_request(&self.label, if parsed.is_ok() { "ok" } else { "invalid" });
        parsed
    }

    fn url(&self) -> Result<Url, ReceiverError> {
        match &self.endpoint {
            Endpoint::Fixed(url) => Ok(url.clone()),
            Endpoint::Follow(rx) => match &rx.borrow().delivery {
                Some(Delivery::Poll(p)) => p
                    .endpoint_url
                    .as_deref()
                    .ok_or(ReceiverError::MissingEndpoint("poll delivery endpoint_url"))
                    .and_then(|u| crate::wire::parse_url(u, "poll endpoint_url")),
                _ => Err(ReceiverError::MissingEndpoint("poll delivery")),
            },
        }
    }
}

fn count_request(peer: &str, result: &'static str) {
    metrics::counter!("ssf_receiver_poll_requests_total", "peer" => peer.to_owned(), "result" => result)
        .increment(1);
}

fn count_set(peer: &str, result: &'static str) {
    metrics::counter!("ssf_receiver_poll_sets_total", "peer" => peer.to_owned(), "result" => result)
        .increment(1);
}
