//! Several transmitter nodes on one PostgreSQL database (issue 6: stream management and ingest
//! work on any node). Each node is its own `AppState`, workers, HTTP port and `PgStore`. The
//! routing caches are made effectively permanent (`stream_cache_ttl` and
//! `subject_index_reload` of an hour), so a change made through node A that node B routes by
//! within the test's deadline was delivered by the cross-node invalidation
//! (`TransmitterStore::config_changes`, `Matcher::invalidate_all`), not by a cache expiring.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use ssf_store::DefaultSubjects;
use ssf_transmitter::{matching::Routable, metadata::paths};
use ssf_types::{EventType, ParseMode, SubjectId};

use crate::{
    fake_receiver::{event, event_type, eventually, poll, poll_stream, publish, revoked, sets},
    postgres::Schema,
    support::{RECEIVER, SESSION_REVOKED, TestServer, body_json},
};

/// Longer than any test runs: only an invalidation can refresh the caches.
const FOREVER: Duration = Duration::from_secs(3600);

/// Two nodes on one fresh schema; fields drop in order, the schema last.
struct Nodes {
    a: TestServer,
    b: TestServer,
    _db: Schema,
}

async fn nodes(default_subjects: DefaultSubjects) -> Option<Nodes> {
    let db = Schema::create().await?;
    let mut servers = Vec::new();
    for _ in 0..2 {
        let server = TestServer::builder()
            .store(db.node().await)
            .with_workers()
            .configure(move |c| {
                c.ingest.stream_cache_ttl = FOREVER;
                c.ingest.subject_index_reload = FOREVER;
                c.streams.default_subjects = default_subjects;
            })
            .start()
            .await;
        servers.push(server);
    }
    let b = servers.pop()?;
    let a = servers.pop()?;
    Some(Nodes { a, b, _db: db })
}

impl Nodes {
    async fn shutdown(self) {
        self.a.shutdown().await;
        self.b.shutdown().await;
    }
}

