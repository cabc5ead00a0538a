//! OAuth 2.0 Authorization Server Metadata ([RFC 8414](https://www.rfc-editor.org/rfc/rfc8414))
//! for the built-in token endpoint, so receivers can discover where to get tokens.

use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::Scope;
use crate::{
    config::TransmitterConfig,
    metadata::{Endpoints, paths, well_known_path},
    state::AppState,
};

/// The path of the metadata for this issuer, with path insertion (RFC 8414 §3.1).
pub(crate) fn oauth_metadata_path(issuer: &str) -> String {
    well_known_path(paths::OAUTH_AUTHORIZATION_SERVER, issuer)
}

/// `GET /.well-known/oauth-authorization-server[/<issuer path>]` (RFC 8414 §3.2).
pub(crate) async fn authorization_server_metadata(State(state): State<AppState>) -> Response {
    Json(authorization_server_document(&state.config)).into_response()
}

/// The metadata document. Members with zero elements are omitted
/// ([RFC 8414 §3.2](https://www.rfc-editor.org/rfc/rfc8414#section-3.2): "Claims with zero
/// elements MUST be omitted"), so `response_types_supported` (there is no authorization
/// endpoint, hence no response type) is left out rather than sent as `[]`.
pub(crate) fn authorization_server_document(config: &TransmitterConfig) -> Value {
    let ep = Endpoints::new(config);
    let scopes: Vec<&str> = [Scope::Read, Scope::Manage, Scope::Publish]
        .map(Scope::as_str)
        .to_vec();
    let response_types: [&str; 0] = [];
    let mut doc = json!({
        "issuer": config.issuer,
        "token_endpoint": ep.url(paths::TOKEN),
        "jwks_uri": ep.url(paths::JWKS),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes,
        "response_types_supported": response_types,
    });
    if let Value::Object(members) = &mut doc {
        members.retain(|_, v| !v.as_array().is_some_and(Vec::is_empty));
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_member_is_an_empty_array_rfc8414_3_2() {
        let config = TransmitterConfig {
            issuer: "https://tx.example.com/tenant".to_owned(),
            ..TransmitterConfig::default()
        };
        let doc = authorization_server_document(&config);
        let members = doc.as_object().unwrap();
        for (name, value) in members {
            assert!(
                !value.as_array().is_some_and(Vec::is_empty),
                "{name} is an empty array"
            );
        }
        assert!(!members.contains_key("response_types_supported"));
        assert_eq!(doc["issuer"], "https://tx.example.com/tenant");
        assert_eq!(doc["token_endpoint"], "https://tx.example.com/oauth/token");
        assert_eq!(doc["grant_types_supported"][0], "client_credentials");
    }
}
