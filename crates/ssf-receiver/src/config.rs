//! Receiver settings: the `[receiver]` section of `ssf.toml`, with one `[[receiver.transmitters]]`
//! table per transmitter the receiver takes events from.
//!
//! Unknown keys are rejected (`deny_unknown_fields`), so a typo is an error at start. Secrets
//! (`token`, `client_secret`, `push_authorization`) are [`SecretString`]s: `Debug` shows
//! `[REDACTED]`, and they are never serialized back.
//!
//! ```toml
//! [receiver]
//! public_base_url = "https://rx.example.com"     # push endpoints: {this}/ssf/push/{name}
//! data_file = "ssf-data/receiver.sqlite"
//! dedupe_retention = "7d"                        # longer than every peer's max_age (D-RX-08)
//!
//! [[receiver.transmitters]]
//! name = "idp"
//! issuer = "https://idp.example.com/tenant1"
//! delivery = "push"                              # or "poll"
//! events = ["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]
//! audience = "https://rx.example.com"            # checked on the stream and on every SET
//! algorithms = ["RS256"]
//! verification_interval = "1h"                   # "0s" turns re-verification off
//! max_age = "3d"                                 # older SETs (by iat) are refused (D-RX-08)
//! push_authorization = "Bearer 5f2c…"            # what the transmitter must send on push
//! auth = { type = "client_credentials", client_id = "rx", client_secret = "…", scope = "ssf.manage ssf.read" }
//! # auth = { type = "bearer", token = "…" }
//!
//! [receiver.transmitters.poll]                   # only for delivery = "poll"
//! max_events = 100
//! long_poll_timeout = "60s"
//! ```

use std::{collections::BTreeSet, path::PathBuf, time::Duration};

use serde::Deserialize;
use ssf_http::RetryConfig;
use ssf_jose::Algorithm;
use ssf_types::secret::SecretString;
use ssf_types::{DiscoveryFlavor, EventTypeUri, ParseMode, discovery_url};
use url::Url;

use crate::error::ReceiverError;

/// The path under [`ReceiverConfig::public_base_url`] where push endpoints live; the last
/// segment is the peer's [`PeerConfig::name`].
pub const PUSH_PATH_PREFIX: &str = "/ssf/push/";

/// All receiver settings (`[receiver]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ReceiverConfig {
    /// The public base URL transmitters push to, e.g. `https://rx.example.com` (behind a proxy,
    /// the proxy's URL). Required when a peer uses push. Push URLs are
    /// `{public_base_url}/ssf/push/{name}`, unique per stream (SSF-STREAM-15).
    pub public_base_url: Option<String>,
    /// The embedded store's file (dedupe state, stream bookkeeping).
    pub data_file: PathBuf,
    /// How long a seen (`iss`, `jti`) is remembered: at least the transmitters' retry horizon
    /// (SSF-RXV-20), and longer than every peer's [`PeerConfig::max_age`] plus twice the clock
    /// skew, so that a SET still fresh enough to pass is always still remembered (D-RX-08).
    /// Default 7 days.
    #[serde(with = "ssf_http::duration_serde")]
    pub dedupe_retention: Duration,
    /// JWKS cache bounds, shared by all peers.
    pub jwks: JwksSettings,
    /// The transmitters (`[[receiver.transmitters]]`).
    pub transmitters: Vec<PeerConfig>,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            public_base_url: None,
            data_file: PathBuf::from("ssf-data/receiver.sqlite"),
            dedupe_retention: Duration::from_secs(7 * 86_400),
            jwks: JwksSettings::default(),
            transmitters: Vec::new(),
        }
    }
}

