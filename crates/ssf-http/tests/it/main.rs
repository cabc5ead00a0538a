//! Integration tests of `ssf-http` against real HTTP servers on 127.0.0.1:0.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns panic on purpose

mod delivery;
mod guard;
mod support;
