//! A tower layer that makes an axum (or any tower) service enforce the engine's decisions on
//! every request (feature `http`).
//!
//! For each request the layer reads the bearer access token ([RFC 6750 §2.1]), verifies it with
//! a [`TokenVerifier`], builds an [`AccessRequest`] from its claims (`sub`, `email`, `sid`,
//! `iat`, `acr`, device, roles: [`Engine::request_from_claims`]), asks the route's [`Target`]
//! (asset and access wanted) and calls [`Engine::decide`]:
//! - allowed: the handler runs, with an [`Authorized`] extension holding the *effective* claims
//!   (the token's claims with the CAEP claims overlay merged in) and the reason;
//! - denied: the status and `WWW-Authenticate` of [`Decision::http`] (401 `invalid_token` for a
//!   revoked session or disabled account, 403 `insufficient_scope`, or the [RFC 9470] step-up
//!   challenge) and a JSON body with the reason code, its message, and the `jti` and rule of
//!   the SET that caused it.
//!
//! A missing, malformed, expired or forged token answers 401 before the engine is asked.
//!
//! ```no_run
//! # fn app(engine: std::sync::Arc<ssf_enforce::Engine>, verifier: ssf_enforce::layer::TokenVerifier) {
//! use axum::{Extension, Router, routing::get};
//! use ssf_enforce::layer::{Authorized, EnforcementLayer, Target};
//!
//! let layer = EnforcementLayer::new(engine, verifier).resolve(|_method, uri| {
//!     let id = uri.path().strip_prefix("/customers/")?;
//!     Some(Target::new("customer", id).access("read"))
//! });
//! let app: Router = Router::new()
//!     .route("/customers/{id}", get(|Extension(who): Extension<Authorized>| async move {
//!         format!("hello {}", who.claims["email"])
//!     }))
//!     .layer(layer);
//! # }
//! ```
//!
//! [RFC 6750 §2.1]: https://www.rfc-editor.org/rfc/rfc6750#section-2.1
//! [RFC 9470]: https://www.rfc-editor.org/rfc/rfc9470#section-3

#[cfg(all(test, feature = "receiver"))]
mod refresh_tests;
mod source;
#[cfg(test)]
pub(crate) mod tests;
mod token;

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};
use tower::{Layer, Service};

pub use self::{
    source::{JwksSource, KeySet, SourceFuture},
    token::TokenVerifier,
};
use crate::{
    decision::{Decision, ReasonCode},
    engine::Engine,
    error::EnforceError,
    request::{AccessRequest, Resource},
    row::Cause,
};

/// What a route protects: an asset and the access wanted (a level of
/// [`AccessPolicy::access_levels`](crate::AccessPolicy::access_levels); `None`: the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The asset.
    pub resource: Resource,
    /// The access wanted.
    pub access: Option<String>,
}

impl Target {
    /// The asset `asset_type:asset_id` at the default access.
    pub fn new(asset_type: impl Into<String>, asset_id: impl Into<String>) -> Self {
        Self {
            resource: Resource {
                asset_type: asset_type.into(),
                asset_id: asset_id.into(),
            },
            access: None,
        }
    }

    /// The same target at access level `access`.
    #[must_use]
    pub fn access(mut self, access: impl Into<String>) -> Self {
        self.access = Some(access.into());
        self
    }
}

/// The extension an allowed request carries to its handler.
#[derive(Debug, Clone)]
pub struct Authorized {
    /// The token's claims with the CAEP claims overlay merged in (CAEP §3.2).
    pub claims: Map<String, Value>,
    /// Why the request was allowed.
    pub reason: ReasonCode,
    /// The SET behind the allowance (a JIT grant or dynamic group), if any.
    pub cause: Option<Cause>,
}

/// A refusal, as the layer answers it. Also usable from handlers and other middleware.
#[derive(Debug, Clone)]
pub struct Denied {
    status: StatusCode,
    www_authenticate: String,
    body: Value,
}

