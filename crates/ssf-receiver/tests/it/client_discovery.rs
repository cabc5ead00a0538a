//! Discovery (SSF 1.0 §7.2) and the `[receiver]` configuration.

use ssf_http::{ClientConfig, build_client};
use ssf_receiver::{
    ReceiverError,
    config::{DeliveryMode, PeerAuth, ReceiverConfig},
    discovery::{discover, discover_token_endpoint},
};
use ssf_types::DiscoveryFlavor;

use crate::{client_support::http, fake_tx::FakeTransmitter};

#[tokio::test]
async fn path_insertion_finds_metadata_ssf_meta_01_02() {
    let tx = FakeTransmitter::start().await;
    // The fake serves only /.well-known/ssf-configuration/tenant1.
    let found = discover(&http(), &tx.issuer(), false).await.unwrap();
    assert_eq!(found.metadata.issuer.as_str(), tx.issuer());
    assert_eq!(found.flavor, DiscoveryFlavor::Ssf);
    assert!(
        found
            .url
            .path()
            .starts_with("/.well-known/ssf-configuration/tenant1")
    );
    // A trailing slash is stripped for the URL, but the issuer must still match byte for byte.
    let err = discover(&http(), &format!("{}/", tx.issuer()), false)
        .await
        .unwrap_err();
    assert!(matches!(err, ReceiverError::IssuerMismatch { .. }), "{err}");
}

#[tokio::test]
async fn metadata_with_another_issuer_is_refused_ssf_meta_07() {
    let tx = FakeTransmitter::start().await;
    tx.shared.knobs().metadata_issuer = Some("https://evil.example/tenant1".into());
    let err = discover(&http(), &tx.issuer(), false).await.unwrap_err();
    match err {
        ReceiverError::IssuerMismatch { found, .. } => {
            assert_eq!(found, "https://evil.example/tenant1");
        }
        other => panic!("expected IssuerMismatch, got {other}"),
    }
    // No fallback on a mismatch, even in legacy mode.
    tx.shared.knobs().serve_sse = true;
    assert!(matches!(
        discover(&http(), &tx.issuer(), true).await,
        Err(ReceiverError::IssuerMismatch { .. })
    ));
}

#[tokio::test]
async fn legacy_fallback_only_in_legacy_mode_ssf_meta_05() {
    let tx = FakeTransmitter::start().await;
    {
        let mut k = tx.shared.knobs();
        k.ssf_metadata_404 = true;
        k.serve_sse = true;
    }
    let err = discover(&http(), &tx.issuer(), false).await.unwrap_err();
    assert_eq!(
        err.status(),
        Some(404),
        "strict peers never fall back: {err}"
    );
    let found = discover(&http(), &tx.issuer(), true).await.unwrap();
    assert_eq!(found.flavor, DiscoveryFlavor::LegacySse);
    {
        let mut k = tx.shared.knobs();
        k.serve_sse = false;
        k.serve_risc = true;
    }
    let found = discover(&http(), &tx.issuer(), true).await.unwrap();
    assert_eq!(found.flavor, DiscoveryFlavor::LegacyRisc);
}

#[tokio::test]
async fn http_issuer_is_refused_without_the_dev_flag_ssf_meta_06() {
    let tx = FakeTransmitter::start().await;
    let mut config = ClientConfig::dev_loopback();
    config.allow_http = false;
    let strict = build_client(&config).unwrap();
    let err = discover(&strict, &tx.issuer(), false).await.unwrap_err();
    assert!(matches!(err, ReceiverError::InvalidUrl { .. }), "{err}");
}

#[tokio::test]
async fn token_endpoint_from_rfc8414_metadata() {
    let tx = FakeTransmitter::start().await;
    let url = discover_token_endpoint(&http(), &tx.issuer())
        .await
        .unwrap();
    assert_eq!(url.as_str(), format!("{}/token", tx.shared.base));
}

