//! Shared state handed to every handler and worker.

use std::{ops::Deref, sync::Arc};

use ssf_jose::SetSigner;
use ssf_store::TransmitterStore;
use ssf_types::Clock;
use tokio_util::sync::CancellationToken;

use crate::config::TransmitterConfig;

/// Cheap to clone: one `Arc` around [`Shared`].
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// What every part of the transmitter shares.
#[derive(Debug)]
#[non_exhaustive]
pub struct Shared {
    /// Settings, validated at start.
    pub config: TransmitterConfig,
    /// Streams, subjects, outbox, audit.
    pub store: Arc<dyn TransmitterStore>,
    /// Signs SETs with the key store's current key.
    pub(crate) signer: SetSigner,
    /// Mints every SET: `config.issuer` and `signer`, put together once.
    pub(crate) minter: crate::mint::Minter,
    /// The only source of "now".
    pub clock: Arc<dyn Clock>,
    /// Cancelled on shutdown; workers and long polls stop when it fires.
    pub shutdown: CancellationToken,
    /// Access-token verification and the OAuth clients, built from `config.auth`.
    pub(crate) auth: crate::auth::AuthService,
    /// Routes events to streams (cached stream records and complex subjects).
    pub matcher: Arc<crate::matching::Matcher>,
    /// Publishes events (`POST /events`, or a producer in the same process): `store`,
    /// `matcher`, `minter`, `clock` and `config.ingest`, put together once.
    pub ingest: crate::ingest::Ingest,
    /// Tells waiters when particular SETs have left the queue (transmitter status changes).
    pub(crate) deliveries: Arc<crate::control_events::DeliveryWatch>,
    /// The push streams whose last attempt failed (logs, `/healthz`, metrics).
    pub push_health: Arc<crate::push::health::PushHealth>,
    /// SETs delivered and failures per stream since start, push and poll (operator views).
    pub delivery_stats: Arc<crate::push::stats::DeliveryStats>,
    /// Encrypts the push `authorization_header` at rest (SSF-SEC-14, D-TX-18).
    pub(crate) secrets: crate::secrets::SecretsCipher,
}

impl AppState {
    /// Wraps the shared parts, with a secrets key for this process only
    /// ([`SecretsCipher::ephemeral`](crate::secrets::SecretsCipher::ephemeral)): push
    /// `authorization_header` values it stores cannot be read after a restart. A store that
    /// outlives the process needs [`AppState::with_secrets`].
    pub fn new(
        config: TransmitterConfig,
        store: Arc<dyn TransmitterStore>,
        signer: SetSigner,
        clock: Arc<dyn Clock>,
        shutdown: CancellationToken,
    ) -> Self {
        Self::with_secrets(
            config,
            store,
            signer,
            clock,
            shutdown,
            crate::secrets::SecretsCipher::ephemeral(),
        )
    }

    /// Wraps the shared parts; `secrets` encrypts the push `authorization_header` at rest
    /// (every node on one database needs the same key).
    pub fn with_secrets(
        config: TransmitterConfig,
        store: Arc<dyn TransmitterStore>,
        signer: SetSigner,
        clock: Arc<dyn Clock>,
        shutdown: CancellationToken,
        secrets: crate::secrets::SecretsCipher,
    ) -> Self {
        let auth = crate::auth::AuthService::new(&config);
        let matcher = Arc::new(crate::matching::Matcher::new(&config.ingest));
        let minter = crate::mint::Minter::new(
            ssf_types::Issuer::new(config.issuer.as_str()),
            signer.clone(),
        );
        let ingest = crate::ingest::Ingest::new(
            Arc::clone(&store),
            Arc::clone(&matcher),
            minter.clone(),
            Arc::clone(&clock),
            config.ingest.clone(),
        );
        let push_health = Arc::new(crate::push::health::PushHealth::new(
            config.push.failure_log_interval,
        ));
        Self(Arc::new(Shared {
            config,
            store,
            signer,
            minter,
            clock,
            shutdown,
            auth,
            matcher,
            ingest,
            deliveries: Default::default(),
            push_health,
            delivery_stats: Default::default(),
            secrets,
        }))
    }

    /// The delivery figures per stream of this node since it started: SETs delivered (push
    /// `2xx`, poll acknowledged), when last, consecutive failures and the last error. The
    /// number of subjects of a stream is
    /// [`store.count_subjects`](ssf_store::TransmitterStore::count_subjects).
    pub fn delivery_stats(&self) -> &Arc<crate::push::stats::DeliveryStats> {
        &self.0.delivery_stats
    }

    /// The SET signer; its key store tells the keys' rotation state (operator views).
    pub fn signer(&self) -> &SetSigner {
        &self.0.signer
    }
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}
