//! The database restarted under load. This test runs its own PostgreSQL server (initdb and
//! pg_ctl in a temporary directory, a free port, the unix socket in that directory), so
//! stopping it never disturbs the machine's shared server. PostgreSQL refuses to run as root,
//! so when the tests run as root (here and in CI) the server runs as the `postgres` user
//! (`runuser -u postgres --`), with the directory handed to it.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::{Value, json};

use crate::{
    multinode::{
        Cluster, Recorder, free_port, postgres_required, push_delivery, tail, wait_until_routed,
    },
    server::{post, wait_for},
};

/// A private PostgreSQL server for one test, stopped (immediately) on drop.
struct PrivatePg {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    options: String,
    as_postgres: bool,
}

impl PrivatePg {
    /// initdb + start, or `None` with a note saying why this machine cannot (a failure instead
    /// with `SSF_REQUIRE_POSTGRES=1`).
    fn start() -> Option<Self> {
        match Self::try_start() {
            Ok(pg) => Some(pg),
            Err(why) => {
                assert!(
                    !postgres_required(),
                    "cannot run a private PostgreSQL server ({why}) and SSF_REQUIRE_POSTGRES=1: \
                     install PostgreSQL's server binaries (initdb, pg_ctl; `bash .ci/postgres.sh`)"
                );
                eprintln!("SKIPPED: cannot run a private PostgreSQL server: {why}");
                None
            }
        }
    }

    fn try_start() -> Result<Self, String> {
        let bin = server_bin_dir().ok_or("no initdb under /usr/lib/postgresql/*/bin")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let as_postgres = is_root();
        if as_postgres {
            // initdb and postgres refuse to run as root: hand the directory to `postgres`.
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()))
            .map_err(|e| format!("chown to the postgres user: {e}"))?;
        }
        let data = dir.path().join("data");
        let port = free_port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.path().display()
        );
        let pg = Self {
            data,
            bin,
            port,
            options,
            as_postgres,
            _dir: dir,
        };
        let initdb = pg.bin.join("initdb");
        let mut command = pg.command(&initdb);
        command.arg("-D").arg(&pg.data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(&mut command).map_err(|e| format!("initdb: {e}"))?;
        pg.ctl(&["start", "-w", "-t", "60"])
            .map_err(|e| format!("pg_ctl start: {e}"))?;
        Ok(pg)
    }

    /// `program` as the server's user.
    fn command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn ctl(&self, args: &[&str]) -> Result<(), String> {
        let log = self.data.with_file_name("server.log");
        let mut command = self.command(&self.bin.join("pg_ctl"));
        command
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&log)
            .arg("-o")
            .arg(&self.options)
            .args(args);
        run(&mut command)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self.ctl(&["stop", "-m", "immediate", "-w"]);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has `initdb`.
fn server_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Two nodes push to a receiver; the database stops (fast shutdown: every connection is cut)
/// and starts again. While it is down the nodes report unhealthy and accept nothing; after it
/// is back they reconnect by themselves, report healthy, accept events again, deliver every
/// SET they accepted before, and their `LISTEN` connections are back (a long poll on B wakes
/// for a SET queued on A).
#[test]
fn database_restart_under_load_loses_nothing() {
    let Some(pg) = PrivatePg::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let extra = "\n[transmitter.poll]\nlong_poll_wait = \"30s\"\n";
    let cluster = Cluster::new(dir.path(), &pg.url(), None, extra);
    let nodes = cluster.start(dir.path(), &["a", "b"]);
    let recorder = Recorder::start(std::time::Duration::from_millis(20));
    let rx_token = nodes[0].token("rx");
    nodes[0].create_stream(&rx_token, push_delivery(&recorder.url));
    let producer = nodes[0].token("producer");
    let mut expected = wait_until_routed(&[&nodes[0], &nodes[1]], &producer);
    for i in 0..20 {
        expected.extend(
            nodes[i % 2]
                .emit(&producer, &format!("before{i}@example.com"))
                .unwrap(),
        );
    }
    pg.ctl(&["stop", "-m", "fast", "-w"]).unwrap();
    for node in &nodes {
        wait_for(
            &format!("node {} to report the database down", node.name),
            || (node.health() == 503).then_some(()),
        );
        assert!(
            node.emit(&producer, "while-down@example.com").is_none(),
            "node {} accepted an event with its database down",
            node.name
        );
    }
    pg.ctl(&["start", "-w", "-t", "60"]).unwrap();
    for node in &nodes {
        wait_for(&format!("node {} to reconnect", node.name), || {
            (node.health() == 200).then_some(())
        });
    }
    for i in 0..20 {
        expected.extend(
            nodes[i % 2]
                .emit(&producer, &format!("after{i}@example.com"))
                .unwrap(),
        );
    }
    recorder.wait_for_all(&expected, &[&nodes[0], &nodes[1]]);
    assert_eq!(
        recorder.applied().len(),
        expected.len(),
        "nothing unexpected"
    );

    // B's listener reconnected: its long poll wakes for a SET that A queues.
    let poll_id = nodes[0].create_stream(&rx_token, json!({ "method": "urn:ietf:rfc:8936" }));
    let polls_logged = |log: &str| {
        log.lines()
            .filter(|l| l.contains("started processing request") && l.contains("/ssf/poll/"))
            .count()
    };
    let before = polls_logged(&nodes[1].log());
    let poll_url = nodes[1].url(&format!("/ssf/poll/{poll_id}"));
    let token = rx_token;
    let poll = std::thread::spawn(move || {
        let body = json!({ "maxEvents": 10, "returnImmediately": false }).to_string();
        post(&poll_url, Some(&token), None, "application/json", body)
    });
    wait_for("node b to receive the long poll", || {
        (polls_logged(&nodes[1].log()) > before).then_some(())
    });
    let jtis = nodes[0].emit(&producer, "jane@example.com").unwrap();
    let (status, answer) = poll.join().unwrap();
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    let polled: Vec<&String> = answer["sets"].as_object().unwrap().keys().collect();
    assert!(
        polled.len() == 1 && jtis.contains(polled[0]),
        "the long poll returned A's SET: {answer} (queued {jtis:?})\n{}",
        tail(&nodes[1].log(), 30)
    );
}