impl ReceiverConfig {
    /// Checks what serde cannot: unique, URL-safe peer names; issuers that make a discovery URL;
    /// a public base URL for push peers; known algorithms; sane poll and JWKS bounds.
    pub fn validate(&self) -> Result<(), ReceiverError> {
        if let Some(base) = &self.public_base_url {
            let url = Url::parse(base)
                .map_err(|e| ReceiverError::config("receiver.public_base_url", e.to_string()))?;
            if !matches!(url.scheme(), "https" | "http") || url.query().is_some() {
                return Err(ReceiverError::config(
                    "receiver.public_base_url",
                    "must be an http(s) URL without a query",
                ));
            }
        }
        self.jwks.validate()?;
        let mut names = BTreeSet::new();
        for (i, peer) in self.transmitters.iter().enumerate() {
            let at = |field: &str| format!("receiver.transmitters[{i}].{field}");
            peer.validate(&at)?;
            self.check_replay_window(&at("max_age"), peer.max_age)?;
            if !names.insert(peer.name.as_str()) {
                return Err(ReceiverError::config(at("name"), "is used twice"));
            }
            if peer.delivery == DeliveryMode::Push && self.public_base_url.is_none() {
                return Err(ReceiverError::config(
                    "receiver.public_base_url",
                    format!("is required for push delivery (peer `{}`)", peer.name),
                ));
            }
        }
        Ok(())
    }

    /// D-RX-08, SSF-RXV-20, SSF-SEC-06: a replay of a SET whose (`iss`, `jti`) was already
    /// purged from the dedupe set must fail the freshness check, or it would be applied again.
    /// A pair is purged `dedupe_retention` after it was received, and a SET can be received up
    /// to one clock skew before its `iat` and still pass until `max_age` plus one skew after
    /// it; so the retention must exceed `max_age` plus twice the skew.
    fn check_replay_window(&self, setting: &str, max_age: Duration) -> Result<(), ReceiverError> {
        let skew = ssf_jose::VerifyOptions::DEFAULT_CLOCK_SKEW;
        let needed = max_age.saturating_add(skew.saturating_mul(2));
        if self.dedupe_retention > needed {
            return Ok(());
        }
        let show = ssf_http::duration_serde::format;
        Err(ReceiverError::config(
            "receiver.dedupe_retention",
            format!(
                "({}) must be longer than {setting} ({}) plus twice the {} clock skew, or a SET \
                 replayed after its jti was forgotten would pass the freshness check and be \
                 applied again; raise receiver.dedupe_retention above {} or lower {setting}",
                show(self.dedupe_retention),
                show(max_age),
                show(skew),
                show(needed),
            ),
        ))
    }

    /// The push endpoint URL of the peer called `name`: `{public_base_url}/ssf/push/{name}`.
    pub fn push_url(&self, name: &str) -> Result<String, ReceiverError> {
        let base = self.public_base_url.as_deref().ok_or_else(|| {
            ReceiverError::config("receiver.public_base_url", "is required for push delivery")
        })?;
        Ok(format!(
            "{}{PUSH_PATH_PREFIX}{name}",
            base.trim_end_matches('/')
        ))
    }

    /// The peer called `name`.
    pub fn peer(&self, name: &str) -> Option<&PeerConfig> {
        self.transmitters.iter().find(|p| p.name == name)
    }
}

