//! [`Bridge`]: configuration, store and clock together, with the operations the webhook routes,
//! the background tasks and the CLI use.

use std::{sync::Arc, time::Duration};

use ssf_types::Clock;
use tokio::{sync::Notify, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    adapter,
    config::{JitConfig, SystemConfig},
    emitter::Emitter,
    error::JitError,
    store::{ApplyReport, Change, HandRevoke, Intake, JitStore},
    ticket::TicketEvent,
};

/// The ticket bridge. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Bridge(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    config: JitConfig,
    store: Arc<JitStore>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
}

impl Bridge {
    /// A bridge over an open store. Validates `config` and opens each system's
    /// `identities_file`.
    pub fn new(
        mut config: JitConfig,
        store: Arc<JitStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, JitError> {
        config.validate()?;
        config.prepare()?;
        Ok(Self(Arc::new(Inner {
            config,
            store,
            clock,
            wake: Arc::new(Notify::new()),
        })))
    }

    /// Opens the store at `config.database` (an SQLite path or a `postgres://` URL, see
    /// [`JitStore::open`]), applying its migrations, and makes the bridge.
    pub async fn open(config: JitConfig, clock: Arc<dyn Clock>) -> Result<Self, JitError> {
        let location = config.database.clone().ok_or_else(|| {
            JitError::Config(
                "jit.database is not set: give a file path or a postgres:// URL".to_owned(),
            )
        })?;
        config.validate()?;
        let store = JitStore::open(&location).await?;
        Self::new(config, Arc::new(store), clock)
    }

    /// The configuration.
    pub fn config(&self) -> &JitConfig {
        &self.0.config
    }

    /// The store (grants, outbox, audit).
    pub fn store(&self) -> &Arc<JitStore> {
        &self.0.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.0.clock
    }

    /// The system named `name`.
    pub fn system(&self, name: &str) -> Result<&SystemConfig, JitError> {
        self.0
            .config
            .systems
            .get(name)
            .ok_or_else(|| JitError::UnknownSystem(name.to_owned()))
    }

    /// Applies a normalized ticket event of a configured system (the webhook routes do this
    /// after verification; embedders and the CLI can call it directly). `record_delivery`
    /// records `event.delivery_id` for replay protection.
    ///
    /// The ticket id and the asset id the rules read must fit
    /// [`check_id`](crate::adapter::check_id) (at most 256 bytes, no control characters), or
    /// nothing is recorded and the answer is [`JitError::BadPayload`] (`400`).
    pub async fn apply(
        &self,
        event: &TicketEvent,
        record_delivery: bool,
    ) -> Result<ApplyReport, JitError> {
        self.apply_with(event, record_delivery, Intake::Fresh).await
    }

    /// [`apply`](Self::apply), saying whether the event may grant ([`Intake::Fresh`]) or only
    /// take access away ([`Intake::Late`]: older than the system's `max_age`).
    pub async fn apply_with(
        &self,
        event: &TicketEvent,
        record_delivery: bool,
        intake: Intake,
    ) -> Result<ApplyReport, JitError> {
        let system = self.system(&event.system)?;
        adapter::check_id("ticket_id", &event.ticket_id)?;
        let asset_path = &system.rules.asset.field;
        if let Some(asset_id) = adapter::field(&event.fields, asset_path).and_then(adapter::scalar)
        {
            adapter::check_id(&format!("{asset_path} (the asset id)"), &asset_id)?;
        }
        let report = self
            .0
            .store
            .apply_event(
                &self.0.config,
                system,
                event,
                record_delivery,
                intake,
                self.0.clock.now(),
            )
            .await?;
        if report.events_queued > 0 {
            self.0.wake.notify_one();
        }
        Ok(report)
    }

    /// Revokes every grant past its maximum duration now; the background sweeper calls this
    /// every `sweep_interval`.
    pub async fn expire_due(&self) -> Result<Vec<Change>, JitError> {
        let changes = self
            .0
            .store
            .expire_due(&self.0.config, self.0.clock.now())
            .await?;
        if !changes.is_empty() {
            self.0.wake.notify_one();
        }
        Ok(changes)
    }

    /// Revokes the active grant `grant_id` by hand, for an operator (`actor`: who, e.g. the
    /// console's signed-in user; `reason`: why, kept in the audit trail), and wakes the emitter.
    ///
    /// In one transaction the grant ends (`revoked`, `end_reason` `by_hand: by <actor>:
    /// <reason>`), the audit trail gets a `revoke_by_hand` row (`ssf jit audit`), and the same
    /// `token-claims-change` revoke a closing ticket sends is queued with `txn`
    /// `system:ticket:by-hand-<grant id>`, unless another ticket's grant still gives the user
    /// that access (then [`HandRevoke::still_granted_by`] lists it; D-JIT-03). Later webhooks of
    /// the ticket do not grant it again for the same assignment; a reassignment or a reopen
    /// after the revoke may (D-JIT-16).
    ///
    /// Errors, all changing nothing: [`JitError::Invalid`] (`actor` or `reason` empty, longer
    /// than [`MAX_ACTOR_BYTES`] / [`MAX_REASON_BYTES`], or holding control characters),
    /// [`JitError::UnknownGrant`], [`JitError::GrantNotActive`] (revoked or expired already).
    pub async fn revoke_by_hand(
        &self,
        grant_id: &str,
        actor: &str,
        reason: &str,
    ) -> Result<HandRevoke, JitError> {
        let grant_id = grant_id.trim();
        let actor = checked_text("actor", actor, MAX_ACTOR_BYTES)?;
        let reason = checked_text("reason", reason, MAX_REASON_BYTES)?;
        if grant_id.is_empty() || adapter::check_id("grant_id", grant_id).is_err() {
            return Err(JitError::UnknownGrant(grant_id.to_owned()));
        }
        let done = self
            .0
            .store
            .revoke_by_hand(&self.0.config, grant_id, actor, reason, self.0.clock.now())
            .await?;
        if done.events_queued > 0 {
            self.0.wake.notify_one();
        }
        Ok(done)
    }

    /// Wakes the emitter (e.g. after [`JitStore::retry_failed`]).
    pub fn wake_emitter(&self) {
        self.0.wake.notify_one();
    }

    /// An emitter for this bridge's outbox, when `jit.emitter.events_url` is set.
    pub fn emitter(&self) -> Result<Option<Emitter>, JitError> {
        if self.0.config.emitter.events_url.is_none() {
            return Ok(None);
        }
        Emitter::new(
            &self.0.config.emitter,
            Arc::clone(&self.0.store),
            Arc::clone(&self.0.clock),
            Arc::clone(&self.0.wake),
        )
        .map(Some)
    }

    /// Starts the background tasks: the emitter (when `events_url` is set) and the expiry
    /// sweeper (which also forgets delivery ids past `delivery_retention`). They stop when
    /// `shutdown` is cancelled.
    pub fn start(&self, shutdown: CancellationToken) -> Result<Workers, JitError> {
        let mut tasks = Vec::new();
        match self.emitter()? {
            Some(emitter) => tasks.push(tokio::spawn(emitter.run(shutdown.clone()))),
            None => tracing::warn!(
                "jit.emitter.events_url is not set: grant events stay queued in the outbox"
            ),
        }
        let bridge = self.clone();
        tasks.push(tokio::spawn(async move { bridge.sweep(shutdown).await }));
        Ok(Workers { tasks })
    }

    async fn sweep(self, shutdown: CancellationToken) {
        let every = self.0.config.sweep_interval.max(Duration::from_millis(10));
        let retention =
            i64::try_from(self.0.config.delivery_retention.as_millis()).unwrap_or(i64::MAX);
        loop {
            if let Err(e) = self.expire_due().await {
                tracing::error!(error = %e, "jit expiry sweep failed");
            }
            let before = self.0.clock.now().plus_millis(-retention);
            if let Err(e) = self.0.store.prune_deliveries(before).await {
                tracing::error!(error = %e, "jit delivery-id pruning failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}

/// The longest `actor` of [`Bridge::revoke_by_hand`], in bytes.
pub const MAX_ACTOR_BYTES: usize = 256;

/// The longest `reason` of [`Bridge::revoke_by_hand`], in bytes.
pub const MAX_REASON_BYTES: usize = 1024;

/// `value` trimmed, when it is not empty, at most `max` bytes and free of control characters
/// (it goes into audit rows, logs and, for the actor, the event's `reason_admin`).
fn checked_text<'a>(member: &str, value: &'a str, max: usize) -> Result<&'a str, JitError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(JitError::Invalid(format!("`{member}` must not be empty")));
    }
    if value.len() > max {
        return Err(JitError::Invalid(format!(
            "`{member}` is {} bytes long; the limit is {max} bytes",
            value.len()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(JitError::Invalid(format!(
            "`{member}` contains control characters (one line of printable text)"
        )));
    }
    Ok(value)
}

/// The running background tasks of a [`Bridge`].
#[derive(Debug)]
pub struct Workers {
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Waits for the tasks to stop (cancel the shutdown token first).
    pub async fn join(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
