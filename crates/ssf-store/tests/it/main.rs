//! Integration tests of `ssf-store`: the conformance suite on SQLite, plus SQLite specifics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod postgres;
mod postgres_config;
mod postgres_receiver;
mod receiver;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use ssf_store::{SqliteStore, TransmitterStore, conformance::Harness};
use ssf_types::ManualClock;

/// Real SQLite files in a fresh tempdir per test.
#[derive(Debug)]
pub struct SqliteHarness;

#[async_trait]
impl Harness for SqliteHarness {
    type Db = tempfile::TempDir;

    async fn create_db(&self) -> Self::Db {
        tempfile::tempdir().unwrap()
    }

    async fn open(&self, db: &Self::Db, clock: ManualClock) -> Arc<dyn TransmitterStore> {
        let path = db.path().join("data").join("ssf.db");
        Arc::new(SqliteStore::open_path(path, Arc::new(clock)).await.unwrap())
    }
}

mod conformance {
    ssf_store::transmitter_conformance_tests!(super::SqliteHarness);
}
