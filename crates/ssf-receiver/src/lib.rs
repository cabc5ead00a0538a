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
//! - [`push`] and [`router`]: the RFC 8935 push endpoint `POST /ssf/push/{stream_key}`.
//! - [`metrics`]: the metric names.
//!
//! Client side: discovery, tokens, the stream-management client, the JWKS cache and the poller.
//!
//! [ssf]: https://openid.net/specs/openid-sharedsignals-framework-1_0.html

#![warn(missing_docs)]

pub mod apply;
pub mod handler;
pub mod metrics;
pub mod pipeline;
pub mod push;
pub mod receive;
pub mod router;

// Client side.
pub mod config;
pub mod discovery;
pub mod error;
pub mod jwks;
pub mod poller;
pub mod setup;
pub mod stream_client;
pub mod token;
mod wire;

pub use error::ReceiverError;
