//! Integration tests of the transmitter: real HTTP on loopback, a real SQLite store in a temp
//! dir (a real PostgreSQL schema for the multi-node tests), real keys. One module per area;
//! checklist ids in test names.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod control;
mod delivery_stats;
mod fake_receiver;
mod ingest;
mod management;
mod metadata;
mod nodes;
mod outage;
mod poll;
mod postgres;
mod push;
mod secrets;
mod support;
