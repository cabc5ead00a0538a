//! Failed authentications, counted and throttled per client address (issue 12 item 12,
//! decision D-SRV-01).
//!
//! Every answer `401` (a wrong client secret at the token endpoint, a bad bearer token on the
//! management API, the PDP or a receiver's push endpoint, a webhook with a wrong signature) is
//! a failed authentication of the client's IP address on one surface (`token`, `pdp`,
//! `webhook`, `push`, `console`, `api`), counted in `ssf_auth_failures_total{surface}`. After
//! `server.auth_throttle.max_failures` of them within `window`, that address gets `429` with
//! `Retry-After` on that surface until the window has passed (`ssf_auth_throttled_total`), so a
//! secret cannot be guessed at line speed. Requests with good credentials from other
//! addresses are never affected. The address is the TCP peer's, or, behind the reverse proxies
//! named in `server.trusted_proxies`, the client's as they forward it (see [`client_addr`]).
//!
//! [`client_addr`]: super::client_addr

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{
    Json,
    extract::{ConnectInfo, Request, State, connect_info::Connected},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    serve::IncomingStream,
};
use serde::Deserialize;
use serde_json::json;
use ssf_types::{Clock, UnixMillis};
use tokio::net::TcpListener;

use super::{client_addr::TrustedProxies, tls::TlsListener};

/// The failed-authentication counter.
pub(crate) const AUTH_FAILURES: &str = "ssf_auth_failures_total";
/// Requests refused with `429` because their address failed too often.
pub(crate) const AUTH_THROTTLED: &str = "ssf_auth_throttled_total";
/// Addresses tracked at most; beyond, expired entries are dropped first, then the oldest.
const MAX_TRACKED: usize = 100_000;

/// `[server.auth_throttle]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ThrottleSettings {
    /// Failed authentications of one address on one surface before it is refused; `0` turns
    /// throttling off. Default 20.
    pub(crate) max_failures: u32,
    /// The counting window and the longest refusal. Default 1 min.
    #[serde(with = "ssf_http::duration_serde")]
    pub(crate) window: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            max_failures: 20,
            window: Duration::from_secs(60),
        }
    }
}

/// The TCP peer of a connection, plain or TLS (`ConnectInfo<PeerAddr>`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// The failure counts of one process.
#[derive(Debug)]
pub(crate) struct AuthThrottle {
    settings: ThrottleSettings,
    proxies: TrustedProxies,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<(&'static str, IpAddr), Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: UnixMillis,
    failures: u32,
}

impl AuthThrottle {
    pub(crate) fn new(
        settings: ThrottleSettings,
        proxies: TrustedProxies,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            settings,
            proxies,
            clock,
            entries: Mutex::default(),
        }
    }

    /// Seconds until `addr` may try again on `surface`, or `None` when it may now.
    fn refused_for(&self, surface: &'static str, addr: IpAddr) -> Option<u64> {
        if self.settings.max_failures == 0 {
            return None;
        }
        let now = self.clock.now();
        let entries = self.lock();
        let entry = entries.get(&(surface, addr))?;
        let ends = entry.window_start.plus_millis(self.window_millis());
        (entry.failures >= self.settings.max_failures && now < ends).then(|| {
            u64::try_from((ends.0 - now.0 + 999) / 1000)
                .unwrap_or(1)
                .max(1)
        })
    }