impl Denied {
    /// The HTTP status (401 or 403).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `WWW-Authenticate` value.
    pub fn www_authenticate(&self) -> &str {
        &self.www_authenticate
    }

    /// The JSON body: `error`, `error_description`, `reason` and, when a SET caused the
    /// refusal, its `jti`, `iss`, `event_type` and `rule`.
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// 401 for a token that is missing or does not verify ([RFC 6750 §3.1]: no error code when
    /// no token was presented).
    ///
    /// [RFC 6750 §3.1]: https://www.rfc-editor.org/rfc/rfc6750#section-3.1
    pub fn token(error: &EnforceError, realm: Option<&str>) -> Self {
        let mut h = String::from("Bearer");
        let mut params = Vec::new();
        if let Some(realm) = realm {
            params.push(format!("realm=\"{}\"", quoted(realm)));
        }
        if !matches!(error, EnforceError::TokenMissing) {
            params.push("error=\"invalid_token\"".to_owned());
            params.push(format!(
                "error_description=\"{}\"",
                error.token_description()
            ));
        }
        if !params.is_empty() {
            h.push(' ');
            h.push_str(&params.join(", "));
        }
        let reason = if matches!(error, EnforceError::TokenMissing) {
            "token_missing"
        } else {
            "token_invalid"
        };
        Self {
            status: StatusCode::UNAUTHORIZED,
            www_authenticate: h,
            body: json!({
                "error": "invalid_token",
                "error_description": error.token_description(),
                "reason": reason,
            }),
        }
    }

    /// The answer for an engine decision that is not an allowance (`None` for one that is).
    pub fn decision(decision: &Decision, realm: Option<&str>) -> Option<Self> {
        let challenge = decision.http(realm);
        let header = challenge.www_authenticate?;
        let status = StatusCode::from_u16(challenge.status).ok()?;
        let error = param_of(&header, "error").unwrap_or("invalid_token");
        let mut body = json!({
            "error": error,
            "error_description": decision.message(),
            "reason": decision.reason().as_str(),
        });
        if let (Some(cause), Some(map)) = (decision.cause(), body.as_object_mut()) {
            map.insert("jti".into(), cause.jti.clone().into());
            map.insert("iss".into(), cause.iss.clone().into());
            map.insert("event_type".into(), cause.event_type.as_str().into());
            map.insert("rule".into(), cause.rule.as_str().into());
        }
        Some(Self {
            status,
            www_authenticate: header,
            body,
        })
    }
}

/// The value of `name="..."` in a challenge this module or [`Decision::http`] wrote.
fn param_of<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let start = header.find(&format!("{name}=\""))? + name.len() + 2;
    let len = header[start..].find('"')?;
    Some(&header[start..start + len])
}

fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control() && !matches!(c, '"' | '\\'))
        .collect()
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&self.www_authenticate) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }
}

/// Finds the [`Target`] of a request; `None` checks only the session, account, device, risk
/// and assurance.
pub type Resolver = Arc<dyn Fn(&Method, &Uri) -> Option<Target> + Send + Sync>;

/// The bearer token of `Authorization: Bearer <token>` (scheme case-insensitive).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The request-path check, shared by the layer and by code that wants the same answer without
/// a tower service (the "Rust API").
#[derive(Clone)]
pub struct Enforcer {
    engine: Arc<Engine>,
    verifier: TokenVerifier,
    resolver: Option<Resolver>,
    realm: Option<String>,
}

impl fmt::Debug for Enforcer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enforcer")
            .field("engine", &self.engine)
            .field("verifier", &self.verifier)
            .field("resolver", &self.resolver.is_some())
            .field("realm", &self.realm)
            .finish()
    }
}

impl Enforcer {
    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The target of a request: the resolver's answer, else a [`Target`] extension.
    pub fn target<B>(&self, request: &Request<B>) -> Option<Target> {
        self.resolver
            .as_ref()
            .and_then(|r| r(request.method(), request.uri()))
            .or_else(|| request.extensions().get::<Target>().cloned())
    }

