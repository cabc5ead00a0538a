//! Discovery, JWKS and OAuth metadata (checklist section 3; CONF `openid-ssf-transmitter-metadata`).

use reqwest::StatusCode;
use serde_json::Value;
use ssf_transmitter::metadata::paths;

use crate::support::{TestServer, body_json};

#[tokio::test]
async fn metadata_is_served_ssf_meta_01_03() {
    let server = TestServer::start().await;
    let response = server.get(paths::SSF_CONFIGURATION).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = body_json(response).await;
    assert_eq!(doc["issuer"], server.issuer());
    assert_eq!(doc["spec_version"], "1_0");
}
