//! The token endpoint, bearer verification and scopes (checklist 4.1, SSF-AUTH-*; CONF negative
//! token tests).

mod external;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use ssf_jose::{Algorithm, KeyPair, KeyStore};
use ssf_transmitter::{
    auth::{Scope, jwt},
    metadata::paths,
};
use ssf_types::KeyId;

use crate::support::{
    PRODUCER, READER, RECEIVER, TestServer, audience_of, body_json, now_secs, secret_of,
};

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn token_request(
    server: &TestServer,
    basic: Option<(&str, &str)>,
    body: String,
) -> reqwest::Response {
    let mut request = server
        .post(paths::TOKEN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

/// `GET /ssf/streams` with `token`: 200 when the token is good.
async fn list_status(server: &TestServer, token: &str) -> StatusCode {
    server
        .get(paths::STREAMS)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

fn assert_invalid_token(response: &reqwest::Response) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn client_secret_basic_issues_an_rfc_9068_token() {
    let server = TestServer::start().await;
    let secret = secret_of(RECEIVER);
    let response = token_request(
        &server,
        Some((RECEIVER, &secret)),
        form(&[("grant_type", "client_credentials")]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = body_json(response).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "ssf.read ssf.manage");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(header(token)["typ"], "at+jwt");
    assert_eq!(header(token)["kid"], "key-1");
    let claims = payload(token);
    assert_eq!(claims["iss"], server.issuer());
    assert_eq!(
        claims["aud"],
        server.issuer(),
        "the resource defaults to the issuer"
    );
    assert_eq!(claims["sub"], RECEIVER);
    assert_eq!(claims["client_id"], RECEIVER);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert!(claims["jti"].is_string());
    assert_eq!(list_status(&server, token).await, StatusCode::OK);
}

#[tokio::test]
async fn client_secret_post_works_too() {
    let server = TestServer::start().await;
    let secret = secret_of(RECEIVER);
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", RECEIVER),
        ("client_secret", &secret),
    ]);
    let response = token_request(&server, None, body).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_client_credentials_are_invalid_client() {
    let server = TestServer::start().await;
    let grant = || form(&[("grant_type", "client_credentials")]);
    for (id, secret) in [(RECEIVER, "wrong"), ("nobody", "x")] {
        let response = token_request(&server, Some((id, secret)), grant()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{id}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        assert_eq!(body_json(response).await["error"], "invalid_client");
    }
    let response = token_request(&server, None, grant()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn token_request_errors_rfc_6749_5_2() {
    let server = TestServer::start().await;
    let secret = secret_of(RECEIVER);
    let creds = Some((RECEIVER, secret.as_str()));
    let cases = [
        (form(&[]), "invalid_request"),
        (
            form(&[("grant_type", "authorization_code")]),
            "unsupported_grant_type",
        ),
        (
            form(&[
                ("grant_type", "client_credentials"),
                ("scope", "ssf.events.publish"),
            ]),
            "invalid_scope",
        ),
        (
            form(&[("grant_type", "client_credentials"), ("scope", "openid")]),
            "invalid_scope",
        ),
    ];
    for (body, code) in cases {
        let response = token_request(&server, creds, body.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body_json(response).await["error"], code, "{body}");
    }
    let json_body = server
        .post(paths::TOKEN)
        .basic_auth(RECEIVER, Some(&secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body.status(),
        StatusCode::BAD_REQUEST,
        "form encoding is required"
    );
}

#[tokio::test]
async fn scope_can_be_narrowed_and_is_enforced_ssf_auth_12() {
    let server = TestServer::start().await;
    let token = server.token_with_scope(RECEIVER, Some("ssf.read")).await;
    assert_eq!(payload(&token)["scope"], "ssf.read");
    assert_eq!(list_status(&server, &token).await, StatusCode::OK);
    let response = server
        .post(paths::STREAMS)
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn read_only_token_on_create_is_403_ssf_auth_11_12() {
    let server = TestServer::start().await;
    let token = server.token(READER).await;
    let response = server
        .post(paths::STREAMS)
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\", scope=\"ssf.manage\""
    );
    assert_eq!(
        list_status(&server, &token).await,
        StatusCode::OK,
        "reads are allowed"
    );
}

#[tokio::test]
async fn producer_token_cannot_manage_streams() {
    let server = TestServer::start().await;
    let token = server.token(PRODUCER).await;
    assert_eq!(list_status(&server, &token).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn missing_and_malformed_credentials_are_401_ssf_auth_03() {
    let server = TestServer::start().await;
    let none = server.get(paths::STREAMS).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let challenge = none.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"));
    assert!(
        !challenge.contains("error="),
        "RFC 6750 §3.1: no error code when the request carried no credentials"
    );
    for value in [
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Basic cmVjZWl2ZXI6eA==",
        "Bearer ",
    ] {
        let response = server
            .get(paths::STREAMS)
            .header("authorization", value)
            .send()
            .await
            .unwrap();
        assert_invalid_token(&response);
    }
}

#[tokio::test]
async fn token_in_query_string_is_refused_ssf_auth_09() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let path = format!("{}?access_token={token}", paths::STREAMS);
    let response = server.get(&path).send().await.unwrap();
    assert!(matches!(
        response.status(),
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED
    ));
    let with_header = server.get(&path).bearer_auth(&token).send().await.unwrap();
    assert!(
        matches!(
            with_header.status(),
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED
        ),
        "refused even with a good header"
    );
    let status_path = format!("{}?stream_id=x&access_token={token}", paths::STATUS);
    let response = server.get(&status_path).send().await.unwrap();
    assert!(matches!(
        response.status(),
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED
    ));
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive_rfc_6750() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let response = server
        .get(paths::STREAMS)
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn expired_token_is_401_ssf_auth_10() {
    let server = TestServer::builder().manual_clock().start().await;
    let token = server.token(RECEIVER).await;
    assert_eq!(list_status(&server, &token).await, StatusCode::OK);
    server.advance(599);
    assert_eq!(list_status(&server, &token).await, StatusCode::OK);
    server.advance(1);
    let response = server
        .get(paths::STREAMS)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_invalid_token(&response);
}

#[tokio::test]
async fn token_lifetime_is_configurable() {
    let server = TestServer::builder()
        .configure(|c| c.auth.access_token_ttl_secs = 60)
        .start()
        .await;
    let claims = payload(&server.token(RECEIVER).await);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
}

#[tokio::test]
async fn wrong_issuer_audience_typ_or_key_is_401() {
    let server = TestServer::start().await;
    let key = server.keys.current().unwrap();
    let now = now_secs(&server);
    let claims = |iss: &str, aud: &str| {
        json!({"iss": iss, "aud": aud, "sub": RECEIVER, "client_id": RECEIVER,
               "scope": "ssf.read ssf.manage", "iat": now, "exp": now + 300, "jti": "j"})
    };
    let good = jwt::encode_jwt(
        key.as_ref(),
        "at+jwt",
        &claims(server.issuer(), server.issuer()),
    )
    .unwrap();
    assert_eq!(
        list_status(&server, &good).await,
        StatusCode::OK,
        "the forged-by-us baseline works"
    );

    let other_key = KeyPair::generate(Algorithm::Rs256, Some(KeyId::new("key-1"))).unwrap();
    let cases = [
        (
            "wrong issuer",
            jwt::encode_jwt(
                key.as_ref(),
                "at+jwt",
                &claims("https://evil.example", server.issuer()),
            )
            .unwrap(),
        ),
        (
            "wrong audience",
            jwt::encode_jwt(
                key.as_ref(),
                "at+jwt",
                &claims(server.issuer(), "https://other.example"),
            )
            .unwrap(),
        ),
        (
            "a SET, not an access token",
            jwt::encode_jwt(
                key.as_ref(),
                "secevent+jwt",
                &claims(server.issuer(), server.issuer()),
            )
            .unwrap(),
        ),
        (
            "another key with our kid",
            jwt::encode_jwt(
                &other_key,
                "at+jwt",
                &claims(server.issuer(), server.issuer()),
            )
            .unwrap(),
        ),
    ];
    for (why, token) in cases {
        let response = server
            .get(paths::STREAMS)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
    }
    let mut tampered = good.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    assert_eq!(
        list_status(&server, &tampered).await,
        StatusCode::UNAUTHORIZED,
        "bad signature"
    );
}

#[tokio::test]
async fn tokens_of_unknown_clients_are_401() {
    let server = TestServer::start().await;
    let token = server.mint_token("ghost", &[Scope::Read]);
    assert_eq!(list_status(&server, &token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn scopes_are_capped_by_the_client_configuration() {
    let server = TestServer::start().await;
    let token = server.mint_token(READER, &[Scope::Read, Scope::Manage]);
    let response = server
        .post(paths::STREAMS)
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "reader never gets ssf.manage"
    );
}

#[tokio::test]
async fn tokens_survive_key_rotation_ssf_sec_13() {
    let server = TestServer::start().await;
    let old = server.token(RECEIVER).await;
    server
        .keys
        .stage(Algorithm::Rs256, Some(KeyId::new("key-2")))
        .unwrap();
    server.keys.promote().unwrap();
    let new = server.token(RECEIVER).await;
    assert_eq!(header(&new)["kid"], "key-2");
    assert_eq!(
        list_status(&server, &old).await,
        StatusCode::OK,
        "previous key still published"
    );
    assert_eq!(list_status(&server, &new).await, StatusCode::OK);
    server.keys.retire(&KeyId::new("key-1")).unwrap();
    assert_eq!(
        list_status(&server, &old).await,
        StatusCode::UNAUTHORIZED,
        "retired key"
    );
}

#[tokio::test]
async fn every_management_endpoint_requires_a_token_ssf_auth_01() {
    let server = TestServer::start().await;
    let routes = [
        (Method::GET, paths::STREAMS),
        (Method::POST, paths::STREAMS),
        (Method::PATCH, paths::STREAMS),
        (Method::PUT, paths::STREAMS),
        (Method::DELETE, paths::STREAMS),
        (Method::GET, paths::STATUS),
        (Method::POST, paths::STATUS),
        (Method::POST, paths::ADD_SUBJECT),
        (Method::POST, paths::REMOVE_SUBJECT),
        (Method::POST, paths::VERIFICATION),
    ];
    for (method, path) in routes {
        let response = server
            .request(method.clone(), path)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_eq!(
            response.headers()["cache-control"],
            "no-store",
            "SSF-AUTH-13 on errors too"
        );
        let response = server
            .request(method.clone(), path)
            .bearer_auth("x.y.z")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_invalid_token(&response);
    }
    assert!(!audience_of(RECEIVER).is_empty());
}
