//! Integration tests of the ticket bridge: real HTTP on 127.0.0.1:0, an SQLite file in a temp
//! dir or a schema on a real PostgreSQL server, a manual clock, and a fake or real transmitter.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod backends;
mod adapters;
mod by_hand;
mod emitter;
mod hardening;
mod identities;
mod lifecycle;
mod nodes;
mod realistic;
mod reconcile;
mod shapes;
mod storage;
mod support;
mod transmitter;
mod webhooks;
