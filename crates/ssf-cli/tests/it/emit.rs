//! `ssf emit`: retries with one Idempotency-Key (D-TX-16) against a scripted transmitter on
//! loopback, and a real `ssf serve` whose issuer has a path (D-TX-17).

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing,
};
use serde_json::json;

use crate::{
    multinode::free_port,
    server::{Server, runtime, ssf_env, ssf_json},
    ssf,
};

/// A transmitter stand-in: `POST /events` answers the scripted `(status, Retry-After)` pairs in
/// order (then `202`) and records each request's `Idempotency-Key`. No metadata (`404`), so
/// `ssf emit` falls back to `{URL}/events`.
struct Scripted {
    base: String,
    keys: Arc<Mutex<Vec<Option<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Scripted {
    fn start(script: Vec<(u16, Option<&'static str>)>) -> Self {
        let keys = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.into_iter()));
        let sink = Arc::clone(&keys);
        let app = Router::new().route(
            "/events",
            routing::post(move |headers: HeaderMap| {
                let (sink, script) = (Arc::clone(&sink), Arc::clone(&script));
                async move {
                    let key = headers
                        .get("idempotency-key")
                        .map(|v| v.to_str().unwrap().to_owned());
                    sink.lock().unwrap().push(key);
                    let next = script.lock().unwrap().next();
                    match next {
                        Some((status, retry_after)) => {
                            let mut response = (
                                StatusCode::from_u16(status).unwrap(),
                                axum::Json(json!({"error": "scripted"})),
                            )
                                .into_response();
                            if let Some(after) = retry_after {
                                response
                                    .headers_mut()
                                    .insert("retry-after", after.parse().unwrap());
                            }
                            response
                        }
                        None => (
                            StatusCode::ACCEPTED,
                            axum::Json(json!({"txn": "t-1", "streams": 1, "jtis": ["j-1"]})),
                        )
                            .into_response(),
                    }
                }
            }),
        );
        let listener = runtime()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = runtime().spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, keys, task }
    }

    fn keys(&self) -> Vec<Option<String>> {
        self.keys.lock().unwrap().clone()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn emit_args<'a>(base: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "emit",
        "--transmitter",
        base,
        "--token",
        "test-token",
        "--event",
        "session-revoked",
        "--subject",
        "email:jane@example.com",
    ];
    args.extend_from_slice(extra);
    args
}

/// D-TX-16: a `503` with `Retry-After: 1` is retried once, with the same key, and says so.
#[test]
fn emit_retries_a_503_with_the_same_idempotency_key_d_tx_16() {
    let dir = tempfile::tempdir().unwrap();
    let tx = Scripted::start(vec![(503, Some("1"))]);
    let run = ssf(dir.path(), &emit_args(&tx.base, &[]), None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("transmitter answered 503, retrying in 1s (attempt 2/5)"),
        "{}",
        run.stderr
    );
    let keys = tx.keys();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let first = keys[0]
        .clone()
        .expect("an Idempotency-Key on the first attempt");
    assert!(
        first.starts_with('"') && first.len() > 30,
        "a quoted UUID: {first}"
    );
    assert_eq!(
        keys[1].as_deref(),
        Some(first.as_str()),
        "the same key again"
    );
    assert!(run.stdout.contains("\"t-1\""), "{}", run.stdout);

    // A key the user gives is sent as given (as a structured-field string).
    let tx = Scripted::start(vec![]);
    let run = ssf(
        dir.path(),
        &emit_args(&tx.base, &["--idempotency-key", "ticket-42/1"]),
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(tx.keys(), vec![Some("\"ticket-42/1\"".to_owned())]);
    let bad = ssf(
        dir.path(),
        &emit_args(&tx.base, &["--idempotency-key", ""]),
        None,
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

/// D-TX-16: `429` is retried `--retries` times and then given up (exit 3); a `400` is never
/// retried (exit 1).
#[test]
fn emit_gives_up_after_its_retries_and_never_retries_a_4xx_d_tx_16() {
    let dir = tempfile::tempdir().unwrap();
    let tx = Scripted::start(vec![(429, Some("0")); 3]);
    let run = ssf(dir.path(), &emit_args(&tx.base, &["--retries", "2"]), None);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.stderr.matches("transmitter answered 429").count(), 3);
    assert!(run.stderr.contains("(attempt 3/3)"), "{}", run.stderr);
    assert!(
        run.stderr.contains("gave up after 3 attempt(s)"),
        "{}",
        run.stderr
    );
    assert_eq!(tx.keys().len(), 3);

    let tx = Scripted::start(vec![(400, None)]);
    let run = ssf(dir.path(), &emit_args(&tx.base, &[]), None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
    assert_eq!(tx.keys().len(), 1, "a 400 is final");
}

/// D-TX-16: a refused connection is retried with backoff.
#[test]
fn emit_retries_a_refused_connection_d_tx_16() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!("http://127.0.0.1:{}", free_port());
    let run = ssf(dir.path(), &emit_args(&base, &["--retries", "1"]), None);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("retrying in 1s (attempt 2/2)"),
        "{}",
        run.stderr
    );
}

/// D-TX-17: `ssf emit --transmitter <issuer with a path>` finds the events endpoint in the
/// metadata (path insertion) and the token endpoint in the RFC 8414 metadata, against a real
/// `ssf serve` whose issuer has a path.
#[test]
fn emit_to_an_issuer_with_a_path_d_tx_17() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}/tenant-a");
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\nlog_format = \"json\"\n\
         shutdown_timeout = \"5s\"\n\n[transmitter]\nissuer = \"{issuer}\"\n"
    );
    let server = Server::start(p, &config, &[]);
    let creds = server.credentials("data");
    let rx_id = creds["receiver"]["client_id"].as_str().unwrap();
    let rx_secret = creds["receiver"]["client_secret"].as_str().unwrap();
    let px_id = creds["producer"]["client_id"].as_str().unwrap();
    let px_secret = creds["producer"]["client_secret"].as_str().unwrap();
    let stream = ssf_json(
        p,
        &[
            "stream",
            "create",
            "--issuer",
            &issuer,
            "--client-id",
            rx_id,
            "--poll",
            "--event",
            "session-revoked",
        ],
        &[("SSF_CLIENT_SECRET", rx_secret)],
    );
    assert!(stream["stream_id"].is_string(), "{stream}");
    let emitted = ssf_env(
        p,
        &[
            "emit",
            "--transmitter",
            &format!("{issuer}/"),
            "--client-id",
            px_id,
            "--event",
            "session-revoked",
            "--subject",
            "email:jane@example.com",
        ],
        &[("SSF_CLIENT_SECRET", px_secret)],
    );
    assert_eq!(emitted.code, 0, "{}", emitted.stderr);
    let answer: serde_json::Value = serde_json::from_str(&emitted.stdout).unwrap();
    assert_eq!(answer["streams"], 1, "{answer}");
    assert_eq!(server.stop(), 0);
}
