//! Delivery semantics on real responses: redirects, timeouts, status classes, `Retry-After`
//! (checklist PUSH-16, PUSH-17, PUSH-18; RFC 8935 §2).

use std::time::Duration;

use ssf_http::{
    HttpError, Outcome, PermanentReason, RetryReason, SuccessPolicy, build_client, classify_error,
    classify_status, parse_retry_after, read_body_limited,
    reqwest::{
        StatusCode,
        header::{CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER},
    },
};
use ssf_types::UnixMillis;

use crate::support::{loopback_config, start};

// PUSH-18: a 3xx is returned as is, never followed, and is a permanent configuration error.
#[tokio::test]
async fn push_18_redirect_not_followed() {
    let server = start().await;
    let client = build_client(&loopback_config()).unwrap();
    let response = client
        .post(server.url("/redirect"))
        .unwrap()
        .body("a.b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()[LOCATION], "/events");
    assert_eq!(server.hits(), 1, "the redirect target was not requested");
    let outcome = classify_status(response.status(), SuccessPolicy::Only202);
    assert_eq!(
        outcome,
        Outcome::Permanent(PermanentReason::Redirect(StatusCode::FOUND))
    );
    assert!(outcome.to_string().contains("never followed"));
}

// PUSH-16: a receiver that never answers costs one timeout, then is retryable.
#[tokio::test]
async fn push_16_hanging_server_times_out() {
    let server = start().await;
    let mut config = loopback_config();
    config.request_timeout = Duration::from_millis(200);
    let client = build_client(&config).unwrap();
    let err = client
        .post(server.url("/hang"))
        .unwrap()
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Timeout { .. }), "{err:?}");
    assert_eq!(
        classify_error(&err),
        Outcome::Retryable(RetryReason::Timeout)
    );
}

#[tokio::test]
async fn per_request_timeout_override() {
    let server = start().await;
    let client = build_client(&loopback_config()).unwrap();
    let err = client
        .get(server.url("/hang"))
        .unwrap()
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Timeout { .. }), "{err:?}");
}

// PUSH-16: nobody listening is a connect error, retryable.
#[tokio::test]
async fn push_16_connection_refused_is_retryable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = build_client(&loopback_config()).unwrap();
    let url = url::Url::parse(&format!("http://{addr}/events")).unwrap();
    let err = client.post(url).unwrap().send().await.unwrap_err();
    assert!(matches!(err, HttpError::Connect { .. }), "{err:?}");
    assert_eq!(
        classify_error(&err),
        Outcome::Retryable(RetryReason::Connect)
    );
}

// PUSH-16, PUSH-17, PUSH-18 against a real receiver, with Retry-After on 429/503.
#[tokio::test]
async fn push_16_17_18_real_status_classes() {
    let server = start().await;
    let client = build_client(&loopback_config()).unwrap();
    let now = UnixMillis::from_secs(1_700_000_000);
    for (code, want_retryable, want_retry_after) in [
        (202, false, None),
        (200, false, None),
        (404, false, None),
        (401, false, None),
        (403, false, None),
        (408, true, None),
        (429, true, Some(Duration::from_secs(120))),
        (500, true, None),
        (503, true, Some(Duration::from_secs(120))),
    ] {
        let response = client
            .post(server.url(&format!("/status/{code}")))
            .unwrap()
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/secevent+jwt"),
            )
            .authorization(HeaderValue::from_static("Bearer t0ken"))
            .body("a.b.c")
            .send()
            .await
            .unwrap();
        let outcome = classify_status(response.status(), SuccessPolicy::Only202);
        assert_eq!(outcome.is_retryable(), want_retryable, "{code}: {outcome}");
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| parse_retry_after(v, now));
        assert_eq!(retry_after, want_retry_after, "{code}");
    }
}

// PUSH-17: a 400 with an RFC 8935 error body is permanent, and the body can be read safely.
#[tokio::test]
async fn push_17_bad_request_body_is_readable_and_permanent() {
    let server = start().await;
    let client = build_client(&loopback_config()).unwrap();
    let response = client
        .post(server.url("/bad-set"))
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(
        classify_status(response.status(), SuccessPolicy::Only202),
        Outcome::Permanent(PermanentReason::BadRequest)
    );
    let body = read_body_limited(response, 4096).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["err"], "invalid_key");
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let server = start().await;
    let client = build_client(&loopback_config()).unwrap();
    let response = client
        .get(server.url("/big"))
        .unwrap()
        .send()
        .await
        .unwrap();
    let err = read_body_limited(response, 1024).await.unwrap_err();
    assert!(
        matches!(err, HttpError::BodyTooLarge { limit: 1024, .. }),
        "{err:?}"
    );
}
