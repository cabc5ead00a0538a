//! Push delivery from several `ssf serve` nodes on one PostgreSQL database, with real
//! processes: a node killed mid-burst (its leases expire and the other nodes deliver its
//! claims) and a receiver that is down for a while (retries, then everything once).

use std::{collections::BTreeMap, time::Duration};

use crate::{
    multinode::{Cluster, Node, Recorder, Schema, push_delivery, shared_server, wait_until_routed},
    server::wait_for,
};

/// Three transmitter nodes share one schema and one push stream; events are posted round-robin;
/// node C is SIGKILLed while it holds claims (a push to the receiver in flight). Every accepted
/// SET reaches the receiver (at least once, RFC 8935 §2 / SSF-PUSH delivery is durable), the
/// receiver applies each jti once, and nothing it did not expect arrives.
#[test]
fn killed_node_loses_no_push_set() {
    let Some(url) = shared_server() else { return };
    let schema = Schema::create(&url);
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::new(dir.path(), &url, Some(&schema.name), "");
    let mut nodes = cluster.start(dir.path(), &["a", "b", "c"]);
    let recorder = Recorder::start(Duration::from_millis(150));
    let rx_token = nodes[0].token("rx");
    nodes[1].create_stream(&rx_token, push_delivery(&recorder.url));
    // A token of node B works on A and C: one issuer, one key directory.
    let producer = nodes[1].token("producer");
    let mut expected = wait_until_routed(&[&nodes[0], &nodes[1], &nodes[2]], &producer);

    // Round-robin to all three; from the 30th event on, kill C as soon as it has a push in
    // flight (those rows stay leased to a dead node); then 60 more to A and B.
    let started = std::time::Instant::now();
    let mut cut = Vec::new();
    let mut i = 0;
    while cut.is_empty() {
        emit_to(&nodes[i % 3], &producer, i, &mut expected);
        i += 1;
        if i >= 30 {
            cut = recorder.in_flight_from("c");
        }
        assert!(
            started.elapsed() < crate::server::DEADLINE,
            "node c never had a push in flight"
        );
    }
    nodes[2].kill();
    for k in 0..60 {
        emit_to(&nodes[k % 2], &producer, i + k, &mut expected);
    }
    recorder.wait_for_all(&expected, &[&nodes[0], &nodes[1], &nodes[2]]);

    let applied = recorder.applied();
    let unexpected: Vec<&String> = applied.iter().filter(|j| !expected.contains(j)).collect();
    assert!(unexpected.is_empty(), "SETs nobody emitted: {unexpected:?}");
    assert_eq!(applied.len(), expected.len(), "every SET applied once");
    // What C had in flight when it died came again from a survivor, once its lease expired.
    let arrivals = recorder.arrivals();
    for jti in &cut {
        assert!(
            arrivals
                .iter()
                .any(|(j, node)| j == jti && node != "ssf-node-c"),
            "{jti}, in flight at node c when it died, was not pushed again by another node"
        );
    }
    let deliveries = recorder.deliveries();
    let mut per_jti: BTreeMap<&str, usize> = BTreeMap::new();
    for (jti, _) in &arrivals {
        *per_jti.entry(jti.as_str()).or_default() += 1;
    }
    let redelivered = per_jti.values().filter(|n| **n > 1).count();
    let pushers: std::collections::BTreeSet<&str> =
        deliveries.iter().map(|d| d.node.as_str()).collect();
    eprintln!(
        "{} SETs, {} push requests ({} answered), {redelivered} pushed more than once, {} cut off \
         by the kill; pushed by {pushers:?}",
        expected.len(),
        arrivals.len(),
        deliveries.len(),
        cut.len()
    );
    assert!(
        pushers.contains("ssf-node-a") && pushers.contains("ssf-node-b"),
        "the surviving nodes share the work: {pushers:?}"
    );
    // The survivors stay healthy on the shared database.
    assert_eq!(nodes[0].health(), 200);
    assert_eq!(nodes[1].health(), 200);
    drop(nodes);
}

/// Posts event `i` to `node`, which must accept it for the one stream.
fn emit_to(node: &Node, producer: &str, i: usize, expected: &mut Vec<String>) {
    let jtis = node
        .emit(producer, &format!("user{i}@example.com"))
        .unwrap_or_else(|| panic!("node {} refused event {i}", node.name));
    assert_eq!(jtis.len(), 1, "one stream, one SET");
    expected.extend(jtis);
}

/// The receiver answers 503 for a while: the nodes retry on their schedule and, once it is
/// back, every SET arrives, and each is accepted exactly once (a delivered SET is recorded as
/// delivered, never pushed again).
#[test]
fn receiver_down_for_a_while_gets_everything_once() {
    let Some(url) = shared_server() else { return };
    let schema = Schema::create(&url);
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::new(dir.path(), &url, Some(&schema.name), "");
    let nodes = cluster.start(dir.path(), &["a", "b"]);
    let recorder = Recorder::start(Duration::ZERO);
    let rx_token = nodes[0].token("rx");
    nodes[0].create_stream(&rx_token, push_delivery(&recorder.url));
    let producer = nodes[0].token("producer");

    let mut expected = wait_until_routed(&[&nodes[0], &nodes[1]], &producer);
    recorder.set_up(false);
    for i in 0..20 {
        let node = &nodes[i % 2];
        expected.extend(
            node.emit(&producer, &format!("down{i}@example.com"))
                .unwrap(),
        );
    }
    // Down until both nodes have had pushes refused (and so scheduled retries).
    wait_for("refused pushes from both nodes", || {
        let refused: Vec<String> = recorder
            .deliveries()
            .into_iter()
            .filter(|d| d.status == 503)
            .map(|d| d.node)
            .collect();
        (refused.iter().any(|n| n == "ssf-node-a") && refused.iter().any(|n| n == "ssf-node-b"))
            .then_some(())
    });
    recorder.set_up(true);
    for i in 20..30 {
        expected.extend(
            nodes[i % 2]
                .emit(&producer, &format!("up{i}@example.com"))
                .unwrap(),
        );
    }
    recorder.wait_for_all(&expected, &[&nodes[0], &nodes[1]]);

    let mut accepted: BTreeMap<String, usize> = BTreeMap::new();
    for d in recorder
        .deliveries()
        .into_iter()
        .filter(|d| d.status == 202)
    {
        *accepted.entry(d.jti).or_default() += 1;
    }
    let twice: Vec<_> = accepted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "accepted more than once: {twice:?}");
    assert_eq!(accepted.len(), expected.len());
    for node in &nodes {
        let metrics = crate::server::get(&node.url("/metrics")).1;
        assert!(
            crate::serve::sample(&metrics, "ssf_push_attempts_total", "outcome=\"retry\"")
                .is_some_and(|n| n >= 1.0),
            "node {} retried:\n{metrics}",
            node.name
        );
    }
}
