//! The push worker loop: claim, deliver, record (see [`crate::push`]).

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::StreamExt as _;
use ssf_http::{
    GuardedClient, RetrySchedule, SuccessPolicy, Url, build_client, reqwest::header::HeaderValue,
};
use ssf_store::{
    ClaimedSet, DeliveryError, DeliveryMethod, DeliveryOutcome, StreamStatus, TransmitterStore,
};
use ssf_types::{Clock, Delivery, ParseMode, StreamConfiguration, StreamId};
use tokio_util::sync::CancellationToken;

use super::{
    attempt::{Attempter, Endpoint},
    health::PushHealth,
    stats::DeliveryStats,
};
use crate::{
    config::PushSettings, control_events::DeliveryWatch, secrets::SecretsCipher, state::AppState,
};

/// The smallest idle wait, so a due-but-unclaimable row cannot make a worker spin.
const MIN_IDLE_WAIT: Duration = Duration::from_millis(50);

/// What a claimed SET's stream says about delivering it now.
enum Route {
    /// Push it here.
    Push(Endpoint),
    /// The stream is no longer enabled or no longer push: put the SET back (the store holds it
    /// while paused, or hands it to the poll endpoint).
    Requeue,
    /// The stream is gone (its rows went with it).
    Gone,
    /// The stream's delivery configuration is unusable.
    Broken(String),
}

/// What the push workers use of the transmitter, and nothing else: no HTTP server state, no
/// ingest or management parts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub(crate) struct PushContext {
    /// Claims, outcomes and stream records.
    pub store: Arc<dyn TransmitterStore>,
    /// The only source of "now".
    pub clock: Arc<dyn Clock>,
    /// Workers stop (after recording their current batch) when it fires.
    pub shutdown: CancellationToken,
    /// Opens the stored push `authorization_header` (D-TX-18).
    pub secrets: SecretsCipher,
    /// Where failing streams are reported (logs, `/healthz`, metrics).
    pub health: Arc<PushHealth>,
    /// Where deliveries and failures are counted per stream (operator views).
    pub stats: Arc<DeliveryStats>,
    /// Told which SETs have left the queue (stream status changes wait on it).
    pub deliveries: Arc<DeliveryWatch>,
    /// `[transmitter.push]`.
    pub settings: PushSettings,
}

impl PushContext {
    /// The push workers' part of a transmitter's shared state.
    pub(crate) fn of(state: &AppState) -> Self {
        Self {
            store: Arc::clone(&state.store),
            clock: Arc::clone(&state.clock),
            shutdown: state.shutdown.clone(),
            secrets: state.secrets.clone(),
            health: Arc::clone(&state.push_health),
            stats: Arc::clone(&state.delivery_stats),
            deliveries: Arc::clone(&state.deliveries),
            settings: state.config.push.clone(),
        }
    }
}

/// Shared by every worker of one transmitter.
#[derive(Debug)]
pub(crate) struct Pusher {
    cx: PushContext,
    client: GuardedClient,
    schedule: RetrySchedule,
    /// Held by the idle worker that waits for wake-ups (see [`Self::run`]).
    idle: tokio::sync::Mutex<()>,
}

impl Pusher {
    /// Builds the client and schedule from `cx.settings`.
    pub(crate) fn new(cx: PushContext) -> Result<Arc<Self>, String> {
        cx.settings.validate()?;
        let client = build_client(&cx.settings.http).map_err(|e| format!("push client: {e}"))?;
        let schedule =
            RetrySchedule::new(&cx.settings.retry).map_err(|e| format!("push.retry: {e}"))?;
        Ok(Arc::new(Self {
            cx,
            client,
            schedule,
            idle: tokio::sync::Mutex::new(()),
        }))
    }

    /// Claims and delivers until `cx.shutdown` fires; `owner` names this worker's leases.
    pub(crate) async fn run(self: Arc<Self>, owner: String) {
        let shutdown = &self.cx.shutdown;
        while !shutdown.is_cancelled() {
            // Busy: keep claiming while there is work.
            let claimed = self.claim(&owner).await;
            if !claimed.is_empty() {
                self.deliver(&owner, claimed).await;
                continue;
            }
            // Idle: one worker at a time (the leader) waits for wake-ups and claims; the others
            // queue behind it. A wake-up then costs one claim, not one per worker, and when the
            // leader finds work it hands leadership on before delivering, so more work is picked
            // up by the next worker at once.
            let claimed = tokio::select! {
                () = shutdown.cancelled() => break,
                leader = self.idle.lock() => {
                    let claimed = self.lead(&owner).await;
                    drop(leader);
                    claimed
                }
            };
            if !claimed.is_empty() {
                self.deliver(&owner, claimed).await;
            }
        }
        tracing::debug!(%owner, "push worker stopped");
    }

