//! What the client commands (`ssf emit`, `ssf stream`, `ssf tail`) share: a runtime, the
//! outbound HTTP client, and access tokens.

use std::sync::Arc;

use ssf_http::{ClientConfig, GuardedClient, Url};
use ssf_receiver::{
    discovery::discover_token_endpoint,
    token::{ClientCredentials, TokenSource},
};
use ssf_types::secret::SecretString;
use ssf_types::{Clock, SystemClock};

use crate::{
    cli::AuthArgs,
    input::{Context, Failure, usage},
};

/// A single-threaded runtime for one command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .or_runtime("starting the runtime")
}

/// The clock of the client commands.
pub(crate) fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// The outbound client for a transmitter the operator named: redirects are never followed,
/// and private or loopback addresses are allowed (the operator chose the URL; this is not a
/// server acting on someone else's URL). Plain `http` only when `url` itself is `http`.
pub(crate) fn http_client(url: &str) -> Result<GuardedClient, Failure> {
    let parsed = Url::parse(url).or_usage(format!("{url} is not a URL"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(usage(format!(
            "{url}: use an https (or, for development, http) URL"
        )));
    }
    let mut config = ClientConfig::default();
    config.allow_http = parsed.scheme() == "http";
    config.allow_private_networks = true;
    ssf_http::build_client(&config).or_runtime("building the HTTP client")
}

/// Where access tokens come from: `--token`, or the client credentials grant with
/// `--client-id` and `--client-secret` (token endpoint from `--token-endpoint` or the RFC 8414
/// metadata of `issuer`), asking for `--scope` or `default_scope`.
pub(crate) async fn token_source(
    http: &GuardedClient,
    auth: &AuthArgs,
    issuer: &str,
    default_scope: &str,
) -> Result<TokenSource, Failure> {
    if let Some(token) = &auth.token {
        return Ok(TokenSource::bearer(SecretString::from(
            token.trim().to_owned(),
        )));
    }
    let (Some(client_id), Some(secret)) = (&auth.client_id, &auth.client_secret) else {
        return Err(usage(
            "give --token, or --client-id with --client-secret (or SSF_CLIENT_SECRET)",
        ));
    };
    let endpoint = match &auth.token_endpoint {
        Some(url) => Url::parse(url).or_usage(format!("--token-endpoint {url}"))?,
        None => discover_token_endpoint(http, issuer).await?,
    };
    let scope = auth
        .scope
        .clone()
        .unwrap_or_else(|| default_scope.to_owned());
    let credentials = ClientCredentials::new(
        endpoint,
        client_id.clone(),
        SecretString::from(secret.clone()),
        Some(scope),
    );
    Ok(TokenSource::client_credentials(
        http.clone(),
        credentials,
        clock(),
    ))
}
