//! Stream management (checklist 4.2-4.11; CONF stream-control modules).

use reqwest::StatusCode;
use serde_json::json;
use ssf_transmitter::metadata::paths;

use crate::support::{RECEIVER, TestServer, body_json};

#[tokio::test]
async fn create_without_delivery_polls_ssf_stream_25() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let config = server.create_stream(&token, json!({})).await;
    let id = config["stream_id"].as_str().unwrap();
    assert_eq!(config["delivery"]["method"], "urn:ietf:rfc:8936");
    assert_eq!(
        config["delivery"]["endpoint_url"],
        format!("{}/ssf/poll/{id}", server.base)
    );
    let response = server
        .get(&format!("{}?stream_id={id}", paths::STREAMS))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await, config);
}
