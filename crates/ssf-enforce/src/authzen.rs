//! An [AuthZEN Authorization API 1.0] policy decision point over the engine (feature `http`):
//! `POST /access/v1/evaluation`, `POST /access/v1/evaluations` and
//! `GET /.well-known/authzen-configuration`.
//!
//! The request's `subject` becomes token claims for [`Engine::request_from_claims`]:
//! `subject.properties` are read as claims (`iss`, `sub`, `email`, `sid`, `device_id`, `iat`,
//! `acr`, `auth_time`, `roles`, `groups`, ...), and `subject.id` fills `sid` (type `session`),
//! `device_id` (type `device`), `email` when it is an e-mail address, else `sub`.
//! `resource.type` / `resource.id` name the asset; `action.name` is the access level (`read`,
//! `read_write`, or the aliases `can_read`, `view`, `GET` → the lowest level above "none" and
//! `write`, `update`, `can_write`, `can_update`, `PUT`, `POST`, `DELETE` → the highest). The answer is `{"decision": bool, "context": {...}}`,
//! where the context says why: `reason`, `message`, and the `jti`, `iss` and `rule` of the
//! SET behind the decision.
//!
//! The PDP does not authenticate its callers: mount it behind the app's own authentication
//! (AuthZEN §11) or on an internal listener.
//!
//! [AuthZEN Authorization API 1.0]: https://openid.net/specs/authorization-api-1_0.html

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{FromRequestParts, State, rejection::JsonRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{decision::Decision, engine::Engine, request::Resource};

/// The single evaluation path (AuthZEN 1.0 §6).
pub const EVALUATION_PATH: &str = "/access/v1/evaluation";
/// The batch evaluation path (AuthZEN 1.0 §7).
pub const EVALUATIONS_PATH: &str = "/access/v1/evaluations";
/// The PDP metadata path (AuthZEN 1.0 §9).
pub const METADATA_PATH: &str = "/.well-known/authzen-configuration";

/// A subject, resource or action: `type`, `id` (`name` for actions) and `properties`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Entity {
    /// The entity type (`user`, `customer`, ...).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The id.
    pub id: Option<String>,
    /// The action name.
    pub name: Option<String>,
    /// Free-form attributes.
    pub properties: Map<String, Value>,
}

/// One evaluation request; in a batch, a member absent from an item comes from the top level.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Evaluation {
    /// Who.
    pub subject: Option<Entity>,
    /// What.
    pub resource: Option<Entity>,
    /// How.
    pub action: Option<Entity>,
    /// Environment (accepted; the engine does not read it).
    pub context: Option<Value>,
}

/// The batch request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Batch {
    #[serde(flatten)]
    defaults: Evaluation,
    evaluations: Option<Vec<Evaluation>>,
    options: Map<String, Value>,
}

/// PDP settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PdpConfig {
    /// The PDP's identifier (its base URL) for the metadata. Default: `http://<Host header>`.
    pub policy_decision_point: Option<String>,
    /// Most items one `POST /access/v1/evaluations` may carry; a larger batch is refused with
    /// `400` naming the limit. Default [`DEFAULT_MAX_EVALUATIONS`].
    pub max_evaluations: usize,
}

/// The default [`PdpConfig::max_evaluations`]: far above what one page of an application
/// checks at once, small enough that one request cannot occupy a thread for long.
pub const DEFAULT_MAX_EVALUATIONS: usize = 256;

impl Default for PdpConfig {
    fn default() -> Self {
        Self {
            policy_decision_point: None,
            max_evaluations: DEFAULT_MAX_EVALUATIONS,
        }
    }
}

impl PdpConfig {
    /// The defaults with `policy_decision_point` as the PDP's identifier.
    pub fn at(policy_decision_point: impl Into<String>) -> Self {
        Self {
            policy_decision_point: Some(policy_decision_point.into()),
            ..Self::default()
        }
    }
}

#[derive(Debug)]
struct Pdp {
    engine: Arc<Engine>,
    config: PdpConfig,
}

