//! The layer over real HTTP: an axum app on 127.0.0.1:0, real RS256 tokens, engine state changed
//! by real SET payloads.

use std::sync::Arc;

use axum::{Extension, Json, Router, routing::get};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use ssf_jose::{Algorithm as JoseAlg, KeyPair, SigningKey};
use ssf_types::{KeyId, ManualClock, UnixMillis};

use super::{Authorized, EnforcementLayer, Target, TokenVerifier};
use crate::{Engine, EngineConfig, Permission, Requirement, events_from_set};

pub(crate) const T0: i64 = 1_767_225_600;
pub(crate) const ISS: &str = "https://idp.example.com";
const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";

/// Signs `claims` as a compact JWS with `alg`/`kid` of `key` and `typ`.
pub(crate) fn jwt(key: &KeyPair, header: Value, claims: &Value) -> String {
    let mut h = json!({"alg": key.alg().as_str(), "kid": key.kid().as_str(), "typ": "at+jwt"});
    if let (Some(m), Value::Object(extra)) = (h.as_object_mut(), header) {
        m.extend(extra);
    }
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(h.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

pub(crate) fn jane(now: i64) -> Value {
    json!({"iss": ISS, "sub": "u-jane", "email": "jane@example.com", "sid": "s-1", "iat": now - 10,
        "exp": now + 3600, "acr": "nist-aal2", "roles": ["support-agent"], "aud": "console"})
}

pub(crate) fn policy() -> EngineConfig {
    let mut c = EngineConfig::default();
    c.access.roles.insert(
        "support-agent".into(),
        vec![Permission {
            asset: "kb:*".into(),
            access: "read".into(),
        }],
    );
    c.access.critical = vec!["customer".into()];
    c.access.requirements = vec![Requirement {
        asset: "kb:secret".into(),
        min_acr: Some("nist-aal3".into()),
        ..Requirement::default()
    }];
    c
}

/// Applies a SET payload to the engine as the receiver would.
pub(crate) fn apply(engine: &Engine, jti: &str, event: &str, sub_id: Value, body: Value) {
    let set = json!({"iss": ISS, "jti": jti, "iat": T0, "aud": "console", "sub_id": sub_id,
        "events": {format!("{CAEP}{event}"): body}});
    let (ctx, events) = events_from_set(&set).unwrap();
    for e in &events {
        let plan = engine.plan(e, &ctx);
        assert_eq!(engine.commit(&plan.effects).invalid, 0);
    }
}

pub(crate) struct Fixture {
    pub(crate) engine: Arc<Engine>,
    pub(crate) key: KeyPair,
    pub(crate) verifier: TokenVerifier,
}

pub(crate) fn fixture() -> Fixture {
    let clock = Arc::new(ManualClock::new(UnixMillis::from_secs(T0)));
    let engine = Arc::new(Engine::new(policy(), clock.clone()).unwrap());
    let key = KeyPair::generate(JoseAlg::Rs256, Some(KeyId::new("idp-1"))).unwrap();
    let jwks = json!({"keys": [key.public_jwk()]});
    let verifier = TokenVerifier::new(ISS, &jwks, clock)
        .unwrap()
        .audience("console");
    Fixture {
        engine,
        key,
        verifier,
    }
}

pub(crate) async fn serve(f: &Fixture) -> String {
    let layer = EnforcementLayer::new(Arc::clone(&f.engine), f.verifier.clone())
        .realm("console")
        .resolve(|method, uri| {
            let path = uri.path();
            if let Some(id) = path.strip_prefix("/customers/") {
                let access = if method == axum::http::Method::GET {
                    "read"
                } else {
                    "read_write"
                };
                return Some(Target::new("customer", id).access(access));
            }
            path.strip_prefix("/kb/")
                .map(|id| Target::new("kb", id).access("read"))
        });
    let handler = |Extension(who): Extension<Authorized>| async move {
        Json(
            json!({"email": who.claims["email"], "reason": who.reason.as_str(),
            "jti": who.cause.map(|c| c.jti), "tier": who.claims.get("tier")}),
        )
    };
    let app = Router::new()
        .route("/customers/{id}", get(handler).put(handler))
        .route("/kb/{id}", get(handler))
        .route("/me", get(handler))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

pub(crate) async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> (u16, String, Value) {
    let mut r = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let www = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, www, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bad_or_missing_tokens_get_401_before_the_engine() {
    let f = fixture();
    let base = serve(&f).await;
    let get = reqwest::Method::GET;
    let (s, www, body) = call(&base, get.clone(), "/kb/a1", None).await;
    // RFC 6750 §3.1: no error code when no token was presented.
    assert_eq!((s, www.as_str()), (401, "Bearer realm=\"console\""));
    assert_eq!(body["reason"], "token_missing");

    let other = KeyPair::generate(JoseAlg::Rs256, Some(KeyId::new("idp-1"))).unwrap();
    let now = T0;
    let mut wrong_iss = jane(now);
    wrong_iss["iss"] = json!("https://evil.example.com");
    let mut expired = jane(now);
    expired["exp"] = json!(now - 3600);
    let mut wrong_aud = jane(now);
    wrong_aud["aud"] = json!("other-app");
    let mut no_exp = jane(now);
    no_exp.as_object_mut().unwrap().remove("exp");
    let cases = [
        ("garbage".to_owned(), "not a JWT"),
        (jwt(&other, json!({}), &jane(now)), "forged signature"),
        (jwt(&f.key, json!({}), &wrong_iss), "wrong issuer"),
        (jwt(&f.key, json!({}), &wrong_aud), "wrong audience"),
        (jwt(&f.key, json!({}), &expired), "expired"),
        (jwt(&f.key, json!({}), &no_exp), "no exp"),
        (
            jwt(&f.key, json!({"kid": "nope"}), &jane(now)),
            "unknown kid",
        ),
        (jwt(&f.key, json!({"alg": "HS256"}), &jane(now)), "HMAC alg"),
        (jwt(&f.key, json!({"alg": "none"}), &jane(now)), "alg none"),
        (jwt(&f.key, json!({"crit": ["exp"]}), &jane(now)), "crit"),
    ];
    for (token, why) in cases {
        let (s, www, body) = call(&base, get.clone(), "/kb/a1", Some(&token)).await;
        assert_eq!(s, 401, "{why}");
        assert!(www.contains("error=\"invalid_token\""), "{why}: {www}");
        assert_eq!(body["error"], "invalid_token", "{why}");
        assert!(!body.to_string().contains("evil"), "{why}: nothing echoed");
    }
}

#[tokio::test]
async fn decisions_follow_roles_grants_and_revocation() {
    let f = fixture();
    let base = serve(&f).await;
    let token = jwt(&f.key, json!({}), &jane(T0));
    let get = reqwest::Method::GET;
    let put = reqwest::Method::PUT;

    let (s, _, body) = call(&base, get.clone(), "/kb/a1", Some(&token)).await;
    assert_eq!((s, body["reason"].as_str()), (200, Some("allowed_by_role")));
    assert_eq!(body["email"], "jane@example.com");
    let (s, www, body) = call(&base, get.clone(), "/customers/C2148", Some(&token)).await;
    assert_eq!((s, body["reason"].as_str()), (403, Some("grant_required")));
    assert!(www.contains("error=\"insufficient_scope\""), "{www}");

    // JIT grant (CAEP token-claims-change) plus an overlay claim.
    let jane_email = json!({"format": "email", "email": "jane@example.com"});
    apply(
        &f.engine,
        "grant-1",
        "token-claims-change",
        jane_email.clone(),
        json!({"event_timestamp": T0 - 5, "claims": {"customer_id": "C2148", "access_allowed": "read", "tier": "gold"}}),
    );
    let (s, _, body) = call(&base, get.clone(), "/customers/C2148", Some(&token)).await;
    assert_eq!(
        (s, body["reason"].as_str()),
        (200, Some("allowed_by_grant"))
    );
    assert_eq!(body["jti"], "grant-1");
    assert_eq!(
        body["tier"], "gold",
        "the handler sees the effective claims"
    );
    let (s, _, body) = call(&base, put, "/customers/C2148", Some(&token)).await;
    assert_eq!(
        (s, body["reason"].as_str()),
        (403, Some("grant_insufficient"))
    );
    assert_eq!(body["jti"], "grant-1");
    let (s, _, _) = call(&base, get.clone(), "/customers/C9999", Some(&token)).await;
    assert_eq!(s, 403);

    // Step-up (RFC 9470) where the resource needs a stronger acr.
    let (s, www, body) = call(&base, get.clone(), "/kb/secret", Some(&token)).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (401, Some("insufficient_user_authentication"))
    );
    assert!(www.contains("acr_values=\"nist-aal3\""), "{www}");

    // Session revoked: 401 invalid_token naming the SET.
    apply(
        &f.engine,
        "revoke-1",
        "session-revoked",
        json!({"format": "opaque", "id": "s-1"}),
        json!({"event_timestamp": T0}),
    );
    let (s, www, body) = call(&base, get.clone(), "/me", Some(&token)).await;
    assert_eq!(s, 401);
    assert!(
        www.starts_with("Bearer realm=\"console\", error=\"invalid_token\""),
        "{www}"
    );
    assert_eq!(body["reason"], "session_revoked");
    assert_eq!(body["jti"], "revoke-1");
    assert_eq!(body["rule"], "caep.session-revoked");
    // A token issued after the revocation passes.
    let mut fresh = jane(T0);
    fresh["iat"] = json!(T0 + 1);
    let fresh = jwt(&f.key, json!({}), &fresh);
    let (s, _, _) = call(&base, get, "/kb/a1", Some(&fresh)).await;
    assert_eq!(s, 200);
}

#[test]
fn the_rust_api_gives_the_same_answer_without_http() {
    let f = fixture();
    let layer = EnforcementLayer::new(Arc::clone(&f.engine), f.verifier.clone());
    let token = jwt(&f.key, json!({}), &jane(T0));
    let ok = layer
        .enforcer()
        .check_token(Some(&token), Some(&Target::new("kb", "x")))
        .unwrap();
    assert_eq!(ok.claims["sid"], "s-1");
    let denied = layer
        .enforcer()
        .check_token(Some(&token), Some(&Target::new("customer", "C1")))
        .unwrap_err();
    assert_eq!(denied.status().as_u16(), 403);
    assert_eq!(denied.body()["reason"], "grant_required");
    assert!(f.verifier.set_jwks(&json!({"keys": []})).is_ok());
    assert!(
        layer.enforcer().check_token(Some(&token), None).is_err(),
        "keys rotated away"
    );
}
