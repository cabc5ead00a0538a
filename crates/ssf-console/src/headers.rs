//! The headers every console answer carries, and the same-origin rule for `POST`s.

use axum::{
    extract::Request,
    http::{HeaderMap, HeaderValue, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// No inline script or style, nothing from elsewhere, no framing, forms only to the console.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// Adds the Content-Security-Policy and the other protective headers; console pages are never
/// cached (they show live state and carry CSRF tokens).
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    // `same-origin`, not `no-referrer`: under `no-referrer` browsers send `Origin: null` on
    // form posts, which the same-origin rule must refuse.
    set(headers, header::REFERRER_POLICY, "same-origin");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// Refuses a `POST` that a browser says came from another site (`Sec-Fetch-Site`), or whose
/// `Origin` is not the host it was sent to: a second wall behind the CSRF token and the
/// `SameSite=Strict` cookie, which also covers the sign-in form (login CSRF).
pub(crate) async fn same_origin_posts(request: Request, next: Next) -> Response {
    // HTTP/2 carries the host in the URI's authority, not in a Host header.
    let authority = request.uri().authority().map(|a| a.as_str().to_owned());
    if request.method() == Method::POST && !same_origin(request.headers(), authority.as_deref()) {
        tracing::warn!(path = %request.uri().path(), "console POST from another origin refused");
        return crate::ConsoleError::Forbidden.into_response();
    }
    next.run(request).await
}

fn same_origin(headers: &HeaderMap, authority: Option<&str>) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site"))
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    match (text(header::ORIGIN), text(header::HOST).or(authority)) {
        // Browsers send Origin on POST; tools (curl) may not, and carry no ambient cookie.
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_post_from_another_site_is_not_same_origin() {
        assert!(same_origin(
            &headers(&[
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin")
            ]),
            None
        ));
        assert!(
            same_origin(
                &headers(&[("origin", "https://console.example")]),
                Some("console.example")
            ),
            "HTTP/2: the authority stands for Host"
        );
        assert!(!same_origin(
            &headers(&[
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:8080")
            ]),
            None
        ));
        assert!(!same_origin(
            &headers(&[
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080"),
                ("sec-fetch-site", "cross-site")
            ]),
            None
        ));
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")]), None));
    }
}