/// One transmitter the receiver takes events from (`[[receiver.transmitters]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PeerConfig {
    /// A short local name: letters, digits, `-`, `_`, `.`; the last segment of the push URL and
    /// a label on metrics and logs.
    pub name: String,
    /// The transmitter's issuer, from a trusted source (SSF-META-06). Discovery inserts the
    /// well-known path after the host (SSF-META-01/02); the metadata `issuer`, every stream's
    /// `iss` and every SET's `iss` must equal it byte for byte (SSF-META-07, SSF-SEC-05).
    pub issuer: String,
    /// How the receiver authenticates to the stream management API and the poll endpoint.
    pub auth: PeerAuth,
    /// `push` (RFC 8935, the transmitter POSTs to us) or `poll` (RFC 8936, we POST to it).
    /// Default `push`.
    #[serde(default)]
    pub delivery: DeliveryMode,
    /// The event types to request (`events_requested`, SSF-STREAM-05). Empty means "the event
    /// types the receiver's handlers act on", which the caller supplies.
    #[serde(default)]
    pub events: Vec<EventTypeUri>,
    /// The audience agreed out of band (D-12): checked in stream configurations
    /// (SSF-STREAM-30) and in every SET's `aud` (SSF-RXV-04). When absent, the stream's own
    /// `aud` is what SETs must carry.
    #[serde(default)]
    pub audience: Option<String>,
    /// Accept draft-era formats from this peer: `sse-`/`risc-configuration` discovery after a
    /// `404`, ID1 delivery keys and RISC delivery URNs, an in-event `subject` (D-19).
    #[serde(default)]
    pub legacy: bool,
    /// The SET signing algorithms accepted (SSF-SIG-05). Default `["RS256"]`. `HS256` and
    /// `none` only when listed here explicitly.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<Algorithm>,
    /// Accept a SET that carries `sub` (refused by default, D-07).
    #[serde(default)]
    pub allow_sub: bool,
    /// Accept a SET that carries `exp` (refused by default, D-07).
    #[serde(default)]
    pub allow_exp: bool,
    /// Poll settings (delivery = `poll`).
    #[serde(default)]
    pub poll: PollSettings,
    /// How often the stream's health is checked and verification requested again
    /// (SSF 1.0 §8.1.4). Default 1 h; `0s` turns it off (verification still runs at start).
    #[serde(
        default = "default_verification_interval",
        with = "ssf_http::duration_serde"
    )]
    pub verification_interval: Duration,
    /// The `Authorization` value the transmitter must send on every push (SSF 1.0 §6.1.1,
    /// SSF-STREAM-16), e.g. `Bearer <random>`. Sent to the transmitter as `authorization_header`.
    #[serde(default)]
    pub push_authorization: Option<SecretString>,
    /// The stream's `description` (SSF-STREAM-09).
    #[serde(default)]
    pub description: Option<String>,
    /// Freshness (D-RX-08): a SET whose `iat` is older than this, beyond the 60 s clock skew,
    /// is refused with `invalid_request` (push `400`, poll `setErrs`) and changes nothing: it is
    /// neither recorded for de-duplication nor applied. SETs have no `exp` (SSF-RXV-20), so
    /// this bounds how long a captured SET can be replayed. Keep it above the transmitter's
    /// retry horizon and the longest pause a stream may hold SETs for (both deliver old SETs),
    /// and below [`ReceiverConfig::dedupe_retention`]. Default 3 days.
    #[serde(default = "default_max_age", with = "ssf_http::duration_serde")]
    pub max_age: Duration,
    /// Back-off between set-up attempts while the transmitter cannot be used (down, refusing
    /// our credentials, mismatched issuer, ...); the last delay repeats, set-up never gives up.
    /// Default 1 s, 5 s, 15 s, 30 s, then every 60 s, each ±20 %.
    #[serde(default = "default_setup_retry")]
    pub setup_retry: RetryConfig,
}

fn default_algorithms() -> Vec<Algorithm> {
    vec![Algorithm::Rs256]
}

fn default_max_age() -> Duration {
    crate::pipeline::StreamContext::DEFAULT_MAX_AGE
}

fn default_verification_interval() -> Duration {
    Duration::from_secs(3600)
}

fn default_setup_retry() -> RetryConfig {
    let mut retry = RetryConfig::default();
    retry.delays = [1, 5, 15, 30, 60]
        .into_iter()
        .map(Duration::from_secs)
        .collect();
    retry.max_retry_after = Duration::from_secs(300);
    retry
}

impl PeerConfig {
    /// A peer with every optional setting at its default.
    pub fn new(name: impl Into<String>, issuer: impl Into<String>, auth: PeerAuth) -> Self {
        Self {
            name: name.into(),
            issuer: issuer.into(),
            auth,
            delivery: DeliveryMode::default(),
            events: Vec::new(),
            audience: None,
            legacy: false,
            algorithms: default_algorithms(),
            allow_sub: false,
            allow_exp: false,
            poll: PollSettings::default(),
            verification_interval: default_verification_interval(),
            push_authorization: None,
            description: None,
            max_age: default_max_age(),
            setup_retry: default_setup_retry(),
        }
    }

