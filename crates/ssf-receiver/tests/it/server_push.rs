//! The push endpoint over HTTP (RFC 8935; checklist PUSH-07..15, D-08): status codes, bodies,
//! authorization, content type, size, unavailable keys and storage, ordering and concurrency.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_trait::async_trait;
use serde_json::json;
use ssf_receiver::pipeline::UnavailableKeys;
use ssf_store::{
    AuditEntry, AuditQuery, NewAuditEntry, StoreError, StoreResult,
    model::StreamStatus,
    receiver::{
        ApplyItem, ApplyResult, ReceiverAuditQuery, ReceiverStore, ReceiverStream,
        ReceiverStreamRecord, StateRow,
    },
    sqlite::receiver::SqliteReceiverStore,
};
use ssf_types::UnixMillis;

use ssf_jose::{JwksSnapshot, VerifyOptions};
use ssf_receiver::{pipeline::StreamContext, push::authorization_digest};

use crate::server_support::{
    AUD, ISS, NOW, PUSH_AUTH, Rx, RxOptions, STREAM_KEY, StateHandler, claims, clock, jwks, sign,
};

const SECEVENT: (&str, &str) = ("content-type", "application/secevent+jwt");
const AUTH: (&str, &str) = ("authorization", PUSH_AUTH);

#[tokio::test]
async fn push_09_success_is_202_with_an_empty_body_and_push_10_errors_are_json() {
    let rx = Rx::start().await;
    let ok = rx.push(&sign(&claims("p9"))).await;
    assert_eq!(ok.status, 202);
    assert!(ok.body.is_empty());
    let bad = rx.push("not-a-set").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.err(), "invalid_request");
    let body = bad.json();
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
}

#[tokio::test]
async fn d08_missing_or_wrong_authorization_is_401_authentication_failed() {
    let rx = Rx::start().await;
    let token = sign(&claims("auth"));
    let missing = rx.post(STREAM_KEY, &[SECEVENT], token.clone()).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    assert_eq!(missing.err(), "authentication_failed");
    for wrong in [
        "Bearer nope",
        "bearer push-secret-9f2c",
        "Bearer push-secret-9f2",
    ] {
        let resp = rx
            .post(
                STREAM_KEY,
                &[SECEVENT, ("authorization", wrong)],
                token.clone(),
            )
            .await;
        assert_eq!(resp.status, 401, "{wrong}");
        assert!(
            resp.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        assert_eq!(resp.err(), "authentication_failed");
        assert!(!String::from_utf8_lossy(&resp.body).contains("push-secret"));
    }
    assert_eq!(
        rx.recorded().await,
        0,
        "nothing is judged before authentication"
    );
    let ok = rx.post(STREAM_KEY, &[SECEVENT, AUTH], token).await;
    assert_eq!(ok.status, 202);
}

#[tokio::test]
async fn push_11_unknown_stream_is_400_access_denied() {
    let rx = Rx::start().await;
    let resp = rx
        .post("no-such-stream", &[SECEVENT, AUTH], sign(&claims("u")))
        .await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.err(), "access_denied");
    // A stream removed from the registry is refused the same way.
    assert!(rx.streams.remove(STREAM_KEY));
    assert_eq!(
        rx.push_rejected(&sign(&claims("gone"))).await,
        "access_denied"
    );
    assert_eq!(rx.recorded().await, 0);
}

