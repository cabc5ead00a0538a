//! The SSF 1.0 transmitter: everything an identity provider or risk engine needs to tell relying
//! apps that something changed.
//!
//! - discovery ([SSF 1.0 §7]) and JWKS, OAuth 2.0 authorization-server metadata ([RFC 8414]) and a
//!   client-credentials token endpoint;
//! - stream management ([SSF 1.0 §8]), each receiver seeing only its own streams;
//! - ingest (`POST /events`): one event matched to streams, one signed SET per stream, all written to
//!   the durable outbox before the producer is answered;
//! - push delivery ([RFC 8935]) by workers with durable retries, and poll delivery ([RFC 8936]) with
//!   long polls that wake the moment a SET is queued.
//!
//! [SSF 1.0 §7]: https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-7
//! [SSF 1.0 §8]: https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8
//! [RFC 8414]: https://www.rfc-editor.org/rfc/rfc8414
//! [RFC 8935]: https://www.rfc-editor.org/rfc/rfc8935
//! [RFC 8936]: https://www.rfc-editor.org/rfc/rfc8936

//! The public surface: [`AppState`] (built from a [`TransmitterConfig`], a store, a signer and a
//! clock) for [`router::router`] and [`workers::Transmitter::start`]; the settings in [`config`];
//! OAuth helpers in [`auth`]; discovery paths in [`metadata`]; [`ingest::Ingest`] for producers
//! in the same process; secrets at rest in [`secrets`]. Everything else is the crate's own.

pub mod auth;
pub mod config;
pub mod control_events;
mod error;
pub mod inactivity;
pub mod ingest;
mod management;
pub mod matching;
pub mod metadata;
pub mod metrics;
mod mint;
mod openapi;
mod poll;
mod push;
pub mod router;
pub mod secrets;
mod state;
mod subject_key;
pub mod workers;

pub use config::TransmitterConfig;
pub use error::ApiError;
pub use mint::MintError;
pub use push::{
    health::{FailingStream, PushHealth},
    stats::{DeliveryFailure, DeliveryStats, StreamDelivery},
};
pub use state::{AppState, Shared};
pub use subject_key::subject_key;
