//! The transmitter's pages: streams, a stream's outbox, replaying a dead letter, a test event;
//! no secret on any page.

use reqwest::StatusCode;

use crate::{Harness, csrf_of, parked};

#[tokio::test]
async fn a_dead_letter_is_listed_and_replayed_from_its_stream_page() {
    let h = Harness::start().await;
    let cookie = h.sign_in().await;
    let (stream, jti) = h.stream_with_dead_letter("receiver-a").await;
    let (status, list) = h.get(&cookie, "/console/streams").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains(stream.as_str()) && list.contains("receiver-a"));
    assert!(list.contains("k1"), "the signing key is listed");
    let page_path = format!("/console/streams/{}", stream.as_str());
    let page = h.get(&cookie, &page_path).await.1;
    assert!(page.contains(&jti), "the dead letter is listed by jti");
    assert!(
        page.contains("http_503: receiver down"),
        "with its last error"
    );
    let id = {
        let at = page.find("name=\"id\" value=\"").unwrap() + "name=\"id\" value=\"".len();
        page[at..at + page[at..].find('"').unwrap()].to_owned()
    };
    let (status, location) = h
        .post(
            &cookie,
            &format!("{page_path}/replay"),
            &[("csrf", &csrf_of(&page)), ("id", &id)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.starts_with(&page_path) && location.contains("done=1%20SET"),
        "{location}"
    );
    assert!(
        !parked(&h.state.store, &jti).await,
        "replayed: queued again"
    );
    let after = h.get(&cookie, &location).await.1;
    assert!(after.contains("1 SET(s) queued again for delivery."));
    assert!(after.contains("Nothing is parked on this stream."));
    // Replaying it again is a clear error, not a silent success.
    let (status, _) = h
        .post(
            &cookie,
            &format!("{page_path}/replay"),
            &[("csrf", &csrf_of(&after)), ("id", &id)],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn no_page_shows_a_push_authorization_header_or_a_set() {
    let h = Harness::start().await;
    let cookie = h.sign_in().await;
    let (stream, _) = h.stream_with_dead_letter("receiver-a").await;
    for path in [
        "/console/",
        "/console/streams",
        &format!("/console/streams/{}", stream.as_str()),
    ] {
        let (status, page) = h.get(&cookie, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            !page.contains("do-not-show-this-secret"),
            "{path} shows the push secret"
        );
        assert!(!page.contains("eyJ"), "{path} shows a compact JWT");
    }
}

#[tokio::test]
async fn a_verification_event_is_queued_from_the_stream_page() {
    let h = Harness::start().await;
    let cookie = h.sign_in().await;
    let (stream, _) = h.stream_with_dead_letter("receiver-a").await;
    let before = h.state.store.outbox_counts(Some(&stream)).await.unwrap();
    let page_path = format!("/console/streams/{}", stream.as_str());
    let page = h.get(&cookie, &page_path).await.1;
    let (status, location) = h
        .post(
            &cookie,
            &format!("{page_path}/verify"),
            &[("csrf", &csrf_of(&page))],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.contains("Verification%20SET"), "{location}");
    let after = h.state.store.outbox_counts(Some(&stream)).await.unwrap();
    assert_eq!(after.queued(), before.queued() + 1);
}

#[tokio::test]
async fn an_unknown_stream_is_a_clear_404() {
    let h = Harness::start().await;
    let cookie = h.sign_in().await;
    let (status, page) = h.get(&cookie, "/console/streams/no-such-stream").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("no stream no-such-stream"));
    let (status, _) = h.get(&cookie, "/console/receiver").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no receiver role here");
}
