//! `support-console --config console.toml`: the example console on its own, against a running
//! transmitter (e.g. `ssf serve`).
//!
//! ```toml
//! listen = "127.0.0.1:8081"
//! transmitter_issuer = "http://127.0.0.1:8080"
//! client_id = "support-console"          # a transmitter client with ssf.read ssf.manage
//! client_secret = "..."
//! audience = "https://console.example.com"
//! token_issuer = "http://127.0.0.1:8080"  # default: transmitter_issuer
//! token_jwks_url = "http://127.0.0.1:8080/jwks.json"   # or token_jwks_file = "idp-jwks.json"
//! data_dir = "console-data"
//! dev_loopback = true                     # allow http and 127.0.0.1 (local try-outs only)
//! ```

use std::{path::PathBuf, sync::Arc};

use clap::Parser;
use serde::Deserialize;
use serde_json::Value;
use support_console::{Console, ConsoleConfig};

/// The example support console, protected by continuous access evaluation.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The TOML configuration file.
    #[arg(long, short)]
    config: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: String,
    transmitter_issuer: String,
    client_id: String,
    client_secret: String,
    audience: String,
    token_issuer: Option<String>,
    token_audience: Option<String>,
    token_jwks_url: Option<String>,
    token_jwks_file: Option<PathBuf>,
    data_dir: PathBuf,
    public_base_url: Option<String>,
    #[serde(default)]
    dev_loopback: bool,
}

async fn jwks(file: &FileConfig) -> Result<Value, String> {
    match (&file.token_jwks_url, &file.token_jwks_file) {
        (Some(url), None) => reqwest::get(url)
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("token_jwks_url: {e}"))?
            .json()
            .await
            .map_err(|e| format!("token_jwks_url: {e}")),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("token_jwks_file {}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("token_jwks_file: {e}"))
        }
        _ => Err("set exactly one of token_jwks_url and token_jwks_file".to_owned()),
    }
}

async fn run(args: Args) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.config)
        .map_err(|e| format!("{}: {e}", args.config.display()))?;
    let file: FileConfig =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", args.config.display()))?;
    let mut config = ConsoleConfig::new(
        file.transmitter_issuer.clone(),
        file.client_id.clone(),
        file.client_secret.clone(),
        file.audience.clone(),
        jwks(&file).await?,
        file.data_dir.clone(),
    );
    if let Some(iss) = &file.token_issuer {
        config.token_issuer.clone_from(iss);
    }
    config.token_audience.clone_from(&file.token_audience);
    config.public_base_url.clone_from(&file.public_base_url);
    config.dev_loopback = file.dev_loopback;
    let listener = tokio::net::TcpListener::bind(&file.listen)
        .await
        .map_err(|e| format!("listen {}: {e}", file.listen))?;
    let console = Console::start(config, listener, Arc::new(ssf_types::SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    println!("support console on {}", console.base_url);
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    console.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("support-console: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
