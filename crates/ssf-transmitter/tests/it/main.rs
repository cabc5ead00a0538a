//! Integration tests of the transmitter: real HTTP on loopback, a real SQLite store in a temp
//! dir, real keys. One module per area; checklist ids in test names.

mod auth;
mod management;
mod metadata;
mod support;
