//! Add and Remove Subject (SSF 1.0 §8.1.3; checklist 4.10; CONF
//! `openid-ssf-stream-subject-control-happy-path`).

use reqwest::{Method, StatusCode};
use serde_json::json;
use ssf_transmitter::{metadata::paths, subject_key};
use ssf_types::{ParseMode, StreamId, SubjectId};

use super::{call, expect};
use crate::support::{RECEIVER, TestServer};

#[tokio::test]
async fn add_200_and_remove_204_tv_subj_01_02() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    let subject = json!({"format": "email", "email": "example.user@example.com"});
    let add = json!({"stream_id": id, "subject": subject, "verified": true});
    let response = call(&server, Method::POST, paths::ADD_SUBJECT, &token, &add).await;
    assert_eq!(response.status(), StatusCode::OK, "SSF-SUBJ-03, B-01");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.bytes().await.unwrap().is_empty(), "empty body");

    let key = subject_key(&SubjectId::from_json(&subject, ParseMode::Strict).unwrap());
    let entry = server
        .state
        .store
        .get_subject(RECEIVER, &StreamId::new(id.as_str()), &key)
        .await
        .unwrap()
        .unwrap();
    assert!(entry.included);

    let remove = json!({"stream_id": id, "subject": {"format": "phone_number", "phone_number": "+12065550123"}});
    let response = call(
        &server,
        Method::POST,
        paths::REMOVE_SUBJECT,
        &token,
        &remove,
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::NO_CONTENT,
        "SSF-SUBJ-07; an unknown subject is removed silently"
    );
    let remove = json!({"stream_id": id, "subject": subject});
    assert_eq!(
        call(
            &server,
            Method::POST,
            paths::REMOVE_SUBJECT,
            &token,
            &remove
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    let entry = server
        .state
        .store
        .get_subject(RECEIVER, &StreamId::new(id.as_str()), &key)
        .await
        .unwrap()
        .unwrap();
    assert!(!entry.included);
}

#[tokio::test]
async fn verified_defaults_to_true_ssf_subj_02() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    let subject = json!({"format": "iss_sub", "iss": "https://idp.example", "sub": "u1"});
    let add = json!({"stream_id": id, "subject": subject});
    expect(
        call(&server, Method::POST, paths::ADD_SUBJECT, &token, &add).await,
        StatusCode::OK,
    )
    .await;
    let key = subject_key(&SubjectId::from_json(&subject, ParseMode::Strict).unwrap());
    let entry = server
        .state
        .store
        .get_subject(RECEIVER, &StreamId::new(id.as_str()), &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.verified, Some(true));
}

#[tokio::test]
async fn complex_subjects_can_be_added() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    let subject = json!({"format": "complex", "user": {"format": "email", "email": "a@example.com"},
                         "tenant": {"format": "opaque", "id": "t1"}});
    let add = json!({"stream_id": id, "subject": subject, "verified": false});
    expect(
        call(&server, Method::POST, paths::ADD_SUBJECT, &token, &add).await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn the_streams_own_subject_cannot_be_removed_ssf_subj_09() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    let remove = json!({"stream_id": id, "subject": {"format": "opaque", "id": id}});
    expect(
        call(
            &server,
            Method::POST,
            paths::REMOVE_SUBJECT,
            &token,
            &remove,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn malformed_subjects_are_400_d_04() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    let subjects = [
        json!({"format": "email", "email": ""}),
        json!({"format": "email"}),
        json!({"email": "a@example.com"}),
        json!({"format": "phone_number", "phone_number": "+1 206 555 0123"}),
        json!({"format": "complex", "user": {"format": "complex", "x": {"format": "opaque", "id": "1"}}}),
        json!({"format": "x-proprietary", "id": "1"}),
        json!("a@example.com"),
    ];
    for subject in subjects {
        for path in [paths::ADD_SUBJECT, paths::REMOVE_SUBJECT] {
            let body = json!({"stream_id": id, "subject": subject});
            expect(
                call(&server, Method::POST, path, &token, &body).await,
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    }
    let no_subject = json!({"stream_id": id});
    expect(
        call(
            &server,
            Method::POST,
            paths::ADD_SUBJECT,
            &token,
            &no_subject,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let bad_verified =
        json!({"stream_id": id, "subject": {"format": "opaque", "id": "u"}, "verified": "yes"});
    expect(
        call(
            &server,
            Method::POST,
            paths::ADD_SUBJECT,
            &token,
            &bad_verified,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn agreed_proprietary_formats_are_accepted_d_04() {
    let server = TestServer::builder()
        .configure(|c| c.streams.proprietary_subject_formats = vec!["x-proprietary".into()])
        .start()
        .await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    let body = json!({"stream_id": id, "subject": {"format": "x-proprietary", "id": "1"}});
    expect(
        call(&server, Method::POST, paths::ADD_SUBJECT, &token, &body).await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn unknown_subjects_get_the_same_answer_ssf_subj_10() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    for email in ["known@example.com", "never-seen-anywhere@example.org"] {
        let body = json!({"stream_id": id, "subject": {"format": "email", "email": email}});
        expect(
            call(&server, Method::POST, paths::ADD_SUBJECT, &token, &body).await,
            StatusCode::OK,
        )
        .await;
    }
}
