//! The engine: configuration, the state behind one lock, and the four operations
//! plan → (receiver persists) → commit, load, decide.

use std::{
    fmt,
    sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use serde_json::{Map, Value};
use ssf_types::{Clock, UnixMillis};

use crate::{
    access::CompiledAccess,
    decide,
    decision::Decision,
    error::EnforceError,
    event::{EnforcementEvent, EventContext},
    plan,
    policy::EngineConfig,
    request::AccessRequest,
    row::{Effect, Plan, Row, StateRow},
    state::{Applied, State},
};

/// What [`Engine::commit`] or [`Engine::load`] did.
#[derive(Debug, Default)]
pub struct CommitReport {
    /// Effects (or rows) that changed the state, or re-applied an identical row.
    pub applied: usize,
    /// Effects skipped because the state holds a newer row.
    pub stale: usize,
    /// Rows that could not be read (skipped); see `errors`.
    pub invalid: usize,
    /// Why the invalid ones were skipped.
    pub errors: Vec<EnforceError>,
}

impl CommitReport {
    fn count(&mut self, a: Applied) {
        match a {
            Applied::Changed => self.applied += 1,
            Applied::Stale => self.stale += 1,
            Applied::Invalid(e) => {
                self.invalid += 1;
                self.errors.push(e);
            }
        }
    }
}

/// Sizes, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    /// Rows held.
    pub rows: usize,
    /// Handle keys with indexed rows.
    pub handles: usize,
}

/// The continuous-access-evaluation engine. Cheap to share (`Arc<Engine>`); every method takes
/// `&self`. Decisions take a read lock and never allocate on the common path.
pub struct Engine {
    config: EngineConfig,
    access: CompiledAccess,
    state: RwLock<State>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.stats();
        f.debug_struct("Engine")
            .field("rows", &stats.rows)
            .field("handles", &stats.handles)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with an empty state. Fails when the access policy is inconsistent.
    pub fn new(config: EngineConfig, clock: Arc<dyn Clock>) -> Result<Self, EnforceError> {
        config.grants.validate()?;
        let access = CompiledAccess::compile(&config.access, &config.token)?;
        Ok(Self {
            config,
            access,
            state: RwLock::new(State::default()),
            clock,
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied row: puts build the entry
        // before touching the maps, so a poisoned state is still consistent.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Computes the effects of one event from the current state, without changing it. The
    /// clock only bounds how long a JIT grant may last (`grants.max_duration`).
    /// Persist `plan.effects` (and `plan.audit`) in the transaction that records the SET's
    /// (`iss`, `jti`), then call [`commit`](Self::commit).
    pub fn plan(&self, event: &EnforcementEvent, ctx: &EventContext) -> Plan {
        plan::plan(&self.read(), &self.config, event, ctx, self.clock.now().0)
    }

    /// Applies persisted effects to memory. Idempotent; an effect older than the row it would
    /// replace or delete is skipped, so effects may arrive in any order (e.g. from other nodes).
    pub fn commit(&self, effects: &[Effect]) -> CommitReport {
        let mut report = CommitReport::default();
        let mut state = self.write();
        for effect in effects {
            let applied = match effect {
                Effect::Put(row) => state.put(row.clone()),
                Effect::Delete { kind, key, cause } => state.delete(*kind, key, cause.at),
            };
            report.count(applied);
        }
        report
    }

    /// Replaces the state with the stored rows (start-up, or after a failed store transaction).
    /// Builds the new state before taking the lock, so decisions go on meanwhile; a `commit`
    /// running concurrently with a `load` is lost, so call both from one task (the receiver's
    /// apply task does). Another node that learns of new rows need not reload everything: it can
    /// [`commit`](Self::commit) them (read back with [`Effect::from_stored`]), since effects
    /// converge in any order.
    pub fn load(&self, rows: impl IntoIterator<Item = StateRow>) -> CommitReport {
        let mut report = CommitReport::default();
        let mut fresh = State::default();
        for row in rows {
            report.count(match Row::try_from(row) {
                Ok(row) => fresh.put(row),
                Err(e) => Applied::Invalid(e),
            });
        }
        *self.write() = fresh;
        report
    }

    /// Every row, sorted by kind and key (for export, debugging and tests).
    pub fn rows(&self) -> Vec<StateRow> {
        let mut rows: Vec<StateRow> = self
            .read()
            .rows()
            .map(|e| StateRow::from(e.to_row()))
            .collect();
        rows.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
        rows
    }

    /// Sizes, for metrics.
    pub fn stats(&self) -> EngineStats {
        let state = self.read();
        EngineStats {
            rows: state.len(),
            handles: state.handles(),
        }
    }

    /// May this request go on? Uses the engine's clock for grant expiry and `max_age`.
    pub fn decide(&self, request: &AccessRequest) -> Decision {
        self.decide_at(request, self.clock.now())
    }

    /// [`decide`](Self::decide) at a given time.
    pub fn decide_at(&self, request: &AccessRequest, now: UnixMillis) -> Decision {
        decide::decide(&self.read(), &self.access, request, now.0)
    }

    /// An [`AccessRequest`] from a verified token's claims, with the configured claim names.
    pub fn request_from_claims(&self, claims: &Map<String, Value>) -> AccessRequest {
        AccessRequest::from_claims(claims, &self.config.token)
    }
}