    /// The parse mode for this peer's bodies and SETs.
    pub fn parse_mode(&self) -> ParseMode {
        if self.legacy {
            ParseMode::Legacy
        } else {
            ParseMode::Strict
        }
    }

    fn validate(&self, at: &dyn Fn(&str) -> String) -> Result<(), ReceiverError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !name_ok {
            return Err(ReceiverError::config(
                at("name"),
                "use 1 to 64 letters, digits, `-`, `_` or `.`",
            ));
        }
        discovery_url(&self.issuer, DiscoveryFlavor::Ssf)
            .map_err(|e| ReceiverError::config(at("issuer"), e.to_string()))?;
        if self.algorithms.is_empty() {
            return Err(ReceiverError::config(at("algorithms"), "is empty"));
        }
        if self.max_age.is_zero() {
            return Err(ReceiverError::config(at("max_age"), "must be positive"));
        }
        if let Some(unknown) = self.algorithms.iter().find(|a| !a.is_known()) {
            return Err(ReceiverError::config(
                at("algorithms"),
                format!("`{unknown}` is not supported"),
            ));
        }
        if let Some(e) = self.events.iter().find(|e| e.as_str().is_empty()) {
            return Err(ReceiverError::config(
                at("events"),
                format!("holds an empty URI {e:?}"),
            ));
        }
        if let PeerAuth::ClientCredentials {
            token_endpoint: Some(url),
            ..
        } = &self.auth
        {
            Url::parse(url)
                .map_err(|e| ReceiverError::config(at("auth.token_endpoint"), e.to_string()))?;
        }
        if self.setup_retry.delays.is_empty() || self.setup_retry.jitter_percent > 100 {
            return Err(ReceiverError::config(
                at("setup_retry"),
                "needs at least one delay and a jitter of at most 100 %",
            ));
        }
        self.poll.validate(&at("poll"))
    }
}

/// How a receiver authenticates to a transmitter's management API and poll endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum PeerAuth {
    /// A static bearer token issued out of band (conformance "static" auth mode).
    Bearer {
        /// The token, sent as `Authorization: Bearer <token>` (RFC 6750 §2.1).
        token: SecretString,
    },
    /// The OAuth 2.0 client credentials grant ([RFC 6749 §4.4](https://www.rfc-editor.org/rfc/rfc6749#section-4.4),
    /// CAEPIOP §2.7.1): short-lived tokens, refreshed before they expire and re-obtained after
    /// a `401` (conformance `receiver-access-token-expiry`).
    ClientCredentials {
        /// The token endpoint. When absent, it is taken from the RFC 8414 metadata of
        /// `authorization_server` (default: the transmitter's issuer).
        #[serde(default)]
        token_endpoint: Option<String>,
        /// The OAuth authorization server's issuer, for RFC 8414 discovery.
        #[serde(default)]
        authorization_server: Option<String>,
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: SecretString,
        /// The scope to ask for. Default `ssf.manage ssf.read` (CAEPIOP §2.7.2).
        #[serde(default = "default_scope")]
        scope: Option<String>,
        /// How the client authenticates to the token endpoint. Default HTTP Basic.
        #[serde(default)]
        auth_method: ClientAuthMethod,
    },
}

fn default_scope() -> Option<String> {
    Some("ssf.manage ssf.read".to_owned())
}

/// Client authentication at the token endpoint ([RFC 6749 §2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret.
    #[default]
    ClientSecretBasic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// The delivery method a peer's stream uses ([SSF 1.0 §6.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-6.1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryMode {
    /// RFC 8935: the transmitter POSTs each SET to our push endpoint.
    #[default]
    Push,
    /// RFC 8936: we poll the transmitter's poll endpoint.
    Poll,
}

