//! Integration tests of `ssf-receiver`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns panic on purpose

// Client side (discovery, tokens, stream client, JWKS cache, setup, poller).
mod client_discovery;
mod client_e2e;
mod client_jwks;
mod client_legacy;
mod client_poller;
mod client_run;
mod client_setup;
mod client_stream;
mod client_support;
mod draft_tx;
mod fake_tx;

// Server side (pipeline, apply task, push endpoint).
mod server_apply;
mod server_freshness;
mod server_nodes;
mod server_push;
mod server_recent;
mod server_rxv;
mod server_support;