/// Two receiver nodes on the private server: A polls a transmitter (on its own SQLite file), B
/// only follows A's writes. The database stops under a stream of SETs: both nodes report
/// unhealthy, A records nothing and acknowledges nothing, so the transmitter hands the SETs out
/// again after its redelivery delay. Once the database is back, every SET is recorded and
/// applied once, and B (whose `LISTEN` connection was cut too) follows again: a revocation A
/// applies after the restart denies Jane on B.
#[test]
fn receiver_nodes_survive_a_database_restart() {
    use crate::{
        multinode::Node,
        multinode_receivers_kill::{applied_lines, receiver, recorded, transmitter},
        serve_enforce::evaluate_at,
    };

    let Some(pg) = PrivatePg::start() else { return };
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let tx = Node::start_in(root.path(), "tx", &transmitter(port));
    let issuer = format!("http://127.0.0.1:{port}");
    let a = Node::start_in(
        root.path(),
        "a",
        &receiver(&pg.url(), "public", Some(&issuer)),
    );
    wait_for("A's stream verification", || {
        (a.log().contains("event applied") && a.log().contains("/verification")).then_some(())
    });
    let b = Node::start_in(root.path(), "b", &receiver(&pg.url(), "public", None));
    let producer = tx.token("producer");
    let mut jtis = Vec::new();
    let mut emit = |email: String| jtis.extend(tx.emit(&producer, &email).unwrap());
    for i in 0..20 {
        emit(format!("before{i}@example.com"));
    }
    wait_for("A to apply the first SETs", || {
        (applied_lines(&a) >= 20).then_some(())
    });

    pg.ctl(&["stop", "-m", "fast", "-w"]).unwrap();
    for node in [&a, &b] {
        wait_for(
            &format!("node {} to report the database down", node.name),
            || (node.health() == 503).then_some(()),
        );
    }
    for i in 0..20 {
        emit(format!("while-down{i}@example.com"));
    }
    pg.ctl(&["start", "-w", "-t", "60"]).unwrap();
    for node in [&a, &b] {
        wait_for(&format!("node {} to reconnect", node.name), || {
            (node.health() == 200).then_some(())
        });
    }
    for i in 0..20 {
        emit(format!("after{i}@example.com"));
    }
    // `Node::emit` dates its revocations 2023-11-14 (`event_timestamp` 1,700,000,000): a
    // token issued before that is revoked by one, a token issued since is not.
    let iat = 1_690_000_000;
    let before = evaluate_at(&b.base, iat, "kb:a1", "read");
    assert_eq!(before["decision"], true, "her role lets her read: {before}");
    emit("jane@example.com".to_owned());

    let all = crate::server::eventually(|| {
        let (audit, _) = recorded(&pg.url(), "public");
        jtis.iter().all(|j| audit.contains_key(j))
    });
    let (audit, _) = recorded(&pg.url(), "public");
    let missing: Vec<&String> = jtis.iter().filter(|j| !audit.contains_key(*j)).collect();
    assert!(
        all,
        "{} of {} SETs never applied: {missing:?}\n--- a:\n{}",
        missing.len(),
        jtis.len(),
        tail(&a.log(), 30)
    );
    let twice: Vec<(&String, &i64)> = audit.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "applied more than once: {twice:?}");
    let revoked = |answer: &Value| {
        answer["decision"] == false && answer["context"]["reason"] == "session_revoked"
    };
    let followed =
        crate::server::eventually(|| revoked(&evaluate_at(&b.base, iat, "kb:a1", "read")));
    assert!(
        followed,
        "B did not follow A's revocation: {}\n--- b:\n{}",
        evaluate_at(&b.base, iat, "kb:a1", "read"),
        tail(&b.log(), 40)
    );
    let denied = evaluate_at(&b.base, iat, "kb:a1", "read");
    assert!(jtis.contains(&denied["context"]["jti"].as_str().unwrap().to_owned()));
}
