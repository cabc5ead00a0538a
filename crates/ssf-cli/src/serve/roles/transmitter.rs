//! The transmitter role: its store (SQLite, or PostgreSQL shared with other nodes), its key directory (a key is generated on first
//! start), development OAuth clients when none is configured, the library's router and its
//! background workers (push delivery, lease reaper, inactivity sweep, metrics sampler). The key
//! directory is re-read every [`KEY_RELOAD`], so `ssf keys rotate --dir <data_dir>/keys` takes
//! effect without a restart.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::Router;
use ssf_jose::{FileKeyStore, KeyStore, SetSigner};
use ssf_store::TransmitterStore;
use ssf_transmitter::{
    AppState,
    metadata::{Endpoints, paths, well_known_path},
    workers::Transmitter,
};

use super::{Probe, Role, RoleContext};
use crate::{
    input::{Context, Failure, usage},
    serve::{config::TransmitterSection, credentials, secrets, stores},
};

/// How often the key directory is re-read.
const KEY_RELOAD: Duration = Duration::from_secs(30);

/// Assembles the transmitter role of `section` (its issuer already final).
pub(crate) async fn start(ctx: &RoleContext, section: TransmitterSection) -> Result<Role, Failure> {
    let mut config = section.config;
    let mut banner = Vec::new();
    if section.dev_credentials {
        let dev = credentials::ensure(&ctx.data_dir)?;
        config.auth.clients.extend(dev.clients);
        config.auth.validate().map_err(|e| {
            usage(format!(
                "transmitter.auth with the development clients: {e}"
            ))
        })?;
        let when = if dev.created {
            "created now"
        } else {
            "created on first start"
        };
        banner.push((
            "credentials",
            format!(
                "{} ({when}: OAuth clients {}, {} and {})",
                dev.credentials_file.display(),
                credentials::DEV_RECEIVER,
                credentials::DEV_PRODUCER,
                credentials::DEV_BRIDGE
            ),
        ));
    }
    let key = secrets::resolve(&section.secrets, &ctx.data_dir, ctx.dev, true)?;
    let cipher = key
        .cipher
        .ok_or_else(|| usage("the secrets key was not resolved".to_owned()))?;
    let store = stores::open_transmitter(&section.database, Arc::clone(&ctx.clock)).await?;
    banner.push(("database", section.database.to_string()));
    banner.push(("secrets key", key.source));
    let keys = FileKeyStore::open(&section.keys_dir, Arc::clone(&ctx.clock)).or_runtime(
        format!("opening the key directory {}", section.keys_dir.display()),
    )?;
    if keys.current().is_err() {
        let info = keys
            .stage(section.signing_alg, None)
            .or_runtime("generating the signing key")?;
        keys.promote().or_runtime("making the new key current")?;
        tracing::info!(kid = %info.kid, alg = %info.alg, dir = %section.keys_dir.display(), "signing key generated");
    }
    let keys = Arc::new(keys);
    let signer = SetSigner::new(Arc::clone(&keys) as Arc<dyn KeyStore>);
    let reload = tokio::spawn(reload_keys(keys, ctx.shutdown.clone()));
    let endpoints = Endpoints::new(&config);
    banner.insert(0, ("issuer", config.issuer.clone()));
    banner.insert(
        1,
        (
            "discovery",
            endpoints.url(&well_known_path(paths::SSF_CONFIGURATION, &config.issuer)),
        ),
    );
    banner.insert(2, ("token", endpoints.url(paths::TOKEN)));
    banner.insert(3, ("events", endpoints.url(paths::EVENTS)));
    let state = AppState::with_secrets(
        config,
        Arc::clone(&store),
        signer,
        Arc::clone(&ctx.clock),
        ctx.shutdown.clone(),
        cipher,
    );
    // A wrong key fails here, naming the stream, not at that stream's next push; plaintext
    // values from older versions and values under the previous key are re-encrypted (D-TX-18).
    ssf_transmitter::secrets::reseal_stored(&state)
        .await
        .map_err(|e| match e {
            ssf_transmitter::ApiError::SecretUnreadable { .. } => usage(e),
            other => Failure::Runtime(anyhow::anyhow!(
                "checking the stored push secrets: {other:?}"
            )),
        })?;
    let workers = Transmitter::start(&state)
        .map_err(|e| usage(format!("invalid setting `transmitter.push`: {e}")))?;
    let fallback = ssf_transmitter::router::router(state.clone());
    let stop_store = Arc::clone(&store);
    let console = ssf_console::Sources {
        transmitter: Some(state.clone()),
        ..ssf_console::Sources::default()
    };
    Ok(Role {
        name: "transmitter",
        console,
        routes: Router::new(),
        fallback: Some(fallback),
        probe: Arc::new(TransmitterProbe {
            store,
            state: state.clone(),
        }),
        stop: Box::pin(async move {
            workers.join().await;
            let _ = reload.await;
            drop(state);
            stop_store.close().await;
        }),
        banner,
    })
}

/// Re-reads the key directory every [`KEY_RELOAD`] until `shutdown` fires; a failed read keeps
/// the keys in use and is logged.
async fn reload_keys(keys: Arc<FileKeyStore>, shutdown: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(KEY_RELOAD) => {}
        }
        if let Err(e) = keys.reload() {
            tracing::warn!(dir = %keys.dir().display(), error = %e, "re-reading the key directory failed; keeping the keys in use");
        }
    }
}

/// Healthy when the outbox can be counted; each push stream whose last attempt failed is a
/// `stream:<id>` check (D-TX-20), which makes `/healthz` `degraded`, not `503`: a receiver
/// being down is not this node's fault.
struct TransmitterProbe {
    store: Arc<dyn TransmitterStore>,
    state: AppState,
}

#[async_trait]
impl Probe for TransmitterProbe {
    async fn check(&self) -> Result<(), String> {
        self.store
            .outbox_counts(None)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn peers(&self) -> Vec<(String, Result<(), String>)> {
        let now = self.state.clock.now();
        self.state
            .push_health
            .failing()
            .into_iter()
            .map(|(stream_id, failing)| (format!("stream:{stream_id}"), Err(failing.summary(now))))
            .collect()
    }
}
