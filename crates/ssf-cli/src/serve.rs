//! `ssf serve`: runs the roles of the configuration (transmitter, receiver with enforcement,
//! ticket bridge) on one listener until SIGINT or SIGTERM.
//!
//! - [`config`]: the TOML file, unknown keys refused; [`env`](mod@env): `SSF_*` overrides.
//! - [`roles`]: one function per role, and the shared application (`/healthz`, `/metrics`).
//! - [`credentials`]: development OAuth clients on first start; [`stores`]: the databases.
//! - [`telemetry`]: logs and the Prometheus recorder; [`tls`]: native TLS.

pub(crate) mod client_addr;
pub(crate) mod config;
pub(crate) mod console;
pub(crate) mod credentials;
pub(crate) mod env;
pub(crate) mod roles;
pub(crate) mod secrets;
pub(crate) mod stores;
pub(crate) mod telemetry;
pub(crate) mod throttle;
pub(crate) mod tls;

use std::{future::IntoFuture, net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use axum::Router;
use ssf_types::SystemClock;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use self::{
    config::ServeConfig,
    roles::{Role, RoleContext},
};
use crate::{
    cli::ServeArgs,
    input::{CmdResult, Context, Failure},
};

/// Runs `ssf serve`.
pub(crate) fn run(args: ServeArgs) -> CmdResult {
    let mut config = config::load_with(args.config.as_deref(), std::env::vars(), args.dev)?;
    if args.check {
        let base = base_url(config.server.listen, config.server.tls.is_some());
        config.finalize(&base)?;
        telemetry::check_log_level(&config.server)?;
        if let Some(tls) = &config.server.tls {
            tls::acceptor(tls)?;
        }
        let mode = if config.dev { ", development mode" } else { "" };
        println!(
            "configuration OK ({}{mode}): roles {}; listen {}; data in {}",
            config.source,
            config.roles().join(", "),
            config.server.listen,
            config.server.data_dir.display()
        );
        if let Some(tx) = &config.transmitter {
            let key = secrets::resolve(&tx.secrets, &config.server.data_dir, config.dev, false)?;
            println!("  issuer {}", tx.config.issuer);
            println!("  transmitter database {}", tx.database);
            println!("  secrets key {}", key.source);
        }
        if let Some(rx) = &config.receiver {
            println!("  receiver database {}", rx.database);
        }
        if let Some(enforce) = &config.enforce {
            let auth = if enforce.pdp_token.is_some() {
                "bearer token"
            } else {
                "none (loopback or trusted networks only)"
            };
            println!("  authzen authentication: {auth}");
        }
        if let Some(jit) = &config.jit {
            let systems: Vec<&str> = jit.config.systems.keys().map(String::as_str).collect();
            let systems = if jit.dev {
                "helpdesk (development)".to_owned()
            } else {
                systems.join(", ")
            };
            println!("  jit systems: {systems}; database {}", jit.database.url);
        }
        println!("  client address: {}", config.server.trusted_proxies);
        if config.server.trusted_proxies.trusts_everyone() {
            println!("  warning: {}", client_addr::TRUSTS_EVERYONE);
        }
        match &config.console {
            Some(c) if c.admin_token_hash.is_some() => {
                println!("  console /console/ (the token of console.admin_token_hash)");
            }
            Some(_) => println!(
                "  console /console/ (development token in {}/{})",
                config.server.data_dir.display(),
                console::DEV_TOKEN_FILE
            ),
            None => println!("  console off (see docs/console.md)"),
        }
        for o in &config.overrides {
            println!("  {} = from {}", o.key, o.var);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .or_runtime("starting the runtime")?;
    runtime.block_on(serve(config))
}

/// The URL a listener on `addr` is reached at: an unspecified address (`0.0.0.0`, `::`) is
/// shown as loopback.
pub(crate) fn base_url(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let mut shown = addr;
    if addr.ip().is_unspecified() {
        shown.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("{scheme}://{shown}")
}

async fn serve(mut config: ServeConfig) -> CmdResult {
    telemetry::init_logs(&config.server)?;
    let metrics = telemetry::install_metrics()?;
    ssf_jose::install_crypto_provider();
    let data_dir = config.server.data_dir.clone();
    // Owner-only (0700), tightened when an older version left it open (SSF-SEC-14, D-TX-18).
    ssf_store::private_files::ensure_private_dir(&data_dir)
        .or_runtime(format!("creating {}", data_dir.display()))?;
    let acceptor = config.server.tls.as_ref().map(tls::acceptor).transpose()?;
    let listen = config.server.listen;
    let listener = TcpListener::bind(listen)
        .await
        .or_runtime(format!("listening on {listen} (server.listen)"))?;
    let addr = listener
        .local_addr()
        .or_runtime("reading the bound address")?;
    let base = base_url(addr, acceptor.is_some());
    config.finalize(&base)?;
    if addr.ip().is_unspecified() && config.transmitter.is_some() {
        tracing::warn!(%base, "listening on every interface with a loopback issuer default; set transmitter.issuer to the public URL");
    }
    if config.server.trusted_proxies.trusts_everyone() {
        tracing::warn!("{}", client_addr::TRUSTS_EVERYONE);
    }
    let shutdown = CancellationToken::new();
    let ctx = RoleContext {
        data_dir,
        clock: Arc::new(SystemClock),
        shutdown: shutdown.clone(),
        dev: config.dev,
    };
    let mut roles: Vec<Role> = Vec::new();
    if let Some(section) = config.transmitter.take() {
        roles.push(roles::transmitter::start(&ctx, section).await?);
    }
    if let Some(section) = config.receiver.take() {
        let enforcement = match config.enforce.take() {
            Some(enforce) => {
                let public = section
                    .config
                    .public_base_url
                    .clone()
                    .unwrap_or_else(|| base.clone());
                let exposed = !config.dev && !addr.ip().is_loopback();
                Some(roles::enforce::build(&ctx, enforce, &public, exposed)?)
            }
            None => None,
        };
        roles.push(roles::receiver::start(&ctx, section, enforcement).await?);
    }
    if let Some(section) = config.jit.take() {
        roles.push(roles::jit::start(&ctx, section, &base).await?);
    }
    let throttle = Arc::new(throttle::AuthThrottle::new(
        config.server.auth_throttle.clone(),
        config.server.trusted_proxies.clone(),
        Arc::clone(&ctx.clock),
    ));
    let console = match config.console.take() {
        Some(section) => Some(console::build(
            section,
            &mut roles,
            metrics.clone(),
            &ctx.data_dir,
            &base,
            Arc::clone(&ctx.clock),
        )?),
        None => None,
    };
    let console_routes = console.as_ref().map(|c| c.routes.clone());
    let app = roles::app(&mut roles, metrics, console_routes)?.layer(
        axum::middleware::from_fn_with_state(throttle, throttle::throttle),
    );
    print_banner(&base, &roles, console.as_ref().map(|c| &c.banner));
    tracing::info!(url = %base, roles = ?roles.iter().map(|r| r.name).collect::<Vec<_>>(), "ssf serve started");

    let grace = config.server.shutdown_timeout;
    let served = match acceptor {
        Some(acceptor) => {
            let listener = tls::TlsListener::new(listener, acceptor)
                .or_runtime("starting the TLS listener")?;
            run_until_signal(listener, app, &shutdown, grace).await
        }
        None => run_until_signal(listener, app, &shutdown, grace).await,
    };
    shutdown.cancel();
    for role in roles {
        if tokio::time::timeout(grace, role.stop).await.is_err() {
            tracing::warn!(
                role = role.name,
                "did not stop in time (server.shutdown_timeout)"
            );
        }
    }
    served?;
    tracing::info!("ssf serve stopped");
    Ok(ExitCode::SUCCESS)
}

/// Serves `app` until SIGINT/SIGTERM (or a server error), then lets requests in flight finish
/// for at most `grace`.
async fn run_until_signal<L>(
    listener: L,
    app: Router,
    shutdown: &CancellationToken,
    grace: Duration,
) -> Result<(), Failure>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
    throttle::PeerAddr:
        for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    let token = shutdown.clone();
    let app = app.into_make_service_with_connect_info::<throttle::PeerAddr>();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move { token.cancelled().await })
        .into_future();
    let mut server = std::pin::pin!(server);
    tokio::select! {
        result = &mut server => return result.or_runtime("serving HTTP"),
        signal = wait_for_signal() => {
            tracing::info!(signal, "stopping: finishing requests in flight");
        }
    }
    shutdown.cancel();
    match tokio::time::timeout(grace, server).await {
        Ok(result) => result.or_runtime("serving HTTP"),
        Err(_) => {
            tracing::warn!("requests still open after server.shutdown_timeout; closing them");
            Ok(())
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, with the signal's name.
async fn wait_for_signal() -> &'static str {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => "SIGINT",
        () = terminate => "SIGTERM",
    }
}

/// What a new user needs: where the server is, its issuer and discovery URL, where the
/// credentials are, and the operational endpoints. On stdout, once.
fn print_banner(base: &str, roles: &[Role], console: Option<&(&'static str, String)>) {
    let names: Vec<&str> = roles.iter().map(|r| r.name).collect();
    println!("ssf serve listening on {base} ({})", names.join(", "));
    for role in roles {
        for (label, value) in &role.banner {
            println!("  {label:<12} {value}");
        }
    }
    if let Some((label, value)) = console {
        println!("  {label:<12} {value}");
    }
    println!("  {:<12} {base}/healthz", "health");
    println!("  {:<12} {base}/metrics", "metrics");
    println!("Stop with Ctrl-C (or SIGTERM).");
}
