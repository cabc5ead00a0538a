//! `ssf demo`: runs the seed scenario of [`ssf_demo`] and prints its timeline; `--serve` keeps
//! every party running (until Ctrl-C or SIGTERM) and prints what to try by hand.

use std::{process::ExitCode, sync::Arc};

use crate::{
    cli::DemoArgs,
    input::{CmdResult, Context as _, EXIT_REJECTED, Failure},
};

/// Runs `ssf demo`.
pub(crate) fn run(args: DemoArgs) -> CmdResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .or_runtime("starting the runtime")?;
    runtime.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> CmdResult {
    let mut options = ssf_demo::DemoOptions::new(Arc::new(ssf_types::SystemClock));
    if args.serve {
        // The operator console's charts read the metrics every party records here.
        let metrics = crate::serve::telemetry::install_metrics()?;
        options.metrics = Some(ssf_console::MetricsText::new(move || metrics.render()));
        let world = ssf_demo::serve(options)
            .await
            .map_err(|e| Failure::Runtime(e.into()))?;
        let guide = ssf_demo::serve_guide(&world).map_err(|e| Failure::Runtime(e.into()))?;
        println!("{guide}");
        stop_signal().await?;
        world.shutdown().await;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "ssf demo: an IdP/transmitter, a ticket bridge, a support console with a receiver and a \
         risk engine on 127.0.0.1 (random ports, embedded stores in a temporary directory)\n"
    );
    let report = ssf_demo::run(options)
        .await
        .map_err(|e| Failure::Runtime(e.into()))?;
    print!("{}", report.render());
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_REJECTED)
    })
}

/// Ctrl-C, or SIGTERM on Unix.
async fn stop_signal() -> Result<(), Failure> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).or_runtime("listening for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.or_runtime("waiting for Ctrl-C"),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .or_runtime("waiting for Ctrl-C")
    }
}
