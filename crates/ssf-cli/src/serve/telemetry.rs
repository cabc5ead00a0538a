//! Structured logs (tracing, pretty or JSON on stderr) and the Prometheus recorder behind
//! `GET /metrics` (installed without the exporter's own HTTP listener).

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use super::config::{LogFormat, ServerSettings};
use crate::input::{Context, Failure, usage};

/// Installs the log subscriber: `RUST_LOG` when set, else `server.log_level`.
pub(crate) fn init_logs(settings: &ServerSettings) -> Result<(), Failure> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .map_err(|e| usage(format!("RUST_LOG {directives:?}: {e}")))?,
        _ => EnvFilter::try_new(&settings.log_level).map_err(|e| {
            usage(format!(
                "invalid setting `server.log_level` {:?}: {e}",
                settings.log_level
            ))
        })?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    result
        .map_err(|e| anyhow::anyhow!("{e}"))
        .or_runtime("installing the logger")
}

/// Checks `server.log_level` without installing anything (`ssf serve --check`).
pub(crate) fn check_log_level(settings: &ServerSettings) -> Result<(), Failure> {
    EnvFilter::try_new(&settings.log_level)
        .map(|_| ())
        .map_err(|e| {
            usage(format!(
                "invalid setting `server.log_level` {:?}: {e}",
                settings.log_level
            ))
        })
}

/// Installs the process-wide Prometheus recorder and describes the libraries' metrics.
pub(crate) fn install_metrics() -> Result<PrometheusHandle, Failure> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .or_runtime("installing the metrics recorder")?;
    ssf_transmitter::metrics::describe();
    ssf_receiver::metrics::describe();
    metrics::describe_counter!(
        super::throttle::AUTH_FAILURES,
        "Requests answered 401 (failed authentication), by surface"
    );
    metrics::describe_counter!(
        super::throttle::AUTH_THROTTLED,
        "Requests refused with 429 after too many failed authentications from their address"
    );
    Ok(handle)
}
