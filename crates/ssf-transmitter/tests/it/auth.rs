//! The token endpoint, bearer verification and scopes (checklist 4.1, SSF-AUTH-*).

use reqwest::StatusCode;
use ssf_transmitter::metadata::paths;

use crate::support::{RECEIVER, TestServer};

#[tokio::test]
async fn token_endpoint_issues_a_usable_token() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let response = server
        .get(paths::STREAMS)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