    /// Counts one failed authentication of `addr` on `surface`.
    fn failed(&self, surface: &'static str, addr: IpAddr) {
        metrics::counter!(AUTH_FAILURES, "surface" => surface).increment(1);
        if self.settings.max_failures == 0 {
            return;
        }
        let now = self.clock.now();
        let window = self.window_millis();
        let mut entries = self.lock();
        if entries.len() >= MAX_TRACKED {
            entries.retain(|_, e| now.0.saturating_sub(e.window_start.0) < window);
        }
        if entries.len() >= MAX_TRACKED {
            return;
        }
        let entry = entries.entry((surface, addr)).or_insert(Entry {
            window_start: now,
            failures: 0,
        });
        if now.0.saturating_sub(entry.window_start.0) >= window {
            *entry = Entry {
                window_start: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures == self.settings.max_failures {
            tracing::warn!(%addr, surface, failures = entry.failures,
                window_secs = self.settings.window.as_secs(),
                "too many failed authentications from this address; it gets 429 until the \
                 window ends (server.auth_throttle)");
        }
    }

    fn window_millis(&self) -> i64 {
        i64::try_from(self.settings.window.as_millis()).unwrap_or(i64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(&'static str, IpAddr), Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Which surface a path belongs to, the `surface` label.
fn surface(path: &str) -> &'static str {
    if path.ends_with("/token") {
        "token"
    } else if path.starts_with("/access/") {
        "pdp"
    } else if path.starts_with("/jit/") {
        "webhook"
    } else if path.starts_with("/ssf/push/") {
        "push"
    } else if path.starts_with("/console/") {
        "console"
    } else {
        "api"
    }
}

/// The middleware: refuses a throttled address, counts `401` answers.
pub(crate) async fn throttle(
    State(throttle): State<Arc<AuthThrottle>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(peer) = request
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|ConnectInfo(PeerAddr(a))| a.ip())
    else {
        return next.run(request).await;
    };
    let addr = throttle.proxies.client(peer, request.headers());
    let surface = surface(request.uri().path());
    if let Some(secs) = throttle.refused_for(surface, addr) {
        metrics::counter!(AUTH_THROTTLED, "surface" => surface).increment(1);
        let body = json!({
            "error": "too_many_requests",
            "error_description": format!(
                "too many failed authentications from this address; retry in {secs}s with \
                 correct credentials"
            ),
        });
        let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return response;
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        throttle.failed(surface, addr);
    }
    response
}

#[cfg(test)]
mod tests {
    use ssf_types::ManualClock;

    use super::*;

    #[test]
    fn an_address_is_refused_after_max_failures_until_the_window_ends() {
        let clock = ManualClock::new(UnixMillis::from_secs(1_000));
        let settings = ThrottleSettings {
            max_failures: 3,
            window: Duration::from_secs(60),
        };
        let throttle =
            AuthThrottle::new(settings, TrustedProxies::default(), Arc::new(clock.clone()));
        let (attacker, other) = (
            IpAddr::from([203, 0, 113, 7]),
            IpAddr::from([198, 51, 100, 1]),
        );
        for _ in 0..3 {
            assert_eq!(throttle.refused_for("token", attacker), None);
            throttle.failed("token", attacker);
        }
        assert_eq!(throttle.refused_for("token", attacker), Some(60));
        assert_eq!(throttle.refused_for("pdp", attacker), None, "per surface");
        assert_eq!(throttle.refused_for("token", other), None, "per address");
        clock.advance(59_000);
        assert_eq!(throttle.refused_for("token", attacker), Some(1));
        clock.advance(1_000);
        assert_eq!(throttle.refused_for("token", attacker), None, "window over");
        throttle.failed("token", attacker);
        assert_eq!(
            throttle.refused_for("token", attacker),
            None,
            "a new window"
        );
    }

    #[test]
    fn zero_turns_it_off_and_paths_map_to_surfaces() {
        let clock = ManualClock::new(UnixMillis::from_secs(1_000));
        let settings = ThrottleSettings {
            max_failures: 0,
            ..ThrottleSettings::default()
        };
        let throttle = AuthThrottle::new(settings, TrustedProxies::default(), Arc::new(clock));
        let addr = IpAddr::from([203, 0, 113, 7]);
        for _ in 0..100 {
            throttle.failed("token", addr);
        }
        assert_eq!(throttle.refused_for("token", addr), None);
        assert_eq!(surface("/oauth/token"), "token");
        assert_eq!(surface("/access/v1/evaluations"), "pdp");
        assert_eq!(surface("/jit/webhooks/servicenow"), "webhook");
        assert_eq!(surface("/ssf/push/idp"), "push");
        assert_eq!(surface("/ssf/streams"), "api");
    }
}
