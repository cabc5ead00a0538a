//! `ssf demo`: the seed scenario of Shared Signals for Rust end to end, in one process, on
//! 127.0.0.1 with random ports, real HTTP between the parties and an embedded SQLite store per
//! party in a temporary directory. Nothing to install.
//!
//! The parties ([`world`]): an IdP / transmitter, the ticket bridge, the support console (an
//! example app protected by `ssf_enforce`'s tower layer, with a receiver) and a risk engine.
//! The steps ([`scenario`]): Jane signs in; reading customer C2148 is denied; a case about it is
//! assigned to her (a webhook to the bridge); reading and writing C2148 are allowed, C9999
//! still denied; the case closes; C2148 is denied again; the knowledge base is allowed
//! throughout by her role; finally the risk engine revokes her session and her token gets 401.
//! Each step is checked and timed ([`report`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ssf_demo::DemoError> {
//! let report = ssf_demo::run(ssf_demo::DemoOptions::new(std::sync::Arc::new(ssf_types::SystemClock))).await?;
//! print!("{}", report.render());
//! assert!(report.passed());
//! # Ok(())
//! # }
//! ```

mod guide;
pub mod report;
pub mod scenario;
pub mod world;

use std::{sync::Arc, time::Duration};

pub use guide::serve_guide;
pub use report::{Report, StepResult};
pub use scenario::Scenario;
use ssf_types::Clock;
pub use world::{OperatorConsole, World};

/// Why the demo could not run at all (a step that misbehaves is a failed step, not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// A party could not start.
    #[error("could not start: {what}: {source}")]
    Start {
        /// Which party or part (e.g. `transmitter store`).
        what: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A call the demo needs outside the checked steps failed.
    #[error("HTTP: {what}: {source}")]
    Http {
        /// Which call (e.g. `token endpoint`).
        what: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl DemoError {
    /// A [`DemoError::Start`] of `what` caused by `source`.
    fn start(
        what: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Start {
            what,
            source: source.into(),
        }
    }
}

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The clock of every party (the system clock outside tests).
    pub clock: Arc<dyn Clock>,
    /// How long a step that changes access may take (default 10 s).
    pub step_deadline: Duration,
    /// How long the console's stream may take to be created and verified (default 30 s).
    pub ready_timeout: Duration,
    /// The server's metrics, for the operator console's charts (`ssf demo --serve`).
    pub metrics: Option<ssf_console::MetricsText>,
}

impl DemoOptions {
    /// The defaults with `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            step_deadline: Duration::from_secs(10),
            ready_timeout: Duration::from_secs(30),
            metrics: None,
        }
    }
}

/// Starts every party, runs the scenario, stops everything, and returns the timeline.
pub async fn run(options: DemoOptions) -> Result<Report, DemoError> {
    let world = World::start(Arc::clone(&options.clock), options.ready_timeout).await?;
    let report = Scenario::new(&world, options.step_deadline).run().await;
    world.shutdown().await;
    Ok(report)
}

/// Starts every party and the operator console, and leaves them running (`ssf demo --serve`);
/// see [`serve_guide`].
pub async fn serve(options: DemoOptions) -> Result<World, DemoError> {
    let mut world = World::start(options.clock, options.ready_timeout).await?;
    world.start_operator_console(options.metrics).await?;
    Ok(world)
}