    /// Judges a bearer token for `target`.
    pub fn check_token(
        &self,
        token: Option<&str>,
        target: Option<&Target>,
    ) -> Result<Authorized, Denied> {
        let realm = self.realm.as_deref();
        let token = token.ok_or_else(|| Denied::token(&EnforceError::TokenMissing, realm))?;
        let claims = self
            .verifier
            .verify(token)
            .map_err(|e| Denied::token(&e, realm))?;
        self.check_claims(claims, target)
    }

    /// [`check_token`](Self::check_token) with the verifier's keys brought up to date from its
    /// [`JwksSource`] first ([`TokenVerifier::verify_fresh`]); what the layer calls.
    pub async fn check_token_fresh(
        &self,
        token: Option<&str>,
        target: Option<&Target>,
    ) -> Result<Authorized, Denied> {
        let realm = self.realm.as_deref();
        let token = token.ok_or_else(|| Denied::token(&EnforceError::TokenMissing, realm))?;
        let claims = self
            .verifier
            .verify_fresh(token)
            .await
            .map_err(|e| Denied::token(&e, realm))?;
        self.check_claims(claims, target)
    }

    /// Judges already verified claims for `target`.
    pub fn check_claims(
        &self,
        mut claims: Map<String, Value>,
        target: Option<&Target>,
    ) -> Result<Authorized, Denied> {
        let mut request: AccessRequest = self.engine.request_from_claims(&claims);
        if let Some(t) = target {
            request.resource = Some(t.resource.clone());
            request.access.clone_from(&t.access);
        }
        let decision = self.engine.decide(&request);
        if let Some(denied) = Denied::decision(&decision, self.realm.as_deref()) {
            return Err(denied);
        }
        let (reason, cause) = (decision.reason(), decision.cause().cloned());
        if let Decision::Allow { overlay, .. } = decision {
            overlay.apply_to(&mut claims);
        }
        Ok(Authorized {
            claims,
            reason,
            cause,
        })
    }
}

/// The layer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EnforcementLayer {
    enforcer: Enforcer,
}

impl EnforcementLayer {
    /// A layer judging requests with `engine` after `verifier` accepted their bearer token.
    /// Without [`resolve`](Self::resolve) or a [`Target`] extension, requests are judged with no
    /// resource (session, account, device, risk and assurance only).
    pub fn new(engine: Arc<Engine>, verifier: TokenVerifier) -> Self {
        Self {
            enforcer: Enforcer {
                engine,
                verifier,
                resolver: None,
                realm: None,
            },
        }
    }

    /// How a request names its target (method and URI → asset and access).
    #[must_use]
    pub fn resolve(
        mut self,
        resolver: impl Fn(&Method, &Uri) -> Option<Target> + Send + Sync + 'static,
    ) -> Self {
        self.enforcer.resolver = Some(Arc::new(resolver));
        self
    }

    /// The `realm` of the challenges.
    #[must_use]
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.enforcer.realm = Some(realm.into());
        self
    }

    /// The check without the tower service.
    pub fn enforcer(&self) -> &Enforcer {
        &self.enforcer
    }
}

impl<S> Layer<S> for EnforcementLayer {
    type Service = Enforcement<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Enforcement {
            inner,
            enforcer: self.enforcer.clone(),
        }
    }
}

/// The service the layer wraps around the app.
#[derive(Debug, Clone)]
pub struct Enforcement<S> {
    inner: S,
    enforcer: Enforcer,
}

impl<S, B> Service<Request<B>> for Enforcement<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let target = self.enforcer.target(&request);
        let token = bearer_token(request.headers()).map(str::to_owned);
        let enforcer = self.enforcer.clone();
        // The clone is the one that was not polled ready: swap so the ready one runs.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let verdict = enforcer
                .check_token_fresh(token.as_deref(), target.as_ref())
                .await;
            match verdict {
                Err(denied) => Ok(denied.into_response()),
                Ok(authorized) => {
                    request.extensions_mut().insert(authorized);
                    inner.call(request).await
                }
            }
        })
    }
}
