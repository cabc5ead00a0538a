//! OAuth 2.0 Authorization Server Metadata ([RFC 8414](https://www.rfc-editor.org/rfc/rfc8414))
//! for the built-in token endpoint, so receivers can discover where to get tokens.

use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::Scope;
use crate::{
    metadata::{Endpoints, paths, well_known_path},
    state::AppState,
};

/// The path of the metadata for this issuer, with path insertion (RFC 8414 §3.1).
pub fn oauth_metadata_path(issuer: &str) -> String {
    well_known_path(paths::OAUTH_AUTHORIZATION_SERVER, issuer)
}

/// `GET /.well-known/oauth-authorization-server[/<issuer path>]` (RFC 8414 §3.2).
pub async fn authorization_server_metadata(State(state): State<AppState>) -> Response {
    let ep = Endpoints::new(&state.config);
    let scopes: Vec<&str> = [Scope::Read, Scope::Manage, Scope::Publish]
        .map(Scope::as_str)
        .to_vec();
    Json(json!({
        "issuer": state.config.issuer,
        "token_endpoint": ep.url(paths::TOKEN),
        "jwks_uri": ep.url(paths::JWKS),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes,
        // RFC 8414 requires the member; there is no authorization endpoint, so no response type.
        "response_types_supported": [],
    }))
    .into_response()
}