/// The PDP routes with default settings.
pub fn router(engine: Arc<Engine>) -> Router {
    router_with(engine, PdpConfig::default())
}

/// The PDP routes.
pub fn router_with(engine: Arc<Engine>, config: PdpConfig) -> Router {
    Router::new()
        .route(EVALUATION_PATH, post(evaluation))
        .route(EVALUATIONS_PATH, post(evaluations))
        .route(METADATA_PATH, get(metadata))
        .with_state(Arc::new(Pdp { engine, config }))
}

/// Why an evaluation request could not be read.
fn bad_request(why: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid_request", "error_description": why.into()})),
    )
        .into_response()
}

/// Echoes `X-Request-ID` (AuthZEN 1.0 §10.1.3).
fn with_request_id(headers: &HeaderMap, mut response: Response) -> Response {
    if let Some(id) = headers.get("x-request-id") {
        response.headers_mut().insert("x-request-id", id.clone());
    }
    response
}

/// The access level an action name asks for.
fn access_of(engine: &Engine, name: &str) -> String {
    let levels = &engine.config().access.access_levels;
    if levels.iter().any(|l| l == name) {
        return name.to_owned();
    }
    let lowered = name.to_ascii_lowercase();
    let read = ["read", "can_read", "view", "get", "head"];
    let write = [
        "write",
        "update",
        "edit",
        "can_write",
        "can_update",
        "put",
        "post",
        "patch",
        "delete",
    ];
    let pick = if read.contains(&lowered.as_str()) {
        levels.get(1)
    } else if write.contains(&lowered.as_str()) {
        levels.last()
    } else {
        None
    };
    pick.cloned().unwrap_or_else(|| name.to_owned())
}

/// The claims a subject stands for: `properties`, plus `subject.id` as the session id (type
/// `session`), device id (type `device`), `email` (an address) or `sub`.
fn claims_of(subject: &Entity) -> Map<String, Value> {
    let mut claims = subject.properties.clone();
    if let Some(id) = subject.id.as_deref().filter(|s| !s.is_empty()) {
        let name = match subject.kind.as_deref() {
            Some("session") => "sid",
            Some("device") => "device_id",
            _ if id.contains('@') => "email",
            _ => "sub",
        };
        claims
            .entry(name.to_owned())
            .or_insert_with(|| id.to_owned().into());
    }
    claims
}

/// Judges one evaluation; `Err` names the missing member.
fn evaluate(engine: &Engine, e: &Evaluation) -> Result<Decision, &'static str> {
    let subject = e.subject.as_ref().ok_or("`subject` is required")?;
    let action = e.action.as_ref().ok_or("`action` is required")?;
    let action = action.name.as_deref().ok_or("`action.name` is required")?;
    let resource = e.resource.as_ref().ok_or("`resource` is required")?;
    let mut request = engine.request_from_claims(&claims_of(subject));
    request.resource = match (resource.kind.as_deref(), resource.id.as_deref()) {
        (Some(t), Some(id)) => Some(Resource {
            asset_type: t.to_owned(),
            asset_id: id.to_owned(),
        }),
        _ => return Err("`resource.type` and `resource.id` are required"),
    };
    request.access = Some(access_of(engine, action));
    Ok(engine.decide(&request))
}

/// `{"decision": bool, "context": {"reason", "message", "jti", "iss", "rule", ...}}`.
fn answer(decision: &Decision) -> Value {
    let mut context = match serde_json::to_value(decision) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    context.remove("decision");
    if let Some(cause) = decision.cause() {
        context.insert("jti".into(), cause.jti.clone().into());
        context.insert("iss".into(), cause.iss.clone().into());
        context.insert("rule".into(), cause.rule.as_str().into());
    }
    json!({"decision": decision.is_allowed(), "context": context})
}

async fn evaluation(
    State(pdp): State<Arc<Pdp>>,
    headers: HeaderMap,
    body: Result<Json<Evaluation>, JsonRejection>,
) -> Response {
    let response = match body {
        Err(e) => bad_request(e.body_text()),
        Ok(Json(e)) => match evaluate(&pdp.engine, &e) {
            Ok(d) => Json(answer(&d)).into_response(),
            Err(why) => bad_request(why),
        },
    };
    with_request_id(&headers, response)
}