// PUSH-16 / PUSH-17: a configured push peer whose set-up has not finished gets a retry, not a
// final 400; a key nobody configured is still 400 access_denied.
#[tokio::test]
async fn push_before_the_stream_is_registered_is_503_retry_after_for_expected_keys_only() {
    let rx = Rx::start_with(RxOptions {
        expected: vec!["later"],
        ..RxOptions::default()
    })
    .await;
    let token = sign(&claims("early"));
    let early = rx.post("later", &[SECEVENT, AUTH], token.clone()).await;
    assert_eq!(early.status, 503);
    assert_eq!(early.headers["retry-after"], "5");
    let unknown = rx.post("nobody", &[SECEVENT, AUTH], token.clone()).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.err(), "access_denied");
    assert_eq!(rx.recorded().await, 0, "nothing recorded before set-up");

    // Set-up finishes: the retried SET is accepted.
    rx.streams.insert(
        StreamContext::new(
            "later",
            "acme-idp",
            VerifyOptions::new(ISS, AUD),
            Arc::new(JwksSnapshot::new(&jwks())),
        )
        .with_push_auth_sha256(Some(authorization_digest(PUSH_AUTH))),
    );
    let retried = rx.post("later", &[SECEVENT, AUTH], token).await;
    assert_eq!(retried.status, 202);
    assert_eq!(rx.recorded().await, 1);
}

#[tokio::test]
async fn push_13_wrong_content_type_is_415_and_oversized_body_is_413() {
    let rx = Rx::start().await;
    let token = sign(&claims("ct"));
    for headers in [
        vec![AUTH],
        vec![AUTH, ("content-type", "application/json")],
        vec![AUTH, ("content-type", "application/jwt")],
    ] {
        let resp = rx.post(STREAM_KEY, &headers, token.clone()).await;
        assert_eq!(resp.status, 415, "{headers:?}");
        assert_eq!(resp.err(), "invalid_request");
    }
    let with_params = rx
        .post(
            STREAM_KEY,
            &[
                AUTH,
                ("content-type", "Application/SecEvent+JWT; charset=us-ascii"),
            ],
            token,
        )
        .await;
    assert_eq!(with_params.status, 202);

    let huge = "a".repeat(64 * 1024 + 1);
    let resp = rx.post(STREAM_KEY, &[SECEVENT, AUTH], huge).await;
    assert_eq!(resp.status, 413);
    assert_eq!(resp.err(), "invalid_request");
    // Without Content-Length (chunked), the limit holds while reading.
    assert_eq!(chunked_push(&rx.base, 70 * 1024).await, 413);
    assert_eq!(rx.recorded().await, 1);
}