    /// Claims a batch; errors are logged and count as no work.
    async fn claim(&self, owner: &str) -> Vec<ClaimedSet> {
        let batch = self.cx.settings.batch_size;
        match self
            .cx
            .store
            .claim_push(owner, batch, self.cx.settings.lease)
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "claiming push SETs failed; will retry");
                Vec::new()
            }
        }
    }

    /// The idle leader: waits for a wake-up, a retry coming due or the poll interval, and
    /// claims, until it finds work or shutdown.
    async fn lead(&self, owner: &str) -> Vec<ClaimedSet> {
        let shutdown = &self.cx.shutdown;
        while !shutdown.is_cancelled() {
            // Subscribe before looking, so an enqueue in between still wakes us.
            let mut wake = self.cx.store.subscribe(None);
            let claimed = self.claim(owner).await;
            if !claimed.is_empty() {
                return claimed;
            }
            let wait = self.idle_wait().await;
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = wake.wait(wait) => {}
            }
        }
        Vec::new()
    }

    /// Until the next retry comes due, at most `idle_poll_interval`.
    async fn idle_wait(&self) -> Duration {
        let interval = self.cx.settings.idle_poll_interval;
        match self.cx.store.next_push_due().await {
            Ok(Some(due)) => {
                let millis = due.0.saturating_sub(self.cx.clock.now().0);
                let until = Duration::from_millis(u64::try_from(millis).unwrap_or(0));
                until.clamp(MIN_IDLE_WAIT, interval.max(MIN_IDLE_WAIT))
            }
            _ => interval,
        }
    }

    /// Pushes one claimed batch and records every outcome in one transaction.
    async fn deliver(&self, owner: &str, claimed: Vec<ClaimedSet>) {
        let routes = self.routes(&claimed).await;
        let attempter = Attempter {
            client: &self.client,
            schedule: &self.schedule,
            policy: if self.cx.settings.accept_any_2xx {
                SuccessPolicy::Any2xx
            } else {
                SuccessPolicy::Only202
            },
            auth_failure_attempts: self.cx.settings.auth_failure_attempts.max(1),
        };
        let attempts: Vec<_> = claimed
            .iter()
            .map(|set| self.attempt(&attempter, routes.get(&set.stream_id), set))
            .collect();
        let outcomes: Vec<Option<DeliveryOutcome>> = futures::stream::iter(attempts)
            .buffer_unordered(self.cx.settings.concurrency)
            .collect()
            .await;
        let outcomes: Vec<DeliveryOutcome> = outcomes.into_iter().flatten().collect();
        if outcomes.is_empty() {
            return;
        }
        let now = self.cx.clock.now();
        for outcome in &outcomes {
            if let Some(set) = claimed.iter().find(|c| c.id == outcome.id()) {
                self.cx.health.record(&set.stream_id, outcome, now);
                self.cx.stats.record_push(&set.stream_id, outcome, now);
            }
        }
        let finished: Vec<_> = outcomes
            .iter()
            .filter(|o| !matches!(o, DeliveryOutcome::Retry { .. }))
            .map(DeliveryOutcome::id)
            .collect();
        match self.cx.store.record_outcomes(owner, outcomes).await {
            Ok(report) => {
                if !report.stale.is_empty() {
                    tracing::debug!(
                        stale = report.stale.len(),
                        "push outcomes arrived after the lease ended"
                    );
                }
                let jtis = claimed
                    .iter()
                    .filter(|c| finished.contains(&c.id) && !report.stale.contains(&c.id))
                    .map(|c| &c.jti);
                self.cx.deliveries.finished(jtis);
            }
            // The leases expire and the reaper requeues the rows: delivered ones are sent again
            // with the same jti, which receivers answer 202 (at least once, RFC 8935 §2).
            Err(e) => tracing::error!(error = %e, "recording push outcomes failed"),
        }
    }

    /// One SET of a batch: pushed, put back, failed, or left alone (`None`, its stream is gone).
    async fn attempt(
        &self,
        attempter: &Attempter<'_>,
        route: Option<&Route>,
        set: &ClaimedSet,
    ) -> Option<DeliveryOutcome> {
        let clock = &self.cx.clock;
        match route {
            Some(Route::Push(endpoint)) => {
                Some(attempter.push(endpoint, set, || clock.now()).await)
            }
            Some(Route::Requeue) => Some(DeliveryOutcome::Retry {
                id: set.id,
                next_attempt_at: clock.now(),
                error: DeliveryError {
                    code: super::health::NOT_PUSHING.to_owned(),
                    description: Some("the stream is not an enabled push stream".into()),
                },
            }),
            Some(Route::Broken(why)) => {
                tracing::debug!(stream_id = %set.stream_id, jti = %set.jti, error = %why,
                    "push stream configuration unusable; SET parked as failed");
                Some(DeliveryOutcome::Failed {
                    id: set.id,
                    error: DeliveryError {
                        code: "invalid_delivery".to_owned(),
                        description: Some(why.clone()),
                    },
                })
            }
            Some(Route::Gone) | None => None,
        }
    }

    /// Looks up each stream of the batch once.
    async fn routes(&self, claimed: &[ClaimedSet]) -> HashMap<StreamId, Route> {
        let mut routes = HashMap::new();
        for set in claimed {
            if routes.contains_key(&set.stream_id) {
                continue;
            }
            let route = match self.cx.store.find_stream(&set.stream_id).await {
                Ok(Some(record)) => {
                    if record.status != StreamStatus::Enabled
                        || record.delivery != DeliveryMethod::Push
                    {
                        Route::Requeue
                    } else {
                        endpoint(&self.cx.secrets, &set.stream_id, &record.config)
                            .map_or_else(Route::Broken, Route::Push)
                    }
                }
                Ok(None) => Route::Gone,
                Err(e) => {
                    tracing::warn!(error = %e, "stream lookup failed; SETs go back to the queue");
                    Route::Requeue
                }
            };
            routes.insert(set.stream_id.clone(), route);
        }
        routes
    }
}

