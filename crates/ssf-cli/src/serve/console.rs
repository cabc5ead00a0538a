//! The operator console of `ssf serve` (`ssf-console`, decision D-SRV-02): its admin token and
//! its routes over what every role contributed.

use std::{path::Path, sync::Arc};

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use ssf_console::{ConsoleConfig, Sources};
use ssf_types::Clock;

use super::{config::console::ConsoleSection, roles::Role};
use crate::input::{Context, Failure};

/// The file a development console's generated admin token is kept in, under the data dir.
pub(crate) const DEV_TOKEN_FILE: &str = "console-token";

/// The console's routes and its banner line.
pub(crate) struct Console {
    /// Routes under `/console`.
    pub(crate) routes: Router,
    /// `(label, value)` for the banner.
    pub(crate) banner: (&'static str, String),
}

/// Builds the console over the sources the roles gave. In development mode without a hash the
/// admin token is read from (or generated into) `<data_dir>/console-token`, mode 0600.
pub(crate) fn build(
    section: ConsoleSection,
    roles: &mut [Role],
    metrics: PrometheusHandle,
    data_dir: &Path,
    base: &str,
    clock: Arc<dyn Clock>,
) -> Result<Console, Failure> {
    let (hash, where_token) = match section.admin_token_hash {
        Some(hash) => (hash, "the token of console.admin_token_hash".to_owned()),
        None => {
            let path = data_dir.join(DEV_TOKEN_FILE);
            let token = dev_token(&path)?;
            (
                ssf_transmitter::auth::hash_secret(&token),
                format!("admin token in {}", path.display()),
            )
        }
    };
    let mut sources = Sources {
        metrics: Some(ssf_console::MetricsText::new(move || metrics.render())),
        ..Sources::default()
    };
    for role in roles.iter_mut() {
        let part = std::mem::take(&mut role.console);
        sources.transmitter = sources.transmitter.or(part.transmitter);
        sources.receiver = sources.receiver.or(part.receiver);
        sources.engine = sources.engine.or(part.engine);
        sources.bridge = sources.bridge.or(part.bridge);
    }
    let mut config = ConsoleConfig::new(hash);
    config.secure_cookie = base.starts_with("https:");
    let url = format!("{}/console/", base.trim_end_matches('/'));
    Ok(Console {
        routes: ssf_console::router(config, sources, clock),
        banner: ("console", format!("{url} ({where_token})")),
    })
}

/// The development token of `path`, generated (64 hex digits, mode 0600) when missing.
fn dev_token(path: &Path) -> Result<String, Failure> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let token = text.trim().to_owned();
        if token.len() >= 32 {
            return Ok(token);
        }
    }
    let token = ssf_transmitter::auth::generate_secret();
    std::fs::write(path, format!("{token}\n"))
        .or_runtime(format!("writing the console token {}", path.display()))?;
    ssf_store::private_files::tighten_file(path)
        .or_runtime(format!("making {} private", path.display()))?;
    Ok(token)
}