/// A push with `Transfer-Encoding: chunked` and `size` bytes of body; returns the status.
async fn chunked_push(base: &str, size: usize) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /ssf/push/{STREAM_KEY} HTTP/1.1\r\nhost: {addr}\r\n\
         content-type: application/secevent+jwt\r\nauthorization: {PUSH_AUTH}\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("400\r\n{}\r\n", "a".repeat(1024));
    for _ in 0..size / 1024 {
        // The server may answer and close before everything is sent.
        if tcp.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = tcp.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn unavailable_jwks_is_503_and_nothing_is_recorded() {
    let rx = Rx::start_with(RxOptions {
        keys: Arc::new(UnavailableKeys),
        ..RxOptions::default()
    })
    .await;
    let resp = rx.push(&sign(&claims("jwks-down"))).await;
    assert_eq!(resp.status, 503);
    assert!(resp.headers.contains_key("retry-after"));
    assert_eq!(rx.recorded().await, 0);
    assert_eq!(rx.recorder.planned_count(), 0);
    // Tokens that fail before any key is needed still get their 400 (no 503 for garbage).
    assert_eq!(rx.push_rejected("garbage").await, "invalid_request");
    let none = serde_json::json!({"typ": "secevent+jwt", "alg": "none", "kid": "k"});
    let token = format!(
        "{}.{}.",
        crate::server_support::b64(none.to_string()),
        crate::server_support::b64(claims("n").to_string())
    );
    assert_eq!(rx.push_rejected(&token).await, "invalid_key");
}

#[tokio::test]
async fn out_of_order_sets_are_each_applied_once() {
    let rx = Rx::start().await;
    let tokens: Vec<String> =
        (0..5)
            .map(|i| {
                let mut c = claims(&format!("ooo-{i}"));
                c["iat"] = json!(NOW - i);
                c["events"]["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]
                    ["event_timestamp"] = json!(NOW - 100 + i);
                sign(&c)
            })
            .collect();
    for token in tokens.iter().rev().chain(tokens.iter()) {
        rx.push_accepted(token).await;
    }
    assert_eq!(rx.recorder.applied_count(), 5);
    assert_eq!(rx.recorded().await, 5);
}

#[tokio::test]
async fn concurrent_pushes_are_group_committed_and_applied_once_each() {
    let rx = Arc::new(Rx::start().await);
    let tokens: Vec<String> = (0..200).map(|i| sign(&claims(&format!("c-{i}")))).collect();
    let mut tasks = Vec::new();
    // Every SET twice, concurrently.
    for token in tokens.clone().into_iter().chain(tokens.clone()) {
        let rx = Arc::clone(&rx);
        tasks.push(tokio::spawn(async move { rx.push(&token).await.status }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 202);
    }
    assert_eq!(rx.recorder.applied_count(), 200);
    assert_eq!(rx.recorded().await, 200);
}

#[tokio::test]
async fn healthz_answers() {
    let rx = Rx::start().await;
    let resp = rx
        .http
        .get(format!("{}/healthz", rx.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

/// A store whose commits can be made to fail, or to wait at a gate.
#[derive(Debug)]
pub(crate) struct FlakyStore {
    inner: SqliteReceiverStore,
    pub(crate) fail: AtomicBool,
    /// When set, every commit first takes a permit.
    pub(crate) gate: Option<Arc<tokio::sync::Semaphore>>,
    /// Commits waiting at the gate or running.
    pub(crate) commits: std::sync::atomic::AtomicUsize,
    /// Calls of `seen_among` (one per batch prepared).
    pub(crate) prepared: std::sync::atomic::AtomicUsize,
}

impl FlakyStore {
    pub(crate) async fn open(dir: &std::path::Path, gated: bool) -> Self {
        let inner = SqliteReceiverStore::open_path(dir.join("receiver.db"), Arc::new(clock()))
            .await
            .unwrap();
        Self {
            inner,
            fail: AtomicBool::new(false),
            gate: gated.then(|| Arc::new(tokio::sync::Semaphore::new(0))),
            commits: 0.into(),
            prepared: 0.into(),
        }
    }
}

#[async_trait]
impl ReceiverStore for FlakyStore {
    async fn apply_batch(&self, items: Vec<ApplyItem>) -> StoreResult<Vec<ApplyResult>> {
        self.commits.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::CommitFailed {
                reason: "disk full (test)".into(),
                source: None,
            });
        }
        self.inner.apply_batch(items).await
    }
    async fn is_seen(&self, iss: &str, jti: &str) -> StoreResult<bool> {
        self.inner.is_seen(iss, jti).await
    }
    async fn seen_among(&self, keys: &[(String, String)]) -> StoreResult<Vec<bool>> {
        self.prepared.fetch_add(1, Ordering::SeqCst);
        self.inner.seen_among(keys).await
    }
    async fn purge_seen(&self, older_than: UnixMillis) -> StoreResult<u64> {
        self.inner.purge_seen(older_than).await
    }
    async fn seen_count(&self) -> StoreResult<u64> {
        self.inner.seen_count().await
    }
    async fn load_state(&self) -> StoreResult<Vec<StateRow>> {
        self.inner.load_state().await
    }
    async fn state_rows(&self, kind: &str) -> StoreResult<Vec<StateRow>> {
        self.inner.state_rows(kind).await
    }
    async fn append_audit(&self, entry: NewAuditEntry) -> StoreResult<i64> {
        self.inner.append_audit(entry).await
    }
    async fn list_audit(&self, query: AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        self.inner.list_audit(query).await
    }
    async fn query_audit(&self, query: ReceiverAuditQuery) -> StoreResult<Vec<AuditEntry>> {
        self.inner.query_audit(query).await
    }
    async fn purge_audit(&self, older_than: UnixMillis) -> StoreResult<u64> {
        self.inner.purge_audit(older_than).await
    }
    async fn upsert_stream(&self, stream: ReceiverStream) -> StoreResult<ReceiverStreamRecord> {
        self.inner.upsert_stream(stream).await
    }
    async fn get_stream(&self, key: &str) -> StoreResult<Option<ReceiverStreamRecord>> {
        self.inner.get_stream(key).await
    }
    async fn list_streams(&self) -> StoreResult<Vec<ReceiverStreamRecord>> {
        self.inner.list_streams().await
    }
    async fn delete_stream(&self, key: &str) -> StoreResult<bool> {
        self.inner.delete_stream(key).await
    }
    async fn set_stream_status(
        &self,
        key: &str,
        status: StreamStatus,
        reason: Option<String>,
    ) -> StoreResult<bool> {
        self.inner.set_stream_status(key, status, reason).await
    }
    async fn set_expected_verification_state(
        &self,
        key: &str,
        state: Option<String>,
    ) -> StoreResult<bool> {
        self.inner.set_expected_verification_state(key, state).await
    }
    async fn is_expected_verification_state(&self, key: &str, state: &str) -> StoreResult<bool> {
        self.inner.is_expected_verification_state(key, state).await
    }
    async fn close(&self) {
        self.inner.close().await;
    }
}

#[tokio::test]
async fn failed_commit_is_503_nothing_half_applied_memory_reloaded_then_redelivery_applies() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FlakyStore::open(dir.path(), false).await);
    let handler = Arc::new(StateHandler::default());
    let rx = Rx::start_with(RxOptions {
        store: Some(store.clone()),
        handler: Some(handler.clone()),
        dir: Some(dir),
        ..RxOptions::default()
    })
    .await;
    rx.push_accepted(&sign(&claims("before"))).await;
    assert_eq!(handler.rows.lock().unwrap().len(), 1);

    store.fail.store(true, Ordering::SeqCst);
    let mut other = claims("during");
    other["sub_id"] = json!({"format": "email", "email": "bob@example.com"});
    let token = sign(&other);
    let resp = rx.push(&token).await;
    assert_eq!(resp.status, 503, "the transmitter must retry");
    assert!(!store.is_seen(ISS, "during").await.unwrap());
    assert!(
        store.state_rows("revoked").await.unwrap().len() == 1,
        "nothing half-applied"
    );
    // Memory had bob's row planned; it was reloaded from the store.
    assert_eq!(handler.rows.lock().unwrap().len(), 1);
    assert_eq!(*handler.loads.lock().unwrap(), [0, 1]);
    assert!(
        handler
            .applied
            .lock()
            .unwrap()
            .iter()
            .all(|j| j != "during")
    );

    // The audit row rides in the same transaction: none for the failed commit.
    assert!(audit_of(store.as_ref(), "during").await.is_empty());
    assert_eq!(audit_of(store.as_ref(), "before").await.len(), 1);

    store.fail.store(false, Ordering::SeqCst);
    rx.push_accepted(&token).await;
    rx.push_accepted(&token).await;
    assert_eq!(*handler.applied.lock().unwrap(), ["before", "during"]);
    assert_eq!(store.state_rows("revoked").await.unwrap().len(), 2);
    let audit = audit_of(store.as_ref(), "during").await;
    assert_eq!(
        audit.len(),
        1,
        "the redelivery adds no second row: {audit:?}"
    );
    assert_eq!(audit[0].action, "set.applied");
    assert_eq!(audit[0].detail["rule"], "test.revoke");
    assert_eq!(audit[0].detail["jti"], "during");
    assert_eq!(audit[0].detail["writes"], 1);
    let bob = store
        .query_audit(ReceiverAuditQuery {
            subject: Some("bob@example.com".into()),
            limit: 10,
            ..ReceiverAuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(bob, audit, "filed under the handler's subject key");
}

/// The audit rows recording the SET `jti`.
async fn audit_of(store: &dyn ReceiverStore, jti: &str) -> Vec<AuditEntry> {
    store
        .query_audit(ReceiverAuditQuery {
            jti: Some(jti.into()),
            limit: 10,
            ..ReceiverAuditQuery::default()
        })
        .await
        .unwrap()
}
