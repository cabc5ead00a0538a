//! `ssf set`: sign a CAEP SET, verify it (file and URL JWKS), refuse a wrong audience, decode.

use std::path::Path;

use axum::{Router, routing::get};
use serde_json::{Value, json};

use crate::{AUD, ISS, ok, ssf};

/// A key file, its JWKS file, and a signed CAEP session-revoked SET for an email subject.
fn setup(p: &Path) -> String {
    ok(p, &["keys", "generate", "--alg", "RS256", "--out", "k.pem"]);
    std::fs::write(
        p.join("jwks.json"),
        ok(p, &["keys", "jwks", "--key", "k.pem"]),
    )
    .unwrap();
    let token = ok(
        p,
        &[
            "set",
            "sign",
            "--key",
            "k.pem",
            "--iss",
            ISS,
            "--aud",
            AUD,
            "--event",
            "session-revoked",
            "--subject",
            "email:jane@example.com",
            "--reason-admin",
            "Landspeed policy violation",
            "--initiating-entity",
            "policy",
        ],
    );
    token.trim().to_owned()
}

#[test]
fn sign_then_verify_a_caep_session_revoked_set() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let token = setup(p);
    assert_eq!(token.split('.').count(), 3);

    let run = ssf(
        p,
        &[
            "set",
            "verify",
            &token,
            "--jwks",
            "jwks.json",
            "--iss",
            ISS,
            "--aud",
            AUD,
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let claims: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(claims["iss"], ISS);
    assert_eq!(claims["aud"], AUD);
    assert_eq!(
        claims["sub_id"],
        json!({"format": "email", "email": "jane@example.com"})
    );
    let event =
        &claims["events"]["https://schemas.openid.net/secevent/caep/event-type/session-revoked"];
    assert_eq!(
        event["reason_admin"],
        json!({"en": "Landspeed policy violation"})
    );
    assert_eq!(event["initiating_entity"], "policy");
    assert!(event["event_timestamp"].is_i64());
    assert_eq!(claims["jti"].as_str().unwrap().len(), 32);
    assert!(claims.get("sub").is_none() && claims.get("exp").is_none());

    // From stdin, with the trailing newline a pipe leaves.
    let run = ssf(
        p,
        &[
            "set",
            "verify",
            "-",
            "--jwks",
            "jwks.json",
            "--iss",
            ISS,
            "--aud",
            AUD,
        ],
        Some(&format!("{token}\n")),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn wrong_audience_or_issuer_is_rejected_with_reason_and_err_code() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let token = setup(p);
    let run = ssf(
        p,
        &[
            "set",
            "verify",
            &token,
            "--jwks",
            "jwks.json",
            "--iss",
            ISS,
            "--aud",
            "https://other.example",
        ],
        None,
    );
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("audience"), "{}", run.stderr);
    assert!(
        run.stderr.contains("(err: invalid_audience)"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("other.example"),
        "expected values are not echoed: {}",
        run.stderr
    );

    let run = ssf(
        p,
        &[
            "set",
            "verify",
            &token,
            "--jwks",
            "jwks.json",
            "--iss",
            "https://idp.example.com/",
            "--aud",
            AUD,
        ],
        None,
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("(err: invalid_issuer)"),
        "{}",
        run.stderr
    );

    let run = ssf(
        p,
        &[
            "set",
            "verify",
            &token,
            "--jwks",
            "jwks.json",
            "--iss",
            ISS,
            "--aud",
            AUD,
            "--alg",
            "ES256",
        ],
        None,
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("(err: invalid_key)"), "{}", run.stderr);
}

#[test]
fn decode_says_it_did_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let token = setup(p);
    let run = ssf(p, &["set", "decode", &token], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("WITHOUT verifying"), "{}", run.stderr);
    let out: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(out["header"]["typ"], "secevent+jwt");
    assert_eq!(out["header"]["alg"], "RS256");
    assert_eq!(out["claims"]["iss"], ISS);
}

#[test]
fn claims_file_keeps_jti_and_iat_and_takes_iss_aud_from_flags() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ok(p, &["keys", "generate", "--alg", "EdDSA", "--out", "k.pem"]);
    std::fs::write(
        p.join("jwks.json"),
        ok(p, &["keys", "jwks", "--key", "k.pem"]),
    )
    .unwrap();
    let now = ok(
        p,
        &[
            "set",
            "sign",
            "--key",
            "k.pem",
            "--iss",
            ISS,
            "--aud",
            AUD,
            "--event",
            "session-presented",
            "--subject",
            "opaque:x",
        ],
    );
    let iat = serde_json::from_str::<Value>(&ok(p, &["set", "decode", now.trim()])).unwrap()["claims"]["iat"].clone();
    let claims = json!({
        "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
        "iat": iat,
        "iss": "https://ignored.example",
        "txn": "8675309",
        "sub_id": {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"},
        "events": {"https://schemas.openid.net/secevent/caep/event-type/session-revoked": {"event_timestamp": 1615304991}}
    });
    let token = ssf(
        p,
        &[
            "set",
            "sign",
            "--key",
            "k.pem",
            "--iss",
            ISS,
            "--aud",
            AUD,
            "--aud",
            "https://second.example",
            "--claims",
            "-",
        ],
        Some(&claims.to_string()),
    );
    assert_eq!(token.code, 0, "{}", token.stderr);
    let run = ssf(
        p,
        &[
            "set",
            "verify",
            token.stdout.trim(),
            "--jwks",
            "jwks.json",
            "--iss",
            ISS,
            "--aud",
            AUD,
            "--alg",
            "EdDSA",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let verified: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(verified["jti"], "24c63fb56e5a2d77a6b512616ca9fa24");
    assert_eq!(verified["iss"], ISS);
    assert_eq!(verified["aud"], json!([AUD, "https://second.example"]));
}

/// `--jwks URL`: a real HTTP server on 127.0.0.1:0 serves the JWKS file.
#[test]
fn verify_with_jwks_from_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let token = setup(p);
    let jwks = std::fs::read_to_string(p.join("jwks.json")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = Router::new().route("/jwks", get(move || async move { jwks }));
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    let url = format!("http://{addr}/jwks");
    let run = ssf(
        p,
        &[
            "set", "verify", &token, "--jwks", &url, "--iss", ISS, "--aud", AUD,
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let missing = format!("http://{addr}/missing");
    let run = ssf(
        p,
        &[
            "set", "verify", &token, "--jwks", &missing, "--iss", ISS, "--aud", AUD,
        ],
        None,
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("404"), "{}", run.stderr);
}

/// D-RX-14, SSF-RXV-09: a validly signed SET whose event lacks a required member is refused like a
/// receiver refuses it (`invalid_request`), and the reason names the member (exit 1).
#[test]
fn a_signed_set_of_the_wrong_shape_is_refused_with_the_missing_member() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ok(p, &["keys", "generate", "--alg", "EdDSA", "--out", "k.pem"]);
    std::fs::write(
        p.join("jwks.json"),
        ok(p, &["keys", "jwks", "--key", "k.pem"]),
    )
    .unwrap();
    let claims = json!({
        "jti": "shape-1",
        "iat": 1_796_589_000,
        "sub_id": {"format": "email", "email": "jane@example.com"},
        "events": {"https://schemas.openid.net/secevent/caep/event-type/credential-change": {"event_timestamp": 1}}
    });
    let token = ssf(
        p,
        &[
            "set", "sign", "--key", "k.pem", "--iss", ISS, "--aud", AUD, "--claims", "-",
        ],
        Some(&claims.to_string()),
    );
    assert_eq!(token.code, 0, "{}", token.stderr);
    let run = ssf(
        p,
        &[
            "set",
            "verify",
            token.stdout.trim(),
            "--jwks",
            "jwks.json",
            "--iss",
            ISS,
            "--aud",
            AUD,
            "--alg",
            "EdDSA",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "nothing printed as verified: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains("err: invalid_request"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("credential_type"), "{}", run.stderr);
}
