//! The crate's error type.

use std::{fmt, net::IpAddr};

use crate::{BlockedRange, UrlError};

/// Everything that can go wrong building the client or making a request. Whether to try again is
/// decided in one place, [`classify_error`](crate::classify_error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL was refused before anything was sent.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// Every address the host name resolved to is in a refused range (checked after resolution,
    /// so DNS rebinding cannot reach them either).
    #[error(transparent)]
    Blocked(BlockedAddress),
    /// The request (or the connect phase) ran past its timeout.
    #[error("request to {url} timed out")]
    Timeout {
        /// The URL, redacted for logs.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The connection could not be opened: DNS failure, refused, unreachable, TLS handshake.
    #[error("could not connect to {url}")]
    Connect {
        /// The URL, redacted for logs.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The request failed after the connection was made (reset, protocol error, body error).
    #[error("request to {url} failed")]
    Request {
        /// The URL, redacted for logs.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// A response body was larger than the caller's limit.
    #[error("response body from {url} is larger than {limit} bytes")]
    BodyTooLarge {
        /// The URL, redacted for logs.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// A setting cannot be used (e.g. a `user_agent` that is not a valid header value).
    #[error("invalid setting `{setting}`: {reason}")]
    InvalidConfig {
        /// The setting's name as written in the configuration.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// reqwest refused to build the client (e.g. the TLS backend failed to initialise).
    #[error("could not build the HTTP client")]
    Build(#[source] reqwest::Error),
}

/// A host name whose every resolved address is refused by the SSRF guard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BlockedAddress {
    /// The host name as resolved.
    pub host: String,
    /// Each refused address with the range that refuses it.
    pub refused: Vec<(IpAddr, BlockedRange)>,
}

impl fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} refused: it resolves only to", self.host)?;
        for (i, (ip, range)) in self.refused.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{ip} ({range})")?;
        }
        f.write_str(
            "; if this destination is intended, add its network to `allowed_networks` \
             (or set `allow_private_networks = true`, dev only)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_message_lists_addresses_and_the_fix() {
        let e = BlockedAddress {
            host: "rx.example".to_owned(),
            refused: vec![
                ("10.0.0.7".parse().unwrap(), BlockedRange::Private),
                ("::1".parse().unwrap(), BlockedRange::Loopback),
            ],
        };
        assert_eq!(
            e.to_string(),
            "rx.example refused: it resolves only to 10.0.0.7 (a private (RFC 1918) address), \
             ::1 (a loopback address); if this destination is intended, add its network to \
             `allowed_networks` (or set `allow_private_networks = true`, dev only)"
        );
    }
}
