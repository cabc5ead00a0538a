//! The SSRF guard on real requests (checklist PUSH-05, PUSH-20, SSF-SEC-16).

use ssf_http::{
    BlockedRange, ClientConfig, HttpError, Outcome, PermanentReason, UrlError, build_client,
    classify_error, reqwest::StatusCode,
};
use url::Url;

use crate::support::{http_only_config, loopback_config, start};

// PUSH-20: an IP-literal loopback URL is refused before anything is sent.
#[tokio::test]
async fn push_20_loopback_literal_refused_by_default() {
    let server = start().await;
    let client = build_client(&http_only_config()).unwrap();
    let err = client.post(server.url("/events")).unwrap_err();
    assert!(
        matches!(
            err,
            UrlError::BlockedAddress {
                range: BlockedRange::Loopback,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("allowed_networks"));
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn loopback_literal_allowed_when_allow_listed() {
    let server = start().await;
    let client = build_client(&loopback_config()).unwrap();
    let response = client
        .post(server.url("/events"))
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn allow_private_networks_lets_loopback_through() {
    let server = start().await;
    let mut config = http_only_config();
    config.allow_private_networks = true;
    let client = build_client(&config).unwrap();
    let response = client
        .get(server.url("/events"))
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

// PUSH-20: a host name is judged on what it resolves to, after resolution (no rebinding window).
#[tokio::test]
async fn push_20_localhost_refused_after_resolution() {
    let server = start().await;
    let client = build_client(&http_only_config()).unwrap();
    let url = server.url_with_host("localhost", "/events");
    assert_eq!(client.validate(&url), Ok(()), "a name passes the URL check");
    let err = client.post(url).unwrap().send().await.unwrap_err();
    let HttpError::Blocked(blocked) = &err else {
        panic!("expected Blocked, got {err:?}");
    };
    assert_eq!(blocked.host, "localhost");
    assert!(!blocked.refused.is_empty());
    assert!(
        blocked
            .refused
            .iter()
            .all(|(ip, range)| ip.is_loopback() && *range == BlockedRange::Loopback),
        "{blocked:?}"
    );
    assert!(err.to_string().contains("allowed_networks"), "{err}");
    assert!(matches!(
        classify_error(&err),
        Outcome::Permanent(PermanentReason::Refused(_))
    ));
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn localhost_allowed_when_loopback_allow_listed() {
    let server = start().await;
    let client = build_client(&ClientConfig::dev_loopback()).unwrap();
    let url = server.url_with_host("localhost", "/events");
    let response = client.post(url).unwrap().send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

// PUSH-05: plain http is refused without the dev flag, even to an allow-listed address.
#[tokio::test]
async fn push_05_http_refused_unless_allow_http() {
    let server = start().await;
    let mut config = loopback_config();
    config.allow_http = false;
    let client = build_client(&config).unwrap();
    let err = client.post(server.url("/events")).unwrap_err();
    assert!(matches!(err, UrlError::PlainHttp { .. }), "{err}");
    assert!(
        err.to_string()
            .ends_with("refused: plain http is only allowed with `allow_http = true` (dev only); use an https URL"),
        "{err}"
    );
    assert_eq!(server.hits(), 0);
}

// PUSH-20: the metadata service and IPv4 hidden in IPv6 are refused as literals.
#[tokio::test]
async fn push_20_metadata_and_mapped_literals_refused() {
    let client = build_client(&http_only_config()).unwrap();
    for (url, want) in [
        (
            "http://169.254.169.254/latest/meta-data/",
            BlockedRange::LinkLocal,
        ),
        ("http://[::ffff:10.0.0.1]/", BlockedRange::Private),
        ("http://[::ffff:127.0.0.1]:1/", BlockedRange::Loopback),
        ("http://100.64.1.1/", BlockedRange::SharedAddressSpace),
        ("http://[fd00::1]/", BlockedRange::UniqueLocal),
        ("http://[::]/", BlockedRange::Unspecified),
        ("http://0.0.0.0/", BlockedRange::Unspecified),
    ] {
        let err = client.post(Url::parse(url).unwrap()).unwrap_err();
        assert!(
            matches!(err, UrlError::BlockedAddress { range, .. } if range == want),
            "{url}: {err}"
        );
    }
}

#[tokio::test]
async fn userinfo_refused_on_the_request_path() {
    let client = build_client(&loopback_config()).unwrap();
    let err = client
        .post(Url::parse("http://u:p@127.0.0.1/").unwrap())
        .unwrap_err();
    assert!(matches!(err, UrlError::UserInfo { .. }));
}

#[tokio::test]
async fn user_agent_is_ssf_with_version() {
    let server = start().await;
    let client = build_client(&loopback_config()).unwrap();
    let response = client.get(server.url("/ua")).unwrap().send().await.unwrap();
    let body = response.text().await.unwrap();
    assert_eq!(body, format!("ssf/{}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn invalid_user_agent_is_a_config_error() {
    let mut config = ClientConfig::default();
    config.user_agent = "bad\nagent".to_owned();
    let err = build_client(&config).unwrap_err();
    assert!(matches!(
        err,
        HttpError::InvalidConfig {
            setting: "user_agent",
            ..
        }
    ));
}
