//! Just-in-time access from tickets (DESIGN role 4): a ticket bridge that turns ITSM/CSM ticket
//! assignments into CAEP `token-claims-change` events
//! ([CAEP 1.0 §3.2](https://openid.net/specs/openid-caep-1_0.html#section-3.2)).
//!
//! When a case about customer C2148 is assigned to Jane, the bridge sends, through the
//! transmitter's `POST /events`, an event for `{"format": "email", "email": "jane@example.com"}`
//! with `"claims": {"customer_id": "C2148", "access_allowed": "read_write", "expires_at": ...}`;
//! when the case closes, is reassigned, or the grant reaches its maximum duration, another
//! with `"access_allowed": "none"`. Nothing else about her access changes.
//!
//! | Module | What |
//! |---|---|
//! | [`config`] | `[jit]` settings: systems, webhook auth, rules, emitter |
//! | [`webhook`] | `POST /jit/webhooks/{system}`: [`router`] |
//! | [`adapter`] | generic JSON, Jira Service Management, ServiceNow payloads -> [`TicketEvent`] |
//! | [`verify`] | HMAC-SHA256 / token / Basic checks in constant time, timestamp window |
//! | [`rules`] | ticket -> (subject, asset, access level) or the reason for no grant; open, closed or unknown states |
//! | [`identity`] | assignee ids and display names -> e-mail, for systems that hide it |
//! | [`lifecycle`] | event ordering, grant diffs, effective access per (user, asset) |
//! | [`store`] | [`JitStore`]: SQLite (WAL) or PostgreSQL (several nodes): deliveries, tickets, grants, outbox, audit; [`migrate`] |
//! | [`emitter`] | [`Emitter`]: outbox -> transmitter with OAuth client credentials and backoff |
//! | [`reconcile`] | [`Bridge::reconcile`]: open-ticket list vs grants |
//!
//! ```no_run
//! # async fn run(config: ssf_jit::JitConfig) -> Result<(), ssf_jit::JitError> {
//! use std::sync::Arc;
//! let bridge = ssf_jit::Bridge::open(config, Arc::new(ssf_types::SystemClock)).await?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let workers = bridge.start(shutdown.clone())?;          // emitter + expiry sweeper
//! let app = ssf_jit::router(bridge.clone());              // merge into the HTTP server
//! # let _ = (app, workers);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod adapter;
pub mod bridge;
pub mod config;
pub mod emitter;
pub mod error;
pub mod identity;
pub mod lifecycle;
pub mod reconcile;
pub mod rules;
pub mod store;
pub mod ticket;
pub mod time;
pub mod verify;
pub mod webhook;

pub use bridge::{Bridge, MAX_ACTOR_BYTES, MAX_REASON_BYTES, Workers};
pub use config::{EmitterConfig, JitConfig, RulesConfig, SystemConfig, SystemKind, WebhookAuth};
pub use emitter::{Emitter, RoundReport};
pub use error::JitError;
pub use reconcile::{ReconcileReport, parse_snapshots};
pub use store::{ApplyOutcome, ApplyReport, Change, HandRevoke, Intake, JitStore, migrate};
pub use ticket::{AssigneeUpdate, Person, TicketEvent, TicketEventKind, TicketSnapshot};
pub use webhook::{WEBHOOK_PATH, router};
