//! Integration tests of ssf-jose: real keys, real signatures, checklist vectors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns panic on purpose

mod common;
mod interop;
mod keys;
mod negative;
mod props;
mod rotation;
mod sign_verify;
mod vectors;
