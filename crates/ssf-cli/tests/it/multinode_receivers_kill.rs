//! Two receiver nodes polling one stream of a transmitter, on one PostgreSQL schema; one is
//! killed with SIGKILL in the middle of a burst. The SETs it had taken but not acknowledged come
//! back after the transmitter's redelivery delay (RFC 8936 §2.4, POLL-12) and the other node
//! applies them: every SET is recorded, and each is applied exactly once (one audit row per jti,
//! stored in the transaction that records it).

use std::collections::BTreeMap;

use sqlx::{Connection, PgConnection};

use crate::{
    multinode::{Node, PRODUCER_SECRET, RX_SECRET, Schema, free_port, shared_server, tail},
    server::{runtime, wait_for},
};

/// The transmitter: SQLite, clients `rx` and `producer`, unacknowledged SETs back after 2 s.
pub(crate) fn transmitter(port: u16) -> String {
    let rx_hash = ssf_transmitter::auth::hash_secret(RX_SECRET);
    let producer_hash = ssf_transmitter::auth::hash_secret(PRODUCER_SECRET);
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
data_dir = "data"
log_format = "json"
shutdown_timeout = "5s"

[transmitter]
issuer = "http://127.0.0.1:{port}"

[[transmitter.auth.clients]]
client_id = "rx"
secret_hash = "{rx_hash}"
scopes = ["ssf.read", "ssf.manage"]

[[transmitter.auth.clients]]
client_id = "producer"
secret_hash = "{producer_hash}"
scopes = ["ssf.events.publish"]

[transmitter.poll]
redelivery_after = "2s"
"#
    )
}

/// A receiver node polling `issuer` (small batches, so a kill finds some unacknowledged), or
/// polling nothing (`issuer` `None`: it only follows the other nodes).
pub(crate) fn receiver(database: &str, schema: &str, issuer: Option<&str>) -> String {
    let peer = issuer.map(|issuer| {
        format!(
            r#"
[[receiver.transmitters]]
name = "tx"
issuer = "{issuer}"
delivery = "poll"
verification_interval = "0s"
poll = {{ max_events = 5 }}
auth = {{ type = "client_credentials", client_id = "rx", client_secret = "{RX_SECRET}" }}
"#
        )
    });
    let peer = peer.unwrap_or_default();
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
data_dir = "data"
log_format = "json"
shutdown_timeout = "5s"

[receiver]
database = "{database}"

[receiver.postgres]
max_connections = 4
schema = "{schema}"

[receiver.http]
allow_http = true
allowed_networks = ["127.0.0.0/8"]
{peer}
[enforce.access]
roles = {{ support-agent = [{{ asset = "kb:*", access = "read" }}] }}
"#
    )
}

/// jti -> audit rows recording it, and the number of recorded (`iss`, `jti`) pairs.
pub(crate) fn recorded(url: &str, schema: &str) -> (BTreeMap<String, i64>, i64) {
    runtime().block_on(async {
        let mut conn = PgConnection::connect(url).await.unwrap();
        let audit: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT jti, COUNT(*) FROM {schema}.receiver_audit WHERE jti IS NOT NULL GROUP BY jti"
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let (seen,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {schema}.received_sets"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        (audit.into_iter().collect(), seen)
    })
}

pub(crate) fn applied_lines(node: &Node) -> usize {
    node.log()
        .lines()
        .filter(|l| l.contains("event applied") && l.contains("session-revoked"))
        .count()
}

#[test]
fn a_receiver_node_killed_mid_burst_loses_nothing_and_applies_nothing_twice() {
    let Some(url) = shared_server() else {
        return;
    };
    let schema = Schema::create(&url);
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let tx = Node::start_in(root.path(), "tx", &transmitter(port));
    let issuer = format!("http://127.0.0.1:{port}");
    let config = receiver(&url, &schema.name, Some(&issuer));
    let mut r1 = Node::start_in(root.path(), "r1", &config);
    wait_for("r1's stream verification", || {
        r1.log()
            .lines()
            .any(|l| l.contains("event applied") && l.contains("/verification"))
            .then_some(())
    });
    // r2 finds the stream r1 set up in the shared store and polls it too (D-RX-03).
    let r2 = Node::start_in(root.path(), "r2", &config);
    wait_for("r2 polling the same stream", || {
        r2.log().contains("\"peer\":\"tx\"").then_some(())
    });

    let producer = tx.token("producer");
    let mut jtis = Vec::new();
    for i in 0..300 {
        let queued = tx
            .emit(&producer, &format!("user{i}@example.com"))
            .expect("the transmitter queues the event");
        jtis.extend(queued);
        if i == 100 {
            wait_for("r1 to apply some of the burst", || {
                (applied_lines(&r1) > 0).then_some(())
            });
            r1.kill();
        }
    }
    assert_eq!(
        jtis.len(),
        300,
        "one stream (r2 reused r1's), one SET per event"
    );

    let all_recorded = crate::server::eventually(|| {
        let (audit, _) = recorded(&url, &schema.name);
        jtis.iter().all(|j| audit.contains_key(j))
    });
    let (audit, seen) = recorded(&url, &schema.name);
    let missing: Vec<&String> = jtis.iter().filter(|j| !audit.contains_key(*j)).collect();
    assert!(
        all_recorded,
        "{} of 300 SETs never applied: {missing:?}\n--- r1:\n{}\n--- r2:\n{}",
        missing.len(),
        tail(&r1.log(), 30),
        tail(&r2.log(), 30)
    );
    let twice: Vec<(&String, &i64)> = audit.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "applied more than once: {twice:?}");
    assert!(seen >= 300, "{seen} recorded pairs");
    assert!(
        applied_lines(&r2) > 0,
        "r2 applied its share and r1's leftovers"
    );
}
