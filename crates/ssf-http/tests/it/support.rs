//! A small axum receiver on an ephemeral loopback port.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    Router,
    extract::{Path, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use ssf_http::ClientConfig;
use url::Url;

/// A running test server; dropped with the test's runtime.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl TestServer {
    /// How many requests reached the server.
    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// `http://127.0.0.1:<port><path>`.
    pub(crate) fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }

    /// `http://<host>:<port><path>` for a host name.
    pub(crate) fn url_with_host(&self, host: &str, path: &str) -> Url {
        Url::parse(&format!("http://{host}:{}{path}", self.addr.port())).unwrap()
    }
}

async fn count(State(hits): State<Arc<AtomicUsize>>, request: Request, next: Next) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    next.run(request).await
}

async fn status(Path(code): Path<u16>) -> impl IntoResponse {
    let status = StatusCode::from_u16(code).unwrap();
    let mut headers = HeaderMap::new();
    if code == 429 || code == 503 {
        headers.insert(header::RETRY_AFTER, "120".parse().unwrap());
    }
    (status, headers)
}

async fn bad_set() -> impl IntoResponse {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"err":"invalid_key","description":"key not found"}"#,
    )
}

async fn echo_headers(headers: HeaderMap) -> impl IntoResponse {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (StatusCode::ACCEPTED, ua)
}

/// Starts the server: `/events` answers 202, `/status/{code}` that status, `/redirect` a 302 to
/// `/events`, `/hang` never answers, `/bad-set` an RFC 8935 400, `/big` a 64 KiB body.
pub(crate) async fn start() -> TestServer {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/events", any(|| async { StatusCode::ACCEPTED }))
        .route("/ua", any(echo_headers))
        .route("/status/{code}", any(status))
        .route(
            "/redirect",
            any(|| async { (StatusCode::FOUND, [(header::LOCATION, "/events")]) }),
        )
        .route("/hang", any(std::future::pending::<StatusCode>))
        .route("/bad-set", any(bad_set))
        .route("/big", get(|| async { vec![b'x'; 64 * 1024] }))
        .layer(middleware::from_fn_with_state(Arc::clone(&hits), count));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    TestServer { addr, hits }
}

/// Plain http allowed (the servers have no TLS) and nothing else changed: loopback refused.
pub(crate) fn http_only_config() -> ClientConfig {
    let mut config = ClientConfig::default();
    config.allow_http = true;
    config
}

/// Plain http and 127.0.0.0/8 allowed.
pub(crate) fn loopback_config() -> ClientConfig {
    let mut config = http_only_config();
    config.allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
    config
}
