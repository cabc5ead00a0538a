//! Integration tests of `ssf-receiver`.
