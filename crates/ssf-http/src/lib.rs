//! The outbound HTTP client every Shared Signals role shares: push delivery ([RFC 8935]), the
//! receiver's poller ([RFC 8936]), discovery and JWKS fetches.
//!
//! - [`build_client`] makes a [`GuardedClient`]: reqwest over rustls, no redirects, no proxy from
//!   the environment, pooled connections, timeouts, and an SSRF guard. Loopback, private,
//!   link-local, CGNAT, ULA and other non-global addresses are refused for IP literals before
//!   sending and for names *after* DNS resolution (so DNS rebinding cannot get through), unless the
//!   operator allow-lists them ([`ClientConfig::allowed_networks`]).
//! - [`validate_url`] is the same URL check at configuration time, e.g. when a receiver registers a
//!   push endpoint (checklist PUSH-20, SSF-SEC-16).
//! - [`RetrySchedule`], [`parse_retry_after`] and [`cap_retry_after`] decide when to try again;
//!   [`classify_status`] and [`classify_error`] decide whether to ([RFC 8935 §2], PUSH-16..18).
//!
//! ```no_run
//! # async fn push() -> Result<(), Box<dyn std::error::Error>> {
//! use ssf_http::{
//!     ClientConfig, SuccessPolicy, Url, build_client, classify_status,
//!     reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue},
//! };
//!
//! let client = build_client(&ClientConfig::default())?;
//! let endpoint = Url::parse("https://receiver.example/ssf/push")?;
//! let response = client
//!     .post(endpoint)?
//!     .header(CONTENT_TYPE, HeaderValue::from_static("application/secevent+jwt"))
//!     .header(ACCEPT, HeaderValue::from_static("application/json"))
//!     .body("eyJhbGciOi...")
//!     .send()
//!     .await?;
//! let outcome = classify_status(response.status(), SuccessPolicy::Only202);
//! # let _ = outcome;
//! # Ok(())
//! # }
//! ```
//!
//! The crate never reads the clock: callers pass `now` from their injected
//! [`ssf_types::Clock`].
//!
//! [RFC 8935]: https://www.rfc-editor.org/rfc/rfc8935
//! [RFC 8936]: https://www.rfc-editor.org/rfc/rfc8936
//! [RFC 8935 §2]: https://www.rfc-editor.org/rfc/rfc8935#section-2
#![warn(missing_docs)]

mod classify;
mod client;
mod config;
pub mod duration_serde;
mod error;
mod ip;
mod retry;
mod url_check;

pub use classify::{
    Outcome, PermanentReason, RetryReason, SuccessPolicy, classify_error, classify_status,
};
pub use client::{GuardedClient, GuardedRequest, build_client, read_body_limited};
pub use config::{ClientConfig, DEFAULT_USER_AGENT};
pub use error::{BlockedAddress, HttpError};
pub use ip::{BlockedRange, blocked_range};
pub use retry::{RetryConfig, RetrySchedule, cap_retry_after, parse_retry_after};
pub use url::Url;
pub use url_check::{UrlError, validate_url};

/// The reqwest crate this client is built on, for the types in this crate's signatures
/// (`Method`, `StatusCode`, `Response`, `header::HeaderValue`, ...), so callers stay on the same
/// version.
pub use reqwest;
