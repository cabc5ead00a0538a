//! Integration tests of `ssf-enforce`: one binary, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns panic on purpose

#[cfg(feature = "receiver")]
mod audit;
mod authority;
mod common;
mod jane;
mod ordering;
mod props;
#[cfg(feature = "receiver")]
mod receiver;
mod rules;
mod vectors;
