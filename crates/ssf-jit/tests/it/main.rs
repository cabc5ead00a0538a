//! Integration tests of the ticket bridge: real HTTP on 127.0.0.1:0, a SQLite file in a temp
//! dir, a manual clock, and a fake or real transmitter.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adapters;
mod emitter;
mod lifecycle;
mod reconcile;
mod support;
mod transmitter;
mod webhooks;