/// RFC 8936 poll settings of one peer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PollSettings {
    /// `maxEvents` of each poll (RFC 8936 §2.2). Default 100.
    pub max_events: u32,
    /// How long one long poll may take before the client gives up and polls again; longer than
    /// the transmitter's long-poll wait (POLL-07, 20–30 s). Default 60 s.
    #[serde(with = "ssf_http::duration_serde")]
    pub long_poll_timeout: Duration,
    /// Back-off after a failed poll; the last delay repeats (polling never gives up).
    /// `Retry-After` is honoured up to `max_retry_after`. Default 1 s, 2 s, 5 s, 10 s, 30 s, 60 s.
    pub retry: RetryConfig,
}

impl Default for PollSettings {
    fn default() -> Self {
        let mut retry = RetryConfig::default();
        retry.delays = [1, 2, 5, 10, 30, 60]
            .into_iter()
            .map(Duration::from_secs)
            .collect();
        retry.max_retry_after = Duration::from_secs(300);
        Self {
            max_events: 100,
            long_poll_timeout: Duration::from_secs(60),
            retry,
        }
    }
}

impl PollSettings {
    fn validate(&self, at: &str) -> Result<(), ReceiverError> {
        if self.max_events == 0 {
            return Err(ReceiverError::config(
                format!("{at}.max_events"),
                "must be at least 1",
            ));
        }
        if self.long_poll_timeout.is_zero() {
            return Err(ReceiverError::config(
                format!("{at}.long_poll_timeout"),
                "must be positive",
            ));
        }
        if self.retry.delays.is_empty() || self.retry.jitter_percent > 100 {
            return Err(ReceiverError::config(
                format!("{at}.retry"),
                "needs at least one delay and a jitter of at most 100 %",
            ));
        }
        Ok(())
    }
}

/// Bounds of the per-issuer JWKS cache (checklist SSF-SIG-06).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct JwksSettings {
    /// Lifetime when the response has no `Cache-Control: max-age`. Default 15 min.
    #[serde(with = "ssf_http::duration_serde")]
    pub default_ttl: Duration,
    /// The shortest lifetime honoured, whatever `max-age` says. Default 1 min.
    #[serde(with = "ssf_http::duration_serde")]
    pub min_ttl: Duration,
    /// The longest lifetime honoured. Default 24 h.
    #[serde(with = "ssf_http::duration_serde")]
    pub max_ttl: Duration,
    /// An unknown `kid` refetches the JWKS at most once per this window, so a flood of SETs
    /// with made-up `kid`s cannot turn into a flood of fetches. Default 30 s.
    #[serde(with = "ssf_http::duration_serde")]
    pub unknown_kid_window: Duration,
    /// After the lifetime ran out and a refetch fails, the old keys stay usable this long
    /// (SETs are still verified with them). `0s` turns this off. Default 5 min.
    #[serde(with = "ssf_http::duration_serde")]
    pub stale_if_error: Duration,
    /// The largest JWKS document accepted, in bytes. Default 256 KiB.
    pub max_bytes: usize,
}

impl Default for JwksSettings {
    fn default() -> Self {
        Self {
            default_ttl: Duration::from_secs(15 * 60),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            unknown_kid_window: Duration::from_secs(30),
            stale_if_error: Duration::from_secs(5 * 60),
            max_bytes: 256 * 1024,
        }
    }
}

impl JwksSettings {
    fn validate(&self) -> Result<(), ReceiverError> {
        if self.min_ttl > self.max_ttl {
            return Err(ReceiverError::config(
                "receiver.jwks.min_ttl",
                "is longer than max_ttl",
            ));
        }
        if self.max_bytes == 0 {
            return Err(ReceiverError::config(
                "receiver.jwks.max_bytes",
                "must be positive",
            ));
        }
        Ok(())
    }
}
