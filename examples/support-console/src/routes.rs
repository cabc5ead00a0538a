//! The console's HTTP routes, every one behind the enforcement layer:
//!
//! | Route | Asset | Access |
//! |---|---|---|
//! | `GET /customers/{id}` | `customer:{id}` (critical) | `read` |
//! | `PUT /customers/{id}` | `customer:{id}` (critical) | `read_write` |
//! | `GET /kb/{id}` | `kb:{id}` | `read` |
//! | `GET /runbooks/{id}` | `runbook:{id}` | `read` |
//! | `GET /me` | none (session, account and device checks only) | |

use std::sync::Arc;

use axum::{
    Extension, Json, Router,
    extract::{Path, State},
    http::{Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};
use ssf_enforce::layer::{Authorized, EnforcementLayer, Target};

use crate::records::RecordStore;

/// The asset type of customer records.
pub const CUSTOMER: &str = "customer";
/// The asset type of knowledge-base articles.
pub const KB: &str = "kb";
/// The asset type of incident runbooks (open to the dynamic group of incident responders).
pub const RUNBOOK: &str = "runbook";

/// What a request asks for: the resolver given to the [`EnforcementLayer`].
pub fn target_of(method: &Method, uri: &Uri) -> Option<Target> {
    let path = uri.path();
    if let Some(id) = path.strip_prefix("/customers/").filter(|id| !id.is_empty()) {
        let access = if method == Method::GET || method == Method::HEAD {
            "read"
        } else {
            "read_write"
        };
        return Some(Target::new(CUSTOMER, id).access(access));
    }
    if let Some(id) = path.strip_prefix("/kb/").filter(|id| !id.is_empty()) {
        return Some(Target::new(KB, id).access("read"));
    }
    if let Some(id) = path.strip_prefix("/runbooks/").filter(|id| !id.is_empty()) {
        return Some(Target::new(RUNBOOK, id).access("read"));
    }
    None
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "not_found", "error_description": format!("no {what}")})),
    )
        .into_response()
}

/// Adds who was allowed and why to a record.
fn with_access(record: Value, who: &Authorized) -> Value {
    json!({
        "record": record,
        "access": {
            "user": who.claims.get("email").cloned().unwrap_or(Value::Null),
            "reason": who.reason.as_str(),
            "jti": who.cause.as_ref().map(|c| c.jti.clone()),
        }
    })
}

async fn get_customer(
    State(records): State<Arc<RecordStore>>,
    Extension(who): Extension<Authorized>,
    Path(id): Path<String>,
) -> Response {
    match records.customer(&id) {
        Some(r) => Json(with_access(r, &who)).into_response(),
        None => not_found("customer"),
    }
}

async fn put_customer(
    State(records): State<Arc<RecordStore>>,
    Extension(who): Extension<Authorized>,
    Path(id): Path<String>,
    Json(update): Json<Value>,
) -> Response {
    match records.update_customer(&id, &update) {
        Some(r) => Json(with_access(r, &who)).into_response(),
        None => not_found("customer"),
    }
}

async fn get_article(
    State(records): State<Arc<RecordStore>>,
    Extension(who): Extension<Authorized>,
    Path(id): Path<String>,
) -> Response {
    match records.article(&id) {
        Some(r) => Json(with_access(r, &who)).into_response(),
        None => not_found("article"),
    }
}

async fn get_runbook(
    State(records): State<Arc<RecordStore>>,
    Extension(who): Extension<Authorized>,
    Path(id): Path<String>,
) -> Response {
    match records.runbook(&id) {
        Some(r) => Json(with_access(r, &who)).into_response(),
        None => not_found("runbook"),
    }
}

async fn me(Extension(who): Extension<Authorized>) -> Json<Value> {
    Json(json!({"claims": who.claims, "reason": who.reason.as_str()}))
}

/// The protected routes. `layer` should resolve targets with [`target_of`].
pub fn routes(records: Arc<RecordStore>, layer: EnforcementLayer) -> Router {
    Router::new()
        .route("/customers/{id}", get(get_customer).put(put_customer))
        .route("/kb/{id}", get(get_article))
        .route("/runbooks/{id}", get(get_runbook))
        .route("/me", get(me))
        .with_state(records)
        .layer(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_their_asset_and_access() {
        let t = |m: Method, p: &str| target_of(&m, &p.parse().unwrap());
        let c = t(Method::GET, "/customers/C2148").unwrap();
        assert_eq!(
            (c.resource.asset_id.as_str(), c.access.as_deref()),
            ("C2148", Some("read"))
        );
        assert_eq!(
            t(Method::PUT, "/customers/C2148")
                .unwrap()
                .access
                .as_deref(),
            Some("read_write")
        );
        assert_eq!(
            t(Method::GET, "/kb/article-42")
                .unwrap()
                .resource
                .asset_type,
            KB
        );
        assert!(t(Method::GET, "/me").is_none());
        assert!(t(Method::GET, "/customers/").is_none());
    }
}
