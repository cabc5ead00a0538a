//! The OpenAPI 3.1 description of the transmitter's HTTP API, served at `/openapi.json`.
//!
//! Hand-maintained in `openapi.json` next to `Cargo.toml`; a test checks that every route of
//! [`crate::router::ROUTES`] is described.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

/// The document, as shipped.
pub(crate) const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// `GET /openapi.json`.
pub(crate) async fn document() -> Response {
    let mut response = OPENAPI_JSON.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::router::ROUTES;

    #[test]
    fn every_route_is_described() {
        let doc: Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        for (method, path) in ROUTES {
            let op = &doc["paths"][*path][method.to_ascii_lowercase()];
            assert!(op.is_object(), "{method} {path} is not in openapi.json");
        }
    }
}
