//! Poll delivery across nodes: a long poll waiting on one node returns the SET queued on
//! another, woken through PostgreSQL `LISTEN/NOTIFY` (RFC 8936 §2.4 long polling, POLL-07/08).

use serde_json::{Value, json};

use crate::{
    multinode::{Cluster, Schema, shared_server},
    server::{post, wait_for},
};

/// A long poll on node B (waiting up to 30 s) is answered with the SET that node A queued while
/// it waited. The poll never re-reads the outbox on its own before the wait ends, so only
/// A's `NOTIFY`, heard by B's listener, can end it early with the SET.
#[test]
fn long_poll_on_one_node_wakes_for_a_set_queued_on_another() {
    let Some(url) = shared_server() else { return };
    let schema = Schema::create(&url);
    let dir = tempfile::tempdir().unwrap();
    let extra = "\n[transmitter.poll]\nlong_poll_wait = \"30s\"\n";
    let cluster = Cluster::new(dir.path(), &url, Some(&schema.name), extra);
    let nodes = cluster.start(dir.path(), &["a", "b"]);
    let rx_token = nodes[0].token("rx");
    let stream_id = nodes[0].create_stream(&rx_token, json!({ "method": "urn:ietf:rfc:8936" }));
    let producer = nodes[0].token("producer");

    let poll_url = nodes[1].url(&format!("/ssf/poll/{stream_id}"));
    let token = rx_token;
    let poll = std::thread::spawn(move || {
        let body = json!({ "maxEvents": 10, "returnImmediately": false }).to_string();
        post(&poll_url, Some(&token), None, "application/json", body)
    });
    // Node B has the poll request (its tracing layer logs it) before A queues the SET.
    wait_for("node b to receive the long poll", || {
        nodes[1]
            .log()
            .lines()
            .any(|l| l.contains("started processing request") && l.contains("/ssf/poll/"))
            .then_some(())
    });
    let jtis = nodes[0].emit(&producer, "jane@example.com").unwrap();
    assert_eq!(jtis.len(), 1);

    let (status, answer) = poll.join().unwrap();
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    let sets = answer["sets"].as_object().unwrap();
    assert!(
        sets.contains_key(&jtis[0]),
        "the long poll on B returned A's SET: {answer}\n{}",
        crate::multinode::tail(&nodes[1].log(), 30)
    );
}
