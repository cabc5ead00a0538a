//! Discovery, JWKS and OAuth metadata (checklist section 3; CONF `openid-ssf-transmitter-metadata`).

use reqwest::StatusCode;
use serde_json::Value;
use ssf_jose::{Algorithm, KeyStore};
use ssf_transmitter::metadata::paths;

use crate::support::{RECEIVER, TestServer, body_json};

const ENDPOINTS: &[&str] = &[
    "configuration_endpoint",
    "status_endpoint",
    "add_subject_endpoint",
    "remove_subject_endpoint",
    "verification_endpoint",
];

async fn metadata(server: &TestServer, path: &str) -> Value {
    let response = server.get(path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    body_json(response).await
}

#[tokio::test]
async fn metadata_is_served_without_auth_ssf_meta_03_07_10() {
    let server = TestServer::start().await;
    let doc = metadata(&server, paths::SSF_CONFIGURATION).await;
    assert_eq!(
        doc["issuer"],
        server.issuer(),
        "SSF-META-07: issuer equals the discovery issuer"
    );
    assert_eq!(doc["spec_version"], "1_0");
    assert_eq!(doc["jwks_uri"], server.url(paths::JWKS));
    for name in ENDPOINTS {
        assert!(doc[*name].is_string(), "{name} advertised");
    }
}

#[tokio::test]
async fn every_advertised_endpoint_is_served() {
    let server = TestServer::start().await;
    let doc = metadata(&server, paths::SSF_CONFIGURATION).await;
    for name in ENDPOINTS {
        let url = doc[*name].as_str().unwrap();
        let response = server.http.post(url).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{name} exists and needs a token"
        );
    }
    let jwks = server
        .http
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);
}

#[tokio::test]
async fn metadata_fields_ssf_meta_13_20_21_22() {
    let server = TestServer::start().await;
    let doc = metadata(&server, paths::SSF_CONFIGURATION).await;
    assert_eq!(
        doc["delivery_methods_supported"],
        serde_json::json!(["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"])
    );
    assert_eq!(
        doc["authorization_schemes"],
        serde_json::json!([{"spec_urn": "urn:ietf:rfc:6749"}])
    );
    assert_eq!(doc["default_subjects"], "ALL", "D-15");
    assert!(
        doc.get("critical_subject_members").is_none(),
        "SSF-META-22: empty arrays omitted"
    );
    for (name, value) in doc.as_object().unwrap() {
        if let Some(items) = value.as_array() {
            assert!(!items.is_empty(), "SSF-META-22: {name} is an empty array");
        }
    }
}

#[tokio::test]
async fn critical_subject_members_when_configured_ssf_meta_19() {
    let server = TestServer::builder()
        .configure(|c| c.metadata.critical_subject_members = vec!["tenant".into(), "user".into()])
        .start()
        .await;
    let doc = metadata(&server, paths::SSF_CONFIGURATION).await;
    assert_eq!(
        doc["critical_subject_members"],
        serde_json::json!(["tenant", "user"])
    );
}