const EXAMPLE: &str = r#"
public_base_url = "https://rx.example.com/"
data_file = "ssf-data/rx.sqlite"
dedupe_retention = "7d"

[[transmitters]]
name = "idp"
issuer = "https://idp.example.com/tenant1"
events = ["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]
audience = "https://rx.example.com"
verification_interval = "30m"
push_authorization = "Bearer push-s3cr3t"
auth = { type = "client_credentials", client_id = "rx", client_secret = "cl1ent-s3cr3t" }

[[transmitters]]
name = "risk"
issuer = "https://risk.example.com"
delivery = "poll"
legacy = true
algorithms = ["RS256", "ES256"]
auth = { type = "bearer", token = "t0ken-s3cr3t" }
[transmitters.poll]
max_events = 50
long_poll_timeout = "45s"
"#;

#[test]
fn config_example_parses_and_validates() {
    let c: ReceiverConfig = toml::from_str(EXAMPLE).unwrap();
    c.validate().unwrap();
    assert_eq!(c.dedupe_retention.as_secs(), 7 * 86_400);
    assert_eq!(c.transmitters.len(), 2);
    let idp = c.peer("idp").unwrap();
    assert_eq!(idp.delivery, DeliveryMode::Push);
    assert_eq!(idp.verification_interval.as_secs(), 1800);
    assert!(
        matches!(&idp.auth, PeerAuth::ClientCredentials { scope: Some(s), .. } if s == "ssf.manage ssf.read")
    );
    assert_eq!(
        c.push_url("idp").unwrap(),
        "https://rx.example.com/ssf/push/idp"
    );
    let risk = c.peer("risk").unwrap();
    assert_eq!(risk.delivery, DeliveryMode::Poll);
    assert_eq!(risk.poll.max_events, 50);
    assert!(risk.legacy);
    let debug = format!("{c:?}");
    for secret in ["push-s3cr3t", "cl1ent-s3cr3t", "t0ken-s3cr3t"] {
        assert!(!debug.contains(secret), "Debug shows {secret}");
    }
}

#[test]
fn config_mistakes_are_named() {
    let unknown = toml::from_str::<ReceiverConfig>("public_base_url = \"https://x\"\nbase = 1");
    assert!(unknown.unwrap_err().to_string().contains("base"));
    let bad_auth = EXAMPLE.replace("type = \"bearer\"", "type = \"basic\"");
    assert!(toml::from_str::<ReceiverConfig>(&bad_auth).is_err());
    let extra_auth_key =
        EXAMPLE.replace("token = \"t0ken-s3cr3t\"", "token = \"t\", scope = \"x\"");
    assert!(toml::from_str::<ReceiverConfig>(&extra_auth_key).is_err());

    let twice = EXAMPLE.replace("name = \"risk\"", "name = \"idp\"");
    let err = toml::from_str::<ReceiverConfig>(&twice)
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("transmitters[1].name"), "{err}");

    let no_base = EXAMPLE.replace("public_base_url = \"https://rx.example.com/\"", "");
    let err = toml::from_str::<ReceiverConfig>(&no_base)
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("public_base_url"), "{err}");

    let bad_name = EXAMPLE.replace("name = \"risk\"", "name = \"risk/../x\"");
    assert!(
        toml::from_str::<ReceiverConfig>(&bad_name)
            .unwrap()
            .validate()
            .is_err()
    );

    let bad_issuer = EXAMPLE.replace("https://risk.example.com", "https://risk.example.com/?a=b");
    assert!(
        toml::from_str::<ReceiverConfig>(&bad_issuer)
            .unwrap()
            .validate()
            .is_err()
    );

    let bad_alg = EXAMPLE.replace("\"ES256\"", "\"HS512\"");
    assert!(
        toml::from_str::<ReceiverConfig>(&bad_alg)
            .unwrap()
            .validate()
            .is_err()
    );
}
