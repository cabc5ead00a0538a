//! Access tokens of a trusted external authorization server (RFC 9068; DESIGN §5 "acceptance
//! of tokens from an external issuer's JWKS").

use reqwest::StatusCode;
use serde_json::{Value, json};
use ssf_transmitter::metadata::paths;

use super::list_status;
use crate::support::{ExternalIdp, RECEIVER, TestServer, body_json, now_secs};

#[tokio::test]
async fn external_issuer_tokens_are_accepted() {
    let idp = ExternalIdp::start().await;
    let settings = idp.settings("https://tx.example.com/api");
    let server = TestServer::builder()
        .configure(move |c| c.auth.external_issuers = vec![settings])
        .start()
        .await;
    let now = now_secs(&server);
    let token = idp.token(&json!({
        "iss": idp.issuer, "aud": "https://tx.example.com/api", "client_id": "ext-receiver",
        "scope": "ssf.manage", "iat": now, "exp": now + 300,
    }));
    let config = server.create_stream(&token, json!({})).await;
    assert_eq!(
        config["aud"], "ext-receiver",
        "the SET audience defaults to the client id"
    );
    let response = server
        .get(paths::STREAMS)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await.as_array().unwrap().len(), 1);

    // Its streams are not another client's (SSF-AUTH-02).
    let local = server.token(RECEIVER).await;
    let response = server
        .get(paths::STREAMS)
        .bearer_auth(&local)
        .send()
        .await
        .unwrap();
    assert_eq!(body_json(response).await, json!([]));
}

#[tokio::test]
async fn external_issuer_tokens_are_checked() {
    let idp = ExternalIdp::start().await;
    let settings = idp.settings("https://tx.example.com/api");
    let server = TestServer::builder()
        .configure(move |c| c.auth.external_issuers = vec![settings])
        .start()
        .await;
    let now = now_secs(&server);
    let base = json!({"iss": idp.issuer, "aud": "https://tx.example.com/api", "client_id": "ext",
                      "scope": "ssf.read", "iat": now, "exp": now + 300});
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c[k] = v;
        idp.token(&c)
    };
    assert_eq!(
        list_status(&server, &idp.token(&base)).await,
        StatusCode::OK
    );
    let cases = [
        ("expired", with("exp", json!(now - 3600))),
        (
            "wrong audience",
            with("aud", json!("https://other.example")),
        ),
        (
            "unknown issuer",
            with("iss", json!("https://unknown.example")),
        ),
        ("no client", with("client_id", json!(""))),
    ];
    for (why, token) in cases {
        assert_eq!(
            list_status(&server, &token).await,
            StatusCode::UNAUTHORIZED,
            "{why}"
        );
    }
    let mut no_exp = base.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        list_status(&server, &idp.token(&no_exp)).await,
        StatusCode::UNAUTHORIZED,
        "exp required"
    );
    let scoped = with("scope", json!("ssf.read"));
    let response = server
        .post(paths::STREAMS)
        .bearer_auth(&scoped)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "scopes apply to external tokens too"
    );
    assert!(!idp.kid().is_empty());
}