#[tokio::test]
async fn path_insertion_ssf_meta_01_02() {
    let server = TestServer::builder().issuer_path("/issuer1").start().await;
    assert_eq!(server.issuer(), format!("{}/issuer1", server.base));
    let doc = metadata(&server, "/.well-known/ssf-configuration/issuer1").await;
    assert_eq!(doc["issuer"], server.issuer());
    let plain = server.get(paths::SSF_CONFIGURATION).send().await.unwrap();
    assert_eq!(
        plain.status(),
        StatusCode::NOT_FOUND,
        "the path is inserted, not appended"
    );
    let appended = server
        .get("/issuer1/.well-known/ssf-configuration")
        .send()
        .await
        .unwrap();
    assert_eq!(appended.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn trailing_slash_of_the_issuer_path_is_stripped_ssf_meta_02() {
    let server = TestServer::builder().issuer_path("/a/b/").start().await;
    let doc = metadata(&server, "/.well-known/ssf-configuration/a/b").await;
    assert_eq!(doc["issuer"], server.issuer());
}

#[tokio::test]
async fn https_issuer_gives_https_urls_ssf_meta_11_24() {
    let server = TestServer::builder()
        .issuer("https://tx.example.com/t1")
        .start()
        .await;
    let doc = metadata(&server, "/.well-known/ssf-configuration/t1").await;
    assert_eq!(doc["issuer"], "https://tx.example.com/t1");
    for name in ENDPOINTS.iter().chain(&["jwks_uri"]) {
        let url = doc[*name].as_str().unwrap();
        assert!(url.starts_with("https://tx.example.com/"), "{name}: {url}");
    }
}

#[tokio::test]
async fn legacy_aliases_only_when_enabled_ssf_meta_05() {
    let server = TestServer::start().await;
    for alias in [paths::SSE_CONFIGURATION, paths::RISC_CONFIGURATION] {
        let response = server.get(alias).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "{alias} off by default"
        );
    }
    let server = TestServer::builder()
        .configure(|c| c.metadata.legacy_discovery = true)
        .start()
        .await;
    let doc = metadata(&server, paths::SSF_CONFIGURATION).await;
    for alias in [paths::SSE_CONFIGURATION, paths::RISC_CONFIGURATION] {
        assert_eq!(metadata(&server, alias).await, doc, "{alias}");
    }
}

#[tokio::test]
async fn jwks_publishes_public_keys_and_rotation_at_once_ssf_sec_13() {
    let server = TestServer::builder().alg(Algorithm::Es256).start().await;
    let jwks = metadata(&server, paths::JWKS).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], "key-1");
    assert!(keys[0].get("d").is_none(), "public members only");

    let staged = server.keys.stage(Algorithm::Es256, None).unwrap();
    let kids = |jwks: &Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let after_stage = metadata(&server, paths::JWKS).await;
    assert!(
        kids(&after_stage).contains(&staged.kid.to_string()),
        "a staged key is published"
    );
    server.keys.promote().unwrap();
    let after_promote = metadata(&server, paths::JWKS).await;
    assert_eq!(
        kids(&after_promote).len(),
        2,
        "the previous key stays published"
    );
}

#[tokio::test]
async fn oauth_authorization_server_metadata_rfc_8414() {
    let server = TestServer::builder().issuer_path("/tenant").start().await;
    let doc = metadata(&server, "/.well-known/oauth-authorization-server/tenant").await;
    assert_eq!(doc["issuer"], server.issuer());
    assert_eq!(doc["token_endpoint"], server.url(paths::TOKEN));
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
    let methods = doc["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&"client_secret_basic".into()));
    assert!(methods.contains(&"client_secret_post".into()));
    let scopes = doc["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&"ssf.read".into()) && scopes.contains(&"ssf.manage".into()));
    // RFC 8414 §3.2: members with zero elements are omitted, never sent as `[]`.
    for (name, value) in doc.as_object().unwrap() {
        assert!(
            !value.as_array().is_some_and(Vec::is_empty),
            "{name} is an empty array"
        );
    }
    assert!(doc.get("response_types_supported").is_none());
    // The advertised token endpoint works.
    let token = server.token(RECEIVER).await;
    assert!(!token.is_empty());
}

#[tokio::test]
async fn openapi_document_and_healthz_are_served() {
    let server = TestServer::start().await;
    let doc = metadata(&server, paths::OPENAPI).await;
    assert!(doc["paths"][paths::STREAMS]["post"].is_object());
    let health = metadata(&server, paths::HEALTHZ).await;
    assert_eq!(health["status"], "ok");
    let missing = server.get("/no/such/thing").send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_json(missing).await["error"], "not_found");
}

/// Every route of `router::ROUTES` (the list the OpenAPI test checks) is really served: none
/// falls through to the 404 fallback or answers 405.
#[tokio::test]
async fn every_listed_route_is_served() {
    let server = TestServer::start().await;
    for (method, path) in ssf_transmitter::router::ROUTES {
        let path = path.replace("{stream_id}", "some-stream");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = server.request(method.clone(), &path).send().await.unwrap();
        let status = response.status();
        let body = body_json(response).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            status != StatusCode::NOT_FOUND
                || body["error"] != "not_found"
                || body["error_description"] != "no such endpoint",
            "{method} {path} is not routed"
        );
    }
}
