//! The receiving side of the [OpenID Shared Signals Framework 1.0][ssf].
//!
//! Server side (this file's first group of modules):
//! - [`pipeline`]: validates one compact SET for a peer and stream (size, signature through a
//!   [`KeySource`](pipeline::KeySource), `typ`, `iss`, `aud`, `iat`, shape, event definition,
//!   verification `state`, critical subject members) into an accepted [`handler::ReceivedSet`]
//!   or a rejection with its RFC 8935 `err`.
//! - [`apply`]: durable de-duplication by (`iss`, `jti`) and application through an
//!   [`handler::EventHandler`], group-committed by one writer task.
//! - [`receive`]: pipeline + apply for one SET ([`receive::SetReceiver`]), the stream contexts
//!   by key ([`receive::StreamRegistry`]) and the poller's processor
//!   ([`receive::PollSetProcessor`]).
//! - [`recent`]: the bounded in-memory log of the last SETs judged, push or poll
//!   ([`receive::SetReceiver::recent`]), for operators.
//! - [`push`] and [`router`]: the RFC 8935 push endpoint `POST /ssf/push/{stream_key}`.
//! - [`metrics`]: the metric names.
//!
//! Client side (the second group): discovery, tokens, the stream-management client, the poller
//! and the set-up of each configured transmitter ([`setup`]). The client uses
//! the server side (set-up registers each stream's context in the [`receive::StreamRegistry`];
//! the poller hands each SET to a [`receive::SetProcessor`] and acts on its
//! [`receive::Receipt`], the same answer the push endpoint gives), never the other way round.
//!
//! Shared by both: [`config`], [`error`], [`metrics`], [`jwks`] (each transmitter's keys: the
//! client fetches them, the pipeline verifies with them) and [`peers`] (each configured
//! transmitter's set-up state, which the push endpoint and `/healthz` read).
//!
//! [ssf]: https://openid.net/specs/openid-sharedsignals-framework-1_0.html

#![warn(missing_docs)]

// Server side.
pub mod apply;
pub mod handler;
pub mod pipeline;
pub mod push;
pub mod receive;
pub mod recent;
pub mod router;

// Shared by both halves.
pub mod config;
pub mod error;
pub mod jwks;
pub mod metrics;
pub mod peers;

// Client side.
pub mod discovery;
pub mod poller;
pub mod setup;
pub mod stream_client;
pub mod token;
mod wire;

pub use error::ReceiverError;
