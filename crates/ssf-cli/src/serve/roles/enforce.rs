//! Enforcement inside the receiver role (`[enforce]`): the continuous access evaluation engine
//! (`ssf-enforce`) built from the section with the server's clock, fed by the receiver's apply
//! task through [`EnforcementHandler`], and the AuthZEN 1.0 PDP over it
//! ([AuthZEN 1.0](https://openid.net/specs/authorization-api-1_0.html)):
//! `POST /access/v1/evaluation`, `POST /access/v1/evaluations`,
//! `GET /.well-known/authzen-configuration`.
//!
//! Who may grant with `token-claims-change` (`enforce.grants.sources`) and the longest a grant
//! lasts (`enforce.grants.max_duration`) are named in the banner.
//!
//! With `enforce.pdp_token`, the evaluation endpoints need `Authorization: Bearer <token>`
//! (compared digest to digest in constant time); the metadata stays public, as discovery
//! documents are. Without it the PDP answers anyone who reaches the listener, so it must stay on
//! loopback or a trusted network: outside development mode a non-loopback listener without a
//! token is warned about at start.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use serde_json::json;
use ssf_enforce::{
    EnforcementHandler, Engine, GrantAuthority,
    authzen::{EVALUATION_PATH, METADATA_PATH, PdpConfig, router_with},
};
use ssf_transmitter::auth::{hash_secret, verify_secret};
use ssf_types::secret::ExposeSecret;

use super::RoleContext;
use crate::{
    input::Failure,
    serve::config::{EnforceSection, invalid_enforce},
};

/// The engine, its handler for the receiver, and the PDP routes.
pub(crate) struct Enforcement {
    /// What the receiver's apply task hands applied events to.
    pub(crate) handler: EnforcementHandler,
    /// The AuthZEN routes (behind the bearer check when a token is configured).
    pub(crate) routes: Router,
    /// Banner lines.
    pub(crate) banner: Vec<(&'static str, String)>,
    /// The engine itself, for the operator console ("why was this denied").
    pub(crate) engine: Arc<Engine>,
}

/// Builds the engine of `section`. `base` is the receiver's public base URL (the PDP's
/// identifier in its metadata); `exposed` says whether the listener may be reachable from
/// other hosts (not development mode, not a loopback address), which makes an open PDP a
/// loud warning.
pub(crate) fn build(
    ctx: &RoleContext,
    section: EnforceSection,
    base: &str,
    exposed: bool,
) -> Result<Enforcement, Failure> {
    let grants = grants_banner(&section.config.grants);
    let engine = Arc::new(
        Engine::new(section.config, Arc::clone(&ctx.clock))
            .map_err(|e| invalid_enforce(&e, |_| "the configuration".to_owned()))?,
    );
    let mut pdp = PdpConfig::at(base.trim_end_matches('/'));
    pdp.max_evaluations = section.pdp_max_evaluations;
    let mut routes = router_with(Arc::clone(&engine), pdp);
    let endpoint = format!("{}{EVALUATION_PATH}", base.trim_end_matches('/'));
    let banner_value = match &section.pdp_token {
        Some(token) => {
            let expected = Arc::new(hash_secret(token.expose_secret()));
            routes = routes.route_layer(middleware::from_fn_with_state(expected, require_token));
            format!("{endpoint} (bearer token: enforce.pdp_token)")
        }
        None => {
            if exposed {
                tracing::warn!(
                    endpoint,
                    "the AuthZEN PDP needs no authentication and the listener is not on loopback: \
                     anyone who reaches it can ask about any user. Set enforce.pdp_token, or keep \
                     server.listen on loopback or a trusted network"
                );
            }
            format!("{endpoint} (no authentication: loopback or trusted networks only)")
        }
    };
    Ok(Enforcement {
        handler: EnforcementHandler::new(Arc::clone(&engine)),
        engine,
        routes,
        banner: vec![("authzen", banner_value), ("grants", grants)],
    })
}

/// Who may grant and for how long, for the banner (D-EN-02, D-EN-03).
fn grants_banner(grants: &GrantAuthority) -> String {
    let longest = ssf_http::duration_serde::format(grants.max_duration);
    match &grants.sources {
        None => format!(
            "from any verified transmitter (set enforce.grants.sources to name the bridge), \
             at most {longest}"
        ),
        Some(list) if list.is_empty() => "from nobody (enforce.grants.sources = [])".to_owned(),
        Some(list) => {
            let names: Vec<String> = list
                .iter()
                .map(|s| {
                    if s.stream_ids.is_empty() {
                        s.iss.clone()
                    } else {
                        format!("{} (streams {})", s.iss, s.stream_ids.join(", "))
                    }
                })
                .collect();
            format!("only from {}, at most {longest}", names.join("; "))
        }
    }
}

/// Lets a request through when it is the metadata or carries the configured bearer token;
/// otherwise `401` with `WWW-Authenticate: Bearer` (RFC 6750 §3).
async fn require_token(
    State(expected): State<Arc<String>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == METADATA_PATH {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match given {
        Some(token) if verify_secret(&expected, token) => next.run(request).await,
        given => {
            let (challenge, description) = if given.is_some() {
                (
                    r#"Bearer realm="authzen", error="invalid_token""#,
                    "the bearer token is not the PDP's token",
                )
            } else {
                (
                    r#"Bearer realm="authzen""#,
                    "send Authorization: Bearer <enforce.pdp_token>",
                )
            };
            let mut response = (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "unauthorized", "error_description": description})),
            )
                .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
            response
        }
    }
}
