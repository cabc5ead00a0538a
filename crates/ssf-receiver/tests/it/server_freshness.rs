//! Freshness (decision D-RX-08; checklist SSF-RXV-20, SSF-SEC-06, SSF-SET-04): a SET whose `iat`
//! is older than the stream's `max_age` (default 3 days) is refused with `invalid_request` and
//! changes nothing — not recorded for de-duplication, never given to the handler — so its `jti`
//! can still be applied by a fresh SET later. A SET whose `iat` lies beyond the clock skew in the
//! future is refused the same way.

use std::time::Duration;

use serde_json::json;
use ssf_receiver::config::ReceiverConfig;

use crate::server_support::{NOW, Rx, RxOptions, claims, sign};

const DAY: i64 = 86_400;

fn issued_at(jti: &str, iat: i64) -> String {
    let mut c = claims(jti);
    c["iat"] = json!(iat);
    sign(&c)
}

#[tokio::test]
async fn d_rx_08_a_set_older_than_max_age_is_invalid_request_and_changes_nothing() {
    let mut rx = Rx::start().await;
    let stale = issued_at("old-1", NOW - 4 * DAY);
    let resp = rx.push(&stale).await;
    assert_eq!(
        resp.status,
        400,
        "{:?}",
        String::from_utf8_lossy(&resp.body)
    );
    assert_eq!(resp.err(), "invalid_request");
    let description = resp.json()["description"].as_str().unwrap().to_owned();
    assert!(description.contains("too old"), "{description}");
    assert_eq!(rx.recorded().await, 0, "not recorded for de-duplication");
    assert_eq!(rx.recorder.planned_count(), 0);
    assert!(rx.events.try_recv().is_err(), "the handler never saw it");

    // Its jti is not burnt: the same SET issued within max_age applies.
    rx.push_accepted(&issued_at("old-1", NOW - DAY)).await;
    assert_eq!(rx.recorded().await, 1);
    assert_eq!(rx.events.try_recv().unwrap().jti(), "old-1");
    // A fresh SET applies.
    rx.push_accepted(&issued_at("fresh", NOW)).await;
    assert_eq!(rx.recorder.applied_count(), 2);
}

#[tokio::test]
async fn d_rx_08_the_limit_is_max_age_plus_the_clock_skew_on_the_injected_clock() {
    let rx = Rx::start().await;
    rx.push_accepted(&issued_at("edge", NOW - 3 * DAY - 60))
        .await;
    assert_eq!(
        rx.push_rejected(&issued_at("past-edge", NOW - 3 * DAY - 61))
            .await,
        "invalid_request"
    );
    // Time moves on: a SET accepted earlier would now be refused.
    rx.clock.advance(3 * DAY * 1000);
    assert_eq!(
        rx.push_rejected(&issued_at("aged", NOW - 61)).await,
        "invalid_request"
    );
    rx.push_accepted(&issued_at("new", NOW + 3 * DAY)).await;
}

#[tokio::test]
async fn d_rx_08_max_age_is_per_stream() {
    let rx = Rx::start_with(RxOptions {
        edit: Box::new(|c| c.with_max_age(Duration::from_secs(3600))),
        ..RxOptions::default()
    })
    .await;
    rx.push_accepted(&issued_at("recent", NOW - 3000)).await;
    assert_eq!(
        rx.push_rejected(&issued_at("two-hours", NOW - 7200)).await,
        "invalid_request"
    );
    assert_eq!(rx.recorded().await, 1);
}

#[tokio::test]
async fn ssf_set_04_iat_in_the_future_beyond_the_skew_is_refused_alike() {
    let rx = Rx::start().await;
    rx.push_accepted(&issued_at("skewed", NOW + 60)).await;
    assert_eq!(
        rx.push_rejected(&issued_at("future", NOW + 61)).await,
        "invalid_request"
    );
    // A millisecond iat (a draft-era mistake, unlike D-19's event_timestamp) is far in the future.
    assert_eq!(
        rx.push_rejected(&issued_at("millis", NOW * 1000)).await,
        "invalid_request"
    );
    assert_eq!(rx.recorded().await, 1);
}

#[test]
fn d_rx_08_dedupe_retention_must_outlast_max_age() {
    let config = |retention: &str, max_age: &str| {
        let text = format!(
            r#"
            dedupe_retention = "{retention}"
            [[transmitters]]
            name = "idp"
            issuer = "https://idp.example.com"
            delivery = "poll"
            max_age = "{max_age}"
            auth = {{ type = "bearer", token = "t" }}
            "#
        );
        toml::from_str::<ReceiverConfig>(&text).unwrap().validate()
    };
    config("7d", "3d").unwrap();
    config("7d", "6d").unwrap();
    let err = config("7d", "7d").unwrap_err().to_string();
    assert!(
        err.starts_with("invalid receiver setting `receiver.dedupe_retention`: (7d) must be longer than receiver.transmitters[0].max_age (7d)"),
        "{err}"
    );
    assert!(
        err.contains("raise receiver.dedupe_retention above"),
        "{err}"
    );
    assert!(config("2d", "3d").is_err());
    assert!(
        config("7d", "0s")
            .unwrap_err()
            .to_string()
            .contains("max_age")
    );
    // The default max_age is 3 days, within the default 7-day retention.
    let default: ReceiverConfig = toml::from_str(
        "[[transmitters]]\nname = \"idp\"\nissuer = \"https://idp.example.com\"\ndelivery = \"poll\"\nauth = { type = \"bearer\", token = \"t\" }",
    )
    .unwrap();
    default.validate().unwrap();
    assert_eq!(
        default.transmitters[0].max_age,
        Duration::from_secs(3 * 86_400)
    );
    assert!(
        config("3d", "3d").is_err(),
        "a shorter retention than the default max_age"
    );
}