/// `POST /events` on `server`; the number of streams the event was queued for.
async fn routed(server: &TestServer, body: &Value) -> u64 {
    let (status, answer) = publish(server, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    answer["streams"].as_u64().unwrap()
}

/// The streams `server`'s matcher sends a session-revoked event about `sub_id` to. Unlike
/// [`routed`], this sees a stale cache entry for a disabled stream, whose SETs the store drops.
async fn matched(server: &TestServer, sub_id: &Value) -> Vec<String> {
    let subject = SubjectId::from_json(sub_id, ParseMode::Strict).unwrap();
    let event_type = EventType::SessionRevoked;
    let events = [Routable {
        event_type: &event_type,
        subject: &subject,
    }];
    let routes = server
        .state
        .matcher
        .route(server.state.store.as_ref(), &events)
        .await;
    let targets = routes.unwrap().pop().unwrap();
    targets
        .iter()
        .map(|t| t.stream_id.as_str().to_owned())
        .collect()
}

/// Add (or Remove) Subject on `server`; asserts success.
async fn subject(server: &TestServer, token: &str, stream_id: &str, subject: &Value, path: &str) {
    let response = server
        .post(path)
        .bearer_auth(token)
        .json(&json!({"stream_id": stream_id, "subject": subject}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(status.is_success(), "{path}: {}", body_json(response).await);
}

/// `POST /ssf/status` on `server`; asserts success.
async fn status(server: &TestServer, token: &str, stream_id: &str, status: &str) {
    let response = server
        .post(paths::STATUS)
        .bearer_auth(token)
        .json(&json!({"stream_id": stream_id, "status": status}))
        .send()
        .await
        .unwrap();
    let code = response.status();
    assert!(code.is_success(), "{status}: {}", body_json(response).await);
}

/// A stream created through node A receives an event ingested on node B at once, though B had
/// already cached "no streams" for an hour; B's poll endpoint hands the SET out too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_created_on_one_node_is_routed_by_another_at_once() {
    let Some(n) = nodes(DefaultSubjects::All).await else {
        return;
    };
    let alice = revoked("alice@example.com");
    assert_eq!(routed(&n.b, &alice).await, 0, "B has cached: no streams");
    let rx_a = n.a.token(RECEIVER).await;
    let s = poll_stream(&n.a, &rx_a, &[SESSION_REVOKED]).await;
    eventually("node B routing to the stream created on node A", || async {
        routed(&n.b, &alice).await == 1
    })
    .await;
    let rx_b = n.b.token(RECEIVER).await;
    let body = json!({"returnImmediately": true, "maxEvents": 100});
    let (code, answer) = poll(&n.b, &rx_b, &s, &body).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    let got = sets(&answer);
    assert!(
        got.iter()
            .any(|(_, set)| event_type(set) == SESSION_REVOKED),
        "{answer}"
    );
    n.shutdown().await;
}

fn complex(members: &[(&str, Value)]) -> Value {
    let mut v = json!({"format": "complex"});
    for (name, member) in members {
        v[*name] = member.clone();
    }
    v
}

/// SSF-SUB-42 and TV-MATCH-02 across nodes: on a `default_subjects: NONE` stream, a complex
/// subject added through node A makes node B route a matching event at once, and removing it
/// through A stops B, though B's complex-subject index would only reload after an hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complex_subjects_changed_on_one_node_route_on_another_at_once_ssf_sub_42() {
    let Some(n) = nodes(DefaultSubjects::None).await else {
        return;
    };
    let rx_a = n.a.token(RECEIVER).await;
    let s = poll_stream(&n.a, &rx_a, &[SESSION_REVOKED]).await;
    // A simple subject is looked up in the store on every route: once B routes it, B has
    // loaded the stream (and its complex-subject index) after the stream existed.
    let bob = json!({"format": "email", "email": "bob@example.com"});
    subject(&n.a, &rx_a, &s, &bob, paths::ADD_SUBJECT).await;
    let bobs_event = revoked("bob@example.com");
    eventually("node B knowing the stream", || async {
        routed(&n.b, &bobs_event).await == 1
    })
    .await;

    let user = json!({"format": "email", "email": "jdoe@example.com"});
    let session = json!({"format": "opaque", "id": "s1"});
    let added = complex(&[("user", user.clone()), ("session", session)]);
    let probe = event(SESSION_REVOKED, complex(&[("user", user)]));
    assert_eq!(routed(&n.b, &probe).await, 0, "not added yet");
    subject(&n.a, &rx_a, &s, &added, paths::ADD_SUBJECT).await;
    eventually(
        "node B routing by the complex subject added on A",
        || async { routed(&n.b, &probe).await == 1 },
    )
    .await;
    subject(&n.a, &rx_a, &s, &added, paths::REMOVE_SUBJECT).await;
    eventually(
        "node B no longer routing by the removed subject",
        || async { routed(&n.b, &probe).await == 0 },
    )
    .await;
    n.shutdown().await;
}

/// SSF-STATUS-15 across nodes: once the receiver disables its stream through node A, node B's
/// matcher stops routing events to it at once, though B cached the stream as enabled for an
/// hour (the store would drop the SETs anyway: the matcher is what is checked here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_disabled_on_one_node_stops_routing_on_another_ssf_status_15() {
    let Some(n) = nodes(DefaultSubjects::All).await else {
        return;
    };
    let rx_a = n.a.token(RECEIVER).await;
    let s = poll_stream(&n.a, &rx_a, &[SESSION_REVOKED]).await;
    let alice = json!({"format": "email", "email": "alice@example.com"});
    eventually("node B routing to the stream", || async {
        matched(&n.b, &alice).await == [s.clone()]
    })
    .await;
    status(&n.a, &rx_a, &s, "disabled").await;
    eventually(
        "node B no longer routing to the disabled stream",
        || async { matched(&n.b, &alice).await.is_empty() },
    )
    .await;
    assert_eq!(routed(&n.b, &revoked("alice@example.com")).await, 0);
    n.shutdown().await;
}