/// The push endpoint and `Authorization` value of a stored configuration (SSF 1.0 §6.1.1):
/// the only place the stored `authorization_header` is decrypted (D-TX-18); a plaintext value
/// an older version stored is used as it is.
fn endpoint(
    secrets: &SecretsCipher,
    stream_id: &StreamId,
    config: &serde_json::Value,
) -> Result<Endpoint, String> {
    let config =
        StreamConfiguration::from_json(config, ParseMode::Legacy).map_err(|e| e.to_string())?;
    let Some(Delivery::Push(push)) = config.delivery else {
        return Err("the stream has no push delivery".to_owned());
    };
    let url = Url::parse(&push.endpoint_url).map_err(|e| format!("endpoint_url: {e}"))?;
    let authorization = push
        .authorization_header
        .map(|h| {
            let (plain, _) = secrets
                .open(stream_id, h.expose())
                .map_err(|e| e.to_string())?;
            let mut value = HeaderValue::from_str(&plain)
                .map_err(|_| "authorization_header is not a valid header value".to_owned())?;
            value.set_sensitive(true);
            Ok::<_, String>(value)
        })
        .transpose()?;
    Ok(Endpoint { url, authorization })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn endpoint_reads_url_and_authorization_verbatim_ssf_stream_17() {
        let secrets = SecretsCipher::ephemeral();
        let id = StreamId::new("s1");
        let endpoint = |config| endpoint(&secrets, &id, &config);
        // Plaintext, as an older version stored it (D-TX-18: still works).
        let e = endpoint(json!({"delivery": {"method": "urn:ietf:rfc:8935",
            "endpoint_url": "https://rx.example/push", "authorization_header": "Bearer abc"}}))
        .unwrap();
        assert_eq!(e.url.as_str(), "https://rx.example/push");
        assert_eq!(e.authorization.unwrap(), "Bearer abc");
        let sealed = secrets.seal(&id, "Bearer abc").unwrap();
        let e = endpoint(json!({"delivery": {"method": "urn:ietf:rfc:8935",
            "endpoint_url": "https://rx.example/push", "authorization_header": sealed}}))
        .unwrap();
        assert_eq!(
            e.authorization.unwrap(),
            "Bearer abc",
            "decrypted, SSF-SEC-14"
        );
        let other = StreamId::new("s2");
        let moved = super::endpoint(
            &secrets,
            &other,
            &json!({"delivery": {"method": "urn:ietf:rfc:8935",
            "endpoint_url": "https://rx.example/push", "authorization_header": sealed}}),
        )
        .err()
        .unwrap();
        assert!(moved.contains("s2") && !moved.contains("Bearer"), "{moved}");
        let none = endpoint(json!({"delivery": {"method": "urn:ietf:rfc:8935",
            "endpoint_url": "https://rx.example/push"}}))
        .unwrap();
        assert!(none.authorization.is_none(), "SSF-STREAM-18");
        assert!(endpoint(json!({"delivery": {"method": "urn:ietf:rfc:8936"}})).is_err());
    }
}
