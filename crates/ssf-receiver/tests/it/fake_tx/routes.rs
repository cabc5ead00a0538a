//! The fake transmitter's routes and handlers.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use ssf_jose::{Jwks, SigningKey};
use tokio::{net::TcpListener, task::JoinHandle};

use super::{AUD, CLIENT_ID, CREDENTIAL_CHANGE, Knobs, SESSION_REVOKED, Shared};

pub(super) fn serve(listener: TcpListener, shared: Arc<Shared>) -> JoinHandle<()> {
    let app = Router::new()
        .route("/.well-known/ssf-configuration/tenant1", get(ssf_metadata))
        .route("/.well-known/sse-configuration/tenant1", get(sse_metadata))
        .route(
            "/.well-known/risc-configuration/tenant1",
            get(risc_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server/tenant1",
            get(as_metadata),
        )
        .route("/token", post(token))
        .route("/jwks", get(jwks))
        .route(
            "/ssf/streams",
            get(read_streams)
                .post(create)
                .patch(modify)
                .put(modify)
                .delete(delete),
        )
        .route("/ssf/status", get(read_status).post(write_status))
        .route("/ssf/verify", post(verify))
        .route("/ssf/subjects/add", post(add_subject))
        .route("/ssf/subjects/remove", post(remove_subject))
        .route("/ssf/poll/{id}", post(poll))
        .layer(axum::middleware::map_response(
            |mut r: Response| async move {
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                r
            },
        ))
        .with_state(shared);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

type S = State<Arc<Shared>>;

fn metadata(s: &Shared) -> Value {
    let k = s.knobs();
    let b = &s.base;
    json!({
        "spec_version": "1_0",
        "issuer": k.metadata_issuer.clone().unwrap_or_else(|| s.issuer.clone()),
        "jwks_uri": format!("{b}/jwks"),
        "delivery_methods_supported": k.delivery_methods,
        "configuration_endpoint": format!("{b}/ssf/streams"),
        "status_endpoint": format!("{b}/ssf/status"),
        "add_subject_endpoint": format!("{b}/ssf/subjects/add"),
        "remove_subject_endpoint": format!("{b}/ssf/subjects/remove"),
        "verification_endpoint": format!("{b}/ssf/verify"),
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
        "default_subjects": "ALL",
    })
}

async fn ssf_metadata(State(s): S) -> Response {
    if s.knobs().ssf_metadata_404 {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(metadata(&s)).into_response()
}

async fn sse_metadata(State(s): S) -> Response {
    if !s.knobs().serve_sse {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut m = metadata(&s);
    m.as_object_mut().unwrap().remove("spec_version");
    Json(m).into_response()
}

async fn risc_metadata(State(s): S) -> Response {
    if !s.knobs().serve_risc {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(metadata(&s)).into_response()
}

async fn as_metadata(State(s): S) -> Json<Value> {
    Json(
        json!({"issuer": s.issuer, "token_endpoint": format!("{}/token", s.base),
                "grant_types_supported": ["client_credentials"]}),
    )
}

async fn token(State(s): S, headers: HeaderMap, body: String) -> Response {
    use base64::Engine as _;
    let secret = s.knobs().client_secret.clone();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{secret}"))
    );
    let basic_ok = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    let post_ok = body.contains(&format!("client_secret={secret}"));
    if !(basic_ok || post_ok) || !body.contains("grant_type=client_credentials") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "bad client credentials"})),
        )
            .into_response();
    }
    let mut k = s.knobs();
    k.tokens_issued += 1;
    let token = format!("tok-{}", k.tokens_issued);
    k.valid_tokens.insert(token.clone());
    Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": k.token_lifetime}))
        .into_response()
}

fn unauthorized(s: &Shared, headers: &HeaderMap) -> Option<Response> {
    let mut k = s.knobs();
    let ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| k.valid_tokens.contains(t));
    if ok {
        return None;
    }
    k.unauthorized_answers += 1;
    Some(
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Bearer error=\"invalid_token\", error_description=\"expired\"",
            )],
        )
            .into_response(),
    )
}

async fn jwks(State(s): S) -> Response {
    let mut k = s.knobs();
    k.jwks_fetches += 1;
    if k.jwks_down {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let jwks = Jwks {
        keys: k.keys.iter().map(SigningKey::public_jwk).collect(),
    };
    let mut response = Json(jwks).into_response();
    if let Some(cc) = &k.jwks_cache_control {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_str(cc).unwrap());
    }
    response
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "not_found", "error_description": "no such stream"})),
    )
        .into_response()
}

fn shown(s: &Shared, k: &Knobs, config: &Value) -> Value {
    let mut c = config.clone();
    if k.foreign_iss {
        c["iss"] = json!("https://evil.example");
    } else {
        c["iss"] = json!(s.issuer);
    }
    c
}

async fn read_streams(
    State(s): S,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let k = s.knobs();
    match q.get("stream_id") {
        Some(id) => match k.streams.get(id) {
            Some(c) => Json(shown(&s, &k, c)).into_response(),
            None => not_found(),
        },
        None => Json(
            k.streams
                .values()
                .map(|c| shown(&s, &k, c))
                .collect::<Vec<_>>(),
        )
        .into_response(),
    }
}

