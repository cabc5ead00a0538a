//! Signing in, sessions, CSRF, same-origin POSTs and the protective headers.

use reqwest::{StatusCode, header};

use crate::{ADMIN_TOKEN, Harness, csrf_of, parked};

#[tokio::test]
async fn every_page_needs_a_session() {
    let h = Harness::start().await;
    let response = h.http.get(h.url("/console/streams")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/console/sign-in?next=/console/streams"
    );
    let (status, _) = h
        .post("", "/console/streams/x/replay", &[("csrf", "x")])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a POST without a session");
    let forged = "ssf_console=0000000000000000000000000000000000000000000000000000000000000000";
    let (status, _) = h.get(forged, "/console/streams").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "an unknown cookie is no session"
    );
}

#[tokio::test]
async fn a_wrong_admin_token_is_refused_with_401_and_no_session() {
    let h = Harness::start().await;
    for token in ["", "wrong", &ADMIN_TOKEN[1..], &format!("{ADMIN_TOKEN}x")] {
        let response = h
            .http
            .post(h.url("/console/sign-in"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        assert!(response.headers().get(header::SET_COOKIE).is_none());
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("That is not the console")
        );
    }
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_strict_and_pages_carry_a_strict_csp() {
    let h = Harness::start().await;
    let response = h
        .http
        .post(h.url("/console/sign-in"))
        .form(&[("token", ADMIN_TOKEN), ("next", "https://evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::LOCATION],
        "/console/",
        "no open redirect after sign-in"
    );
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = h
        .http
        .get(h.url("/console/"))
        .header(header::COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
    let body = page.text().await.unwrap();
    assert!(
        !body.contains("<script>") && !body.contains("style=\""),
        "no inline script or style"
    );
}

#[tokio::test]
async fn a_post_without_the_sessions_csrf_token_or_from_another_origin_changes_nothing() {
    let h = Harness::start().await;
    let cookie = h.sign_in().await;
    let (stream, jti) = h.stream_with_dead_letter("rp").await;
    let path = format!("/console/streams/{}/replay", stream.as_str());
    let (status, _) = h.post(&cookie, &path, &[("csrf", "forged")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h.post(&cookie, &path, &[]).await;
    assert!(status.is_client_error(), "no token at all: {status}");
    let page = h
        .get(&cookie, &format!("/console/streams/{}", stream.as_str()))
        .await
        .1;
    let csrf = csrf_of(&page);
    let response = h
        .http
        .post(h.url(&path))
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, "https://evil.example")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "another origin");
    let response = h
        .http
        .post(h.url(&path))
        .header(header::COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "a cross-site fetch"
    );
    assert!(parked(&h.state.store, &jti).await, "nothing was replayed");
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let h = Harness::start().await;
    let cookie = h.sign_in().await;
    let page = h.get(&cookie, "/console/").await.1;
    let (status, location) = h
        .post(&cookie, "/console/sign-out", &[("csrf", &csrf_of(&page))])
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console/sign-in")
    );
    assert_eq!(h.get(&cookie, "/console/").await.0, StatusCode::SEE_OTHER);
}
