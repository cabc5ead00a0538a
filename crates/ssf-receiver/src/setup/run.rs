//! Joining a set-up peer to the receiver's server side: the [`StreamContext`] the pipeline
//! judges its SETs with, and [`run_peer`], everything one peer needs while the receiver runs
//! (setup with retries, registration, health checks, and the poller for a poll stream).

use std::{collections::BTreeSet, sync::Arc};

use ssf_http::RetrySchedule;
use ssf_types::secret::ExposeSecret;
use tokio_util::sync::CancellationToken;

use super::{PeerHandle, SetupContext, run_health_checks, setup_peer_with_retry};
use crate::{
    config::{DeliveryMode, PeerConfig},
    error::ReceiverError,
    pipeline::StreamContext,
    poller::Poller,
    push::authorization_digest,
    receive::{PollSetProcessor, SetReceiver, StreamRegistry},
    stream_client::is_legacy_stream,
};

impl PeerHandle {
    /// The pipeline's view of this peer's stream: stream key and peer name (the peer's name),
    /// issuer, expected audiences, algorithms and `sub`/`exp` flags, the JWKS cache as key
    /// source, the stream id (verification events must name it), the parse mode, the digest of
    /// the push `Authorization` value, the metadata's `critical_subject_members`, and the event
    /// types acted on (`events_delivered`, else `events_requested`; SSF-STREAM-06), and the
    /// peer's freshness limit `max_age` (D-RX-08). `None`
    /// while no audience is known (no `audience` setting and no `aud` on the stream).
    pub fn stream_context(&self) -> Option<StreamContext> {
        let stream = self.stream();
        let acted_on = stream
            .events_delivered
            .as_ref()
            .or(stream.events_requested.as_ref())
            .map(|events| {
                events
                    .iter()
                    .map(|e| e.as_str().to_owned())
                    .collect::<BTreeSet<_>>()
            });
        let context = StreamContext::new(
            self.name(),
            self.name(),
            self.verify_options()?,
            Arc::clone(&self.jwks) as Arc<dyn crate::pipeline::KeySource>,
        )
        // A draft-era stream has no id of its own: its verification events are not matched to one.
        .with_stream_id(stream.stream_id.filter(|id| !is_legacy_stream(id)))
        .with_parse_mode(self.config.parse_mode())
        .with_push_auth_sha256(
            self.config
                .push_authorization
                .as_ref()
                .map(|a| authorization_digest(a.expose_secret())),
        )
        .with_critical_subject_members(self.client.metadata().critical_subject_members.clone())
        .with_events_requested(acted_on)
        .with_max_age(self.config.max_age);
        Some(context)
    }
}

/// The back-off of a peer's set-up while its transmitter cannot be used: the peer's
/// `setup_retry` (default 1 s, 5 s, 15 s, 30 s, then every 60 s, jittered).
pub(crate) fn setup_schedule(peer: &PeerConfig) -> RetrySchedule {
    RetrySchedule::new(&peer.setup_retry).unwrap_or_default()
}

/// Runs one peer until `cancel` fires: sets it up (retrying, with back-off, whatever keeps its
/// transmitter from being used; the progress is in [`SetupContext::peers`]), registers its
/// stream context in `registry` (so pushes are judged), runs the scheduled health checks, and,
/// for a poll stream, the poller (through [`PollSetProcessor`]). Returns `Err` only when
/// cancelled during set-up or when a poll stream has no usable poll URL.
pub async fn run_peer(
    ctx: Arc<SetupContext>,
    peer: PeerConfig,
    receiver: Arc<SetReceiver>,
    registry: Arc<StreamRegistry>,
    cancel: CancellationToken,
) -> Result<(), ReceiverError> {
    let ctx = Arc::new(SetupContext::clone(&ctx).with_registry(Arc::clone(&registry)));
    if ctx.peers.get(&peer.name).is_none() {
        ctx.peers.starting([peer.name.clone()]);
    }
    let handle = setup_peer_with_retry(&ctx, &peer, &setup_schedule(&peer), &cancel).await?;
    let health = tokio::spawn(run_health_checks(
        Arc::clone(&handle),
        Arc::clone(&ctx),
        cancel.clone(),
    ));
    if peer.delivery == DeliveryMode::Poll {
        let processor = Arc::new(PollSetProcessor::new(receiver, registry, peer.name.clone()));
        let poller =
            Poller::for_peer(&handle, ctx.http.clone(), processor, Arc::clone(&ctx.clock))?;
        poller.run(cancel.clone()).await;
    } else {
        cancel.cancelled().await;
    }
    let _ = health.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ssf_http::{RetryConfig, RetrySchedule};

    use super::{super::backoff, setup_schedule};

    #[test]
    fn backoff_repeats_the_last_delay_and_honours_retry_after() {
        let mut config = RetryConfig::default();
        config.delays = vec![Duration::from_secs(1), Duration::from_secs(5)];
        config.jitter_percent = 0;
        config.max_retry_after = Duration::from_secs(60);
        let s = RetrySchedule::new(&config).unwrap();
        assert_eq!(backoff(&s, 1, None), Duration::from_secs(1));
        assert_eq!(backoff(&s, 2, None), Duration::from_secs(5));
        assert_eq!(
            backoff(&s, 50, None),
            Duration::from_secs(5),
            "never gives up"
        );
        assert_eq!(
            backoff(&s, 1, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        assert_eq!(
            backoff(&s, 1, Some(Duration::from_secs(3600))),
            Duration::from_secs(60),
            "Retry-After is capped"
        );
        let peer = crate::config::PeerConfig::new(
            "idp",
            "https://idp.example.com",
            crate::config::PeerAuth::Bearer {
                token: ssf_types::secret::SecretString::from("t".to_owned()),
            },
        );
        assert_eq!(setup_schedule(&peer).delays().len(), 5);
    }
}