fn fill(s: &Shared, id: &str, body: &Value, config: &mut Value) {
    for key in ["events_requested", "delivery", "description"] {
        if let Some(v) = body.get(key) {
            config[key] = v.clone();
        }
    }
    if config.get("delivery").is_none_or(Value::is_null) {
        config["delivery"] = json!({"method": "urn:ietf:rfc:8936"});
    }
    if config["delivery"]["method"] == "urn:ietf:rfc:8936" {
        config["delivery"]["endpoint_url"] = json!(format!("{}/ssf/poll/{id}", s.base));
    }
    let supported = [SESSION_REVOKED, CREDENTIAL_CHANGE];
    let delivered: Vec<Value> = config["events_requested"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter(|e| supported.iter().any(|s| *e == *s))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    config["events_supported"] = json!(supported);
    config["events_delivered"] = json!(delivered);
}

async fn create(State(s): S, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut k = s.knobs();
    k.create_bodies.push(body.clone());
    if !k.multi_stream && !k.streams.is_empty() {
        return (
            StatusCode::CONFLICT,
            Json(json!({"error": "conflict", "error_description": "one stream per receiver"})),
        )
            .into_response();
    }
    k.next_id += 1;
    let id = format!("s{}", k.next_id);
    let mut config = json!({"stream_id": id, "aud": AUD});
    if let Some(secs) = k.min_verification_interval {
        config["min_verification_interval"] = json!(secs);
    }
    fill(&s, &id, &body, &mut config);
    k.streams.insert(id.clone(), config.clone());
    k.statuses.insert(id, "enabled".to_owned());
    (StatusCode::CREATED, Json(shown(&s, &k, &config))).into_response()
}

async fn modify(State(s): S, headers: HeaderMap, body: Json<Value>) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let mut k = s.knobs();
    k.patch_bodies.push(body.0.clone());
    let Some(id) = body
        .get("stream_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Some(mut config) = k.streams.get(&id).cloned() else {
        return not_found();
    };
    fill(&s, &id, &body, &mut config);
    k.streams.insert(id, config.clone());
    Json(shown(&s, &k, &config)).into_response()
}

async fn delete(
    State(s): S,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let mut k = s.knobs();
    match q.get("stream_id").and_then(|id| k.streams.remove(id)) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => not_found(),
    }
}

async fn read_status(
    State(s): S,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let k = s.knobs();
    let Some(id) = q.get("stream_id").filter(|id| k.streams.contains_key(*id)) else {
        return not_found();
    };
    let status = k
        .statuses
        .get(id)
        .cloned()
        .unwrap_or_else(|| "enabled".to_owned());
    Json(json!({"stream_id": id, "status": status})).into_response()
}

async fn write_status(State(s): S, headers: HeaderMap, body: Json<Value>) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let mut k = s.knobs();
    let id = body["stream_id"].as_str().unwrap_or_default().to_owned();
    if !k.streams.contains_key(&id) {
        return not_found();
    }
    let status = body["status"].as_str().unwrap_or_default().to_owned();
    k.statuses.insert(id.clone(), status.clone());
    Json(json!({"stream_id": id, "status": status})).into_response()
}

async fn verify(State(s): S, headers: HeaderMap, body: Json<Value>) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let id = body["stream_id"].as_str().unwrap_or_default().to_owned();
    let state = body.get("state").and_then(Value::as_str).map(str::to_owned);
    let auto = {
        let mut k = s.knobs();
        if !k.streams.contains_key(&id) {
            return not_found();
        }
        k.verifications.push((id.clone(), state.clone()));
        k.auto_verify_events
    };
    if auto {
        s.enqueue_verification(&id, state.as_deref());
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn add_subject(State(s): S, headers: HeaderMap, body: Json<Value>) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let id = body["stream_id"].as_str().unwrap_or_default().to_owned();
    s.knobs()
        .subjects
        .push((format!("add {id}"), body["subject"].clone()));
    StatusCode::OK.into_response()
}

async fn remove_subject(State(s): S, headers: HeaderMap, body: Json<Value>) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let id = body["stream_id"].as_str().unwrap_or_default().to_owned();
    s.knobs()
        .subjects
        .push((format!("remove {id}"), body["subject"].clone()));
    StatusCode::NO_CONTENT.into_response()
}

async fn poll(
    State(s): S,
    Path(_id): Path<String>,
    headers: HeaderMap,
    body: Json<Value>,
) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    {
        let mut k = s.knobs();
        k.poll_requests.push(body.0.clone());
        if let Some((status, retry_after)) = k.poll_failures.pop_front() {
            let mut r = StatusCode::from_u16(status).unwrap().into_response();
            if let Some(ra) = retry_after {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static(ra));
            }
            return r;
        }
        let sticky = k.sticky_sets;
        for jti in body["ack"].as_array().into_iter().flatten() {
            let jti = jti.as_str().unwrap().to_owned();
            if !sticky {
                k.queue.remove(&jti);
            }
            k.acks.push(jti);
        }
        if let Some(errs) = body["setErrs"].as_object() {
            for (jti, e) in errs {
                if !sticky {
                    k.queue.remove(jti);
                }
                k.set_errs.insert(jti.clone(), e.clone());
            }
        }
    }
    let max = body["maxEvents"].as_u64().unwrap_or(100);
    let immediate = body["returnImmediately"].as_bool().unwrap_or(false);
    if max > 0 && !immediate && s.knobs().queue.is_empty() {
        let _ = tokio::time::timeout(Duration::from_millis(300), s.wake.notified()).await;
    }
    let k = s.knobs();
    let sets: BTreeMap<&String, &String> = if max == 0 {
        BTreeMap::new()
    } else {
        k.queue.iter().take(usize::try_from(max).unwrap()).collect()
    };
    let more = k.queue.len() > sets.len();
    Json(json!({"sets": sets, "moreAvailable": more})).into_response()
}
