//! The ticket bridge role (`[jit]`, `ssf-jit`): ticket webhooks at `/jit/webhooks/{system}`,
//! the emitter that sends the queued CAEP `token-claims-change` events to the transmitter's
//! `POST /events`, and the expiry sweeper; its store (`<data_dir>/jit.db` by default) answers the
//! health probe.
//!
//! In development mode (no config file) it runs the generic system `helpdesk`, whose webhook
//! secret is kept in `credentials.json`, and, when the transmitter role runs in the same
//! process, sends to it as `dev-bridge` (the only development client that may publish
//! `token-claims-change`, D-TX-15) over the loopback client.

use std::sync::Arc;

use async_trait::async_trait;
use ssf_http::ClientConfig;
use ssf_jit::{Bridge, JitConfig, JitError, SystemConfig, SystemKind, WEBHOOK_PATH};
use ssf_transmitter::metadata::paths;

use super::{Probe, Role, RoleContext};
use crate::{
    input::{Failure, usage},
    serve::{config::JitSection, credentials},
};

/// Start-up banner lines: `(label, value)`.
type Banner = Vec<(&'static str, String)>;

/// The bridge's settings with what development mode fills in, and banner lines about it.
pub(crate) fn effective_config(
    ctx_data_dir: &std::path::Path,
    section: JitSection,
) -> Result<(JitConfig, Banner), Failure> {
    let mut config = section.config;
    let mut banner = Vec::new();
    if section.dev {
        let dev = credentials::dev_jit(ctx_data_dir)?;
        config
            .systems
            .entry(credentials::DEV_JIT_SYSTEM.to_owned())
            .or_insert_with(|| SystemConfig::new(SystemKind::Generic, dev.webhook_secret));
        if let Some(base) = section
            .local_transmitter
            .filter(|_| config.emitter.events_url.is_none())
        {
            let emitter = &mut config.emitter;
            emitter.events_url = Some(format!("{base}{}", paths::EVENTS));
            emitter.token_url = Some(format!("{base}{}", paths::TOKEN));
            emitter.client_id = Some(credentials::DEV_BRIDGE.to_owned());
            emitter.client_secret = Some(dev.bridge_secret.into());
            emitter.http = ClientConfig::dev_loopback();
        }
        banner.push((
            "jit secret",
            format!(
                "{} (jit.webhook_secret signs /jit/webhooks/{})",
                dev.credentials_file.display(),
                credentials::DEV_JIT_SYSTEM
            ),
        ));
    }
    config.validate().map_err(jit_failure)?;
    Ok((config, banner))
}

/// A bridge error as a command failure: settings are usage errors, the rest runtime.
pub(crate) fn jit_failure(e: JitError) -> Failure {
    match e {
        JitError::Config(_)
        | JitError::UnknownSystem(_)
        | JitError::BadPayload(_)
        | JitError::BadJson { .. } => usage(format!("{e} (see docs/jit.md)")),
        other => Failure::Runtime(anyhow::anyhow!("the ticket bridge: {other}")),
    }
}

/// Assembles the ticket bridge role; `base` is the listener's URL (for the banner).
pub(crate) async fn start(
    ctx: &RoleContext,
    section: JitSection,
    base: &str,
) -> Result<Role, Failure> {
    let database = section.database.url.to_string();
    let (config, mut banner) = effective_config(&ctx.data_dir, section)?;
    let systems: Vec<String> = config.systems.keys().cloned().collect();
    let events = config.emitter.events_url.clone();
    let bridge = Bridge::open(config, Arc::clone(&ctx.clock))
        .await
        .map_err(|e| match e {
            JitError::Config(_) => jit_failure(e),
            other => Failure::Runtime(anyhow::anyhow!(
                "opening the ticket bridge database {database}: {other}"
            )),
        })?;
    let workers = bridge.start(ctx.shutdown.clone()).map_err(jit_failure)?;
    let webhooks = format!(
        "{}{}",
        base.trim_end_matches('/'),
        WEBHOOK_PATH.replace("{system}", "")
    );
    banner.insert(
        0,
        (
            "webhooks",
            if systems.is_empty() {
                format!("{webhooks}{{system}} (no system yet: add [jit.systems.<name>], see docs/jit.md)")
            } else {
                format!("{webhooks}{{{}}}", systems.join(","))
            },
        ),
    );
    banner.insert(
        1,
        (
            "jit events",
            events.unwrap_or_else(|| {
                "not sent: set jit.emitter.events_url (they wait in the outbox)".to_owned()
            }),
        ),
    );
    banner.insert(2, ("jit store", database));
    let console = ssf_console::Sources {
        bridge: Some(bridge.clone()),
        ..ssf_console::Sources::default()
    };
    Ok(Role {
        name: "jit",
        console,
        routes: ssf_jit::router(bridge.clone()),
        fallback: None,
        probe: Arc::new(StoreProbe(bridge)),
        stop: Box::pin(async move {
            workers.join().await;
        }),
        banner,
    })
}

/// Healthy when the bridge's store answers an indexed point lookup.
struct StoreProbe(Bridge);

#[async_trait]
impl Probe for StoreProbe {
    async fn check(&self) -> Result<(), String> {
        self.0
            .store()
            .ticket("", "")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use ssf_types::secret::ExposeSecret;

    use super::*;
    use crate::serve::config::load;

    /// D-TX-15: in development mode the bridge sends as `dev-bridge`, the only development
    /// client that may publish `token-claims-change`.
    #[test]
    fn the_dev_bridge_sends_as_dev_bridge_d_tx_15() {
        let dir = tempfile::tempdir().unwrap();
        let clients = credentials::ensure(dir.path()).unwrap().clients;
        let mut config = load(None, Vec::new()).unwrap();
        config.finalize("http://127.0.0.1:4000").unwrap();
        let section = config.jit.take().unwrap();
        let (jit, _) = effective_config(dir.path(), section).unwrap();
        let emitter = &jit.emitter;
        assert_eq!(emitter.client_id.as_deref(), Some(credentials::DEV_BRIDGE));
        let bridge = clients
            .iter()
            .find(|c| c.client_id == credentials::DEV_BRIDGE)
            .unwrap();
        let secret = emitter.client_secret.as_ref().unwrap().expose_secret();
        assert!(ssf_transmitter::auth::verify_secret(
            &bridge.secret_hash,
            secret
        ));
        assert_eq!(
            bridge.events.as_deref(),
            Some(
                &[
                    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change"
                        .to_owned()
                ][..]
            )
        );
    }
}