/// Fills the members an item lacks from the batch's top level (AuthZEN 1.0 §7.1.1).
fn merged(defaults: &Evaluation, item: &Evaluation) -> Evaluation {
    Evaluation {
        subject: item.subject.clone().or_else(|| defaults.subject.clone()),
        resource: item.resource.clone().or_else(|| defaults.resource.clone()),
        action: item.action.clone().or_else(|| defaults.action.clone()),
        context: item.context.clone().or_else(|| defaults.context.clone()),
    }
}

async fn evaluations(
    State(pdp): State<Arc<Pdp>>,
    headers: HeaderMap,
    body: Result<Json<Batch>, JsonRejection>,
) -> Response {
    let Json(batch) = match body {
        Ok(b) => b,
        Err(e) => return with_request_id(&headers, bad_request(e.body_text())),
    };
    let Some(items) = batch.evaluations.filter(|i| !i.is_empty()) else {
        // No `evaluations` array: behaves as a single evaluation (AuthZEN 1.0 §7.1).
        let response = match evaluate(&pdp.engine, &batch.defaults) {
            Ok(d) => Json(answer(&d)).into_response(),
            Err(why) => bad_request(why),
        };
        return with_request_id(&headers, response);
    };
    let limit = pdp.config.max_evaluations;
    if items.len() > limit {
        let why = format!(
            "this request carries {} evaluations; at most {limit} are allowed per request \
             (enforce.pdp_max_evaluations): split the batch",
            items.len()
        );
        return with_request_id(&headers, bad_request(why));
    }
    let semantic = batch
        .options
        .get("evaluations_semantic")
        .and_then(Value::as_str)
        .unwrap_or("execute_all")
        .to_owned();
    // A batch is CPU work of unbounded length for the async executor: it runs on the blocking
    // pool, so one large batch cannot hold up `/healthz`, pushes or other evaluations.
    let engine = Arc::clone(&pdp.engine);
    let judged =
        tokio::task::spawn_blocking(move || judge_all(&engine, &batch.defaults, &items, &semantic))
            .await;
    let response = match judged {
        Ok(out) => Json(json!({"evaluations": out})).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "an evaluations batch failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "server_error", "error_description": "the batch failed"})),
            )
                .into_response()
        }
    };
    with_request_id(&headers, response)
}

/// Judges the items of a batch in order, stopping early as `semantic` says.
fn judge_all(
    engine: &Engine,
    defaults: &Evaluation,
    items: &[Evaluation],
    semantic: &str,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let answer = match evaluate(engine, &merged(defaults, item)) {
            Ok(d) => answer(&d),
            // One bad item does not fail the batch: it is a denial with the reason.
            Err(why) => {
                json!({"decision": false, "context": {"error": {"status": 400, "message": why}}})
            }
        };
        let allowed = answer["decision"] == true;
        out.push(answer);
        let stop = match semantic {
            "deny_on_first_deny" => !allowed,
            "permit_on_first_permit" => allowed,
            _ => false,
        };
        if stop {
            break;
        }
    }
    out
}

/// The host the request was sent to, for the default PDP identifier.
struct HostHeader(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for HostHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get(header::HOST)
                .and_then(|h: &HeaderValue| h.to_str().ok())
                .map(str::to_owned),
        ))
    }
}

async fn metadata(State(pdp): State<Arc<Pdp>>, HostHeader(host): HostHeader) -> Response {
    let base = match (&pdp.config.policy_decision_point, host) {
        (Some(pdp), _) => pdp.trim_end_matches('/').to_owned(),
        (None, Some(host)) => format!("http://{host}"),
        (None, None) => String::new(),
    };
    Json(json!({
        "policy_decision_point": base,
        "access_evaluation_endpoint": format!("{base}{EVALUATION_PATH}"),
        "access_evaluations_endpoint": format!("{base}{EVALUATIONS_PATH}"),
    }))
    .into_response()
}
