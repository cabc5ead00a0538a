//! Create, read, update, replace, delete (SSF 1.0 §8.1.1; CONF stream-control happy path and
//! negative create/update/replace tests).

use reqwest::{Method, StatusCode};
use serde_json::json;
use ssf_transmitter::metadata::paths;

use super::{call, expect, get, push_delivery, read_stream, with_id};
use crate::support::{CREDENTIAL_CHANGE, RECEIVER, SESSION_REVOKED, TestServer, audience_of};

const UNKNOWN: &str = "urn:example:secevent:events:type_4";

#[tokio::test]
async fn happy_path_create_read_update_replace_status_delete() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    // Create (SSF-STREAM-24, TV-STREAM-01/02).
    let body = json!({"delivery": push_delivery(), "events_requested": [SESSION_REVOKED, CREDENTIAL_CHANGE, UNKNOWN],
                      "description": "Stream for Receiver A"});
    let created = expect(
        call(&server, Method::POST, paths::STREAMS, &token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    let id = created["stream_id"].as_str().unwrap().to_owned();
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)),
        "SSF-STREAM-01"
    );
    assert_eq!(created["iss"], server.issuer(), "SSF-STREAM-02");
    assert_eq!(created["aud"], audience_of(RECEIVER), "SSF-STREAM-03, D-12");
    assert_eq!(created["delivery"], push_delivery());
    assert_eq!(
        created["events_requested"],
        json!([SESSION_REVOKED, CREDENTIAL_CHANGE, UNKNOWN])
    );
    assert_eq!(
        created["events_delivered"],
        json!([SESSION_REVOKED, CREDENTIAL_CHANGE]),
        "SSF-STREAM-06"
    );
    assert_eq!(created["description"], "Stream for Receiver A");
    assert_eq!(created["min_verification_interval"], 10);
    let supported = created["events_supported"].as_array().unwrap();
    assert!(supported.iter().all(|e| {
        e.as_str()
            .unwrap()
            .starts_with("https://schemas.openid.net/secevent/")
    }));

    // Read one and all (SSF-STREAM-31).
    assert_eq!(read_stream(&server, &token, &id).await, created);
    let all = expect(get(&server, paths::STREAMS, &token).await, StatusCode::OK).await;
    assert_eq!(all, json!([created]));

    // Update (SSF-STREAM-34, 37; TV-STREAM-07).
    let patch = json!({"stream_id": id, "events_requested": [SESSION_REVOKED], "description": "B"});
    let updated = expect(
        call(&server, Method::PATCH, paths::STREAMS, &token, &patch).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["events_delivered"], json!([SESSION_REVOKED]));
    assert_eq!(updated["description"], "B");
    assert_eq!(updated["delivery"], push_delivery(), "absent members stay");
    assert_eq!(read_stream(&server, &token, &id).await, updated);

    // Replace (SSF-STREAM-41; TV-STREAM-08).
    let put = json!({"stream_id": id, "delivery": push_delivery(), "events_requested": [CREDENTIAL_CHANGE]});
    let replaced = expect(
        call(&server, Method::PUT, paths::STREAMS, &token, &put).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(replaced["events_delivered"], json!([CREDENTIAL_CHANGE]));
    assert!(
        replaced.get("description").is_none(),
        "an absent receiver-supplied member is deleted"
    );

    // Status (SSF-STREAM-48, SSF-STATUS-01/07).
    let status = expect(
        get(&server, &with_id(paths::STATUS, &id), &token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status, json!({"stream_id": id, "status": "enabled"}));
    for value in ["paused", "disabled", "enabled"] {
        let body = json!({"stream_id": id, "status": value});
        let answer = expect(
            call(&server, Method::POST, paths::STATUS, &token, &body).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(answer["status"], value);
        let read = expect(
            get(&server, &with_id(paths::STATUS, &id), &token).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(read["status"], value);
    }

    // Delete (SSF-STREAM-46, 49).
    let response = server
        .request(Method::DELETE, &with_id(paths::STREAMS, &id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());
    expect(
        get(&server, &with_id(paths::STREAMS, &id), &token).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        expect(get(&server, paths::STREAMS, &token).await, StatusCode::OK).await,
        json!([])
    );
}

#[tokio::test]
async fn read_all_is_an_empty_array_tv_stream_06() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    assert_eq!(
        expect(get(&server, paths::STREAMS, &token).await, StatusCode::OK).await,
        json!([])
    );
}

#[tokio::test]
async fn create_without_delivery_polls_at_a_unique_url_ssf_stream_19_25() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let a = server
        .create_stream(&token, json!({"events_requested": [SESSION_REVOKED]}))
        .await;
    let b = server
        .create_stream(&token, json!({"events_requested": [SESSION_REVOKED]}))
        .await;
    for config in [&a, &b] {
        let id = config["stream_id"].as_str().unwrap();
        assert_eq!(config["delivery"]["method"], "urn:ietf:rfc:8936");
        assert_eq!(
            config["delivery"]["endpoint_url"],
            format!("{}/ssf/poll/{id}", server.base)
        );
    }
    assert_ne!(
        a["delivery"]["endpoint_url"], b["delivery"]["endpoint_url"],
        "unique per stream"
    );
    // A receiver's own poll endpoint_url is ignored on create (D-02).
    let c = server
        .create_stream(&token, json!({"delivery": {"method": "urn:ietf:rfc:8936", "endpoint_url": "https://evil.example/p"}}))
        .await;
    assert!(
        c["delivery"]["endpoint_url"]
            .as_str()
            .unwrap()
            .starts_with(&server.base)
    );
}

#[tokio::test]
async fn duplicate_create_gives_a_new_stream_d_13_ssf_stream_27() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let a = server.create_stream(&token, json!({})).await;
    let b = server.create_stream(&token, json!({})).await;
    assert_ne!(a["stream_id"], b["stream_id"]);
}

#[tokio::test]
async fn duplicate_create_is_409_when_configured_ssf_stream_27() {
    let server = TestServer::builder()
        .configure(|c| c.streams.allow_multiple_streams = false)
        .start()
        .await;
    let token = server.token(RECEIVER).await;
    server.create_stream(&token, json!({})).await;
    let response = call(&server, Method::POST, paths::STREAMS, &token, &json!({})).await;
    assert_eq!(
        expect(response, StatusCode::CONFLICT).await["error"],
        "conflict"
    );
    let other = server.token(crate::support::RECEIVER_2).await;
    server.create_stream(&other, json!({})).await;
}

#[tokio::test]
async fn events_requested_absent_delivers_nothing_d_01() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let config = server.create_stream(&token, json!({})).await;
    assert_eq!(
        config["events_delivered"],
        json!([]),
        "SSF-STREAM-14: present even when empty"
    );
    assert!(config.get("events_requested").is_none());
}

#[tokio::test]
async fn transmitter_supplied_members_on_create_are_ignored_d_02() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let body = json!({"stream_id": "mine", "iss": "https://evil.example", "aud": "someone",
                      "events_delivered": [UNKNOWN], "min_verification_interval": 0, "x-unknown": 1});
    let config = server.create_stream(&token, body).await;
    assert_ne!(config["stream_id"], "mine");
    assert_eq!(config["iss"], server.issuer());
    assert_eq!(config["aud"], audience_of(RECEIVER));
    assert_eq!(config["events_delivered"], json!([]));
    assert_eq!(config["min_verification_interval"], 10);
    assert!(config.get("x-unknown").is_none());
}

/// SSF-SEC-14, D-TX-18 (replacing D-09): `authorization_header` is stored encrypted and never
/// returned (create, read, list, update); a delivery sent back without it for the same
/// endpoint keeps the stored one; it never reaches the audit log.
#[tokio::test]
async fn authorization_header_is_never_returned_and_kept_on_round_trips_d_tx_18() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let mut delivery = push_delivery();
    delivery["authorization_header"] = json!("Bearer push-secret");
    let config = server
        .create_stream(&token, json!({"delivery": delivery}))
        .await;
    assert!(
        config["delivery"].get("authorization_header").is_none(),
        "{config}"
    );
    let id = config["stream_id"].as_str().unwrap();
    let stored = || async {
        let record = server
            .state
            .store
            .find_stream(&ssf_types::StreamId::new(id))
            .await
            .unwrap()
            .unwrap();
        record.config["delivery"]["authorization_header"].clone()
    };
    let sealed = stored().await;
    let sealed_text = sealed.as_str().unwrap();
    assert!(sealed_text.starts_with("enc:v1:") && !sealed_text.contains("push-secret"));
    let read = read_stream(&server, &token, id).await;
    assert!(
        read["delivery"].get("authorization_header").is_none(),
        "{read}"
    );
    assert_eq!(
        read["delivery"]["endpoint_url"],
        push_delivery()["endpoint_url"]
    );
    let list = expect(get(&server, paths::STREAMS, &token).await, StatusCode::OK).await;
    assert!(!list.to_string().contains("authorization_header"), "{list}");

    // What a GET showed, sent back: the stored header stays.
    let patched = expect(
        call(
            &server,
            Method::PATCH,
            paths::STREAMS,
            &token,
            &json!({"stream_id": id, "delivery": read["delivery"].clone()}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(patched["delivery"].get("authorization_header").is_none());
    assert_eq!(stored().await, sealed, "kept as stored");
    // A new value replaces it (encrypted again); another endpoint without one drops it.
    let mut renewed = push_delivery();
    renewed["authorization_header"] = json!("Bearer renewed");
    expect(
        call(
            &server,
            Method::PUT,
            paths::STREAMS,
            &token,
            &json!({"stream_id": id, "delivery": renewed}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let again = stored().await;
    assert!(again.as_str().unwrap().starts_with("enc:v1:") && again != sealed);
    let elsewhere =
        json!({"method": "urn:ietf:rfc:8935", "endpoint_url": "https://other.example.com/events"});
    expect(
        call(
            &server,
            Method::PATCH,
            paths::STREAMS,
            &token,
            &json!({"stream_id": id, "delivery": elsewhere}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(stored().await.is_null());

    let audit = server
        .state
        .store
        .list_audit(ssf_store::AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.action == "stream.create"));
    let audit = format!("{audit:?}");
    assert!(
        !audit.contains("push-secret") && !audit.contains("renewed") && !audit.contains("enc:v1:"),
        "secrets never reach the audit log"
    );
}

#[tokio::test]
async fn patch_rules_ssf_stream_33_36_tv_stream_09() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let config = server
        .create_stream(
            &token,
            json!({"events_requested": [SESSION_REVOKED], "description": "d"}),
        )
        .await;
    let id = config["stream_id"].as_str().unwrap();
    let bad = [
        json!({"description": "no id"}),
        json!({"stream_id": id, "aud": "https://someone-else.example.com", "description": "x"}),
        json!({"stream_id": id, "iss": "https://evil.example"}),
        json!({"stream_id": id, "events_delivered": [CREDENTIAL_CHANGE]}),
        json!({"stream_id": id, "delivery": {"method": "urn:ietf:rfc:8936", "endpoint_url": "https://evil.example/p"}}),
        json!({"stream_id": id, "events_requested": "not-an-array"}),
    ];
    for body in bad {
        let response = call(&server, Method::PATCH, paths::STREAMS, &token, &body).await;
        expect(response, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(
        read_stream(&server, &token, id).await,
        config,
        "nothing changed"
    );
    // Echoing transmitter-supplied members unchanged is fine.
    let echo = json!({"stream_id": id, "iss": config["iss"], "aud": config["aud"],
                      "events_delivered": config["events_delivered"], "description": "e"});
    let updated = expect(
        call(&server, Method::PATCH, paths::STREAMS, &token, &echo).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["description"], "e");
    assert_eq!(updated["events_requested"], json!([SESSION_REVOKED]));
}

#[tokio::test]
async fn patch_can_switch_to_push_and_back() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let config = server.create_stream(&token, json!({})).await;
    let id = config["stream_id"].as_str().unwrap();
    let push = json!({"stream_id": id, "delivery": push_delivery()});
    let updated = expect(
        call(&server, Method::PATCH, paths::STREAMS, &token, &push).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["delivery"], push_delivery());
    let poll = json!({"stream_id": id, "delivery": {"method": "urn:ietf:rfc:8936"}});
    let back = expect(
        call(&server, Method::PATCH, paths::STREAMS, &token, &poll).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        back["delivery"], config["delivery"],
        "the stream's own poll URL again"
    );
}

#[tokio::test]
async fn put_without_delivery_polls_d_03() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let config = server
        .create_stream(
            &token,
            json!({"delivery": push_delivery(), "description": "d"}),
        )
        .await;
    let id = config["stream_id"].as_str().unwrap();
    let put = json!({"stream_id": id, "events_requested": [SESSION_REVOKED]});
    let replaced = expect(
        call(&server, Method::PUT, paths::STREAMS, &token, &put).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(replaced["delivery"]["method"], "urn:ietf:rfc:8936");
    assert_eq!(
        replaced["delivery"]["endpoint_url"],
        format!("{}/ssf/poll/{id}", server.base)
    );
    assert!(replaced.get("description").is_none());
    assert_eq!(replaced["events_delivered"], json!([SESSION_REVOKED]));
}

#[tokio::test]
async fn put_invalid_bodies_are_400_ssf_stream_44() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let config = server.create_stream(&token, json!({})).await;
    let id = config["stream_id"].as_str().unwrap();
    for body in [
        json!({"events_requested": [SESSION_REVOKED]}),
        json!({"stream_id": id, "aud": "x"}),
        json!({"stream_id": id, "delivery": {"method": "urn:example:carrier-pigeon"}}),
        json!(["not", "an", "object"]),
    ] {
        expect(
            call(&server, Method::PUT, paths::STREAMS, &token, &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    assert_eq!(read_stream(&server, &token, id).await, config);
}

#[tokio::test]
async fn delete_needs_a_stream_id_ssf_stream_45() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let response = server
        .request(Method::DELETE, paths::STREAMS)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn descriptions_are_truncated_ssf_stream_09() {
    let server = TestServer::builder()
        .configure(|c| c.streams.max_description_len = 8)
        .start()
        .await;
    let token = server.token(RECEIVER).await;
    let config = server
        .create_stream(&token, json!({"description": "0123456789"}))
        .await;
    assert_eq!(config["description"], "01234567");
}

#[tokio::test]
async fn management_calls_count_as_activity_ssf_stream_11() {
    let server = TestServer::builder().manual_clock().start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    let sid = ssf_types::StreamId::new(id.as_str());
    let before = server
        .state
        .store
        .find_stream(&sid)
        .await
        .unwrap()
        .unwrap()
        .last_activity_at;
    server.advance(30);
    read_stream(&server, &token, &id).await;
    let after = server
        .state
        .store
        .find_stream(&sid)
        .await
        .unwrap()
        .unwrap()
        .last_activity_at;
    assert_eq!(after.0 - before.0, 30_000);
}
