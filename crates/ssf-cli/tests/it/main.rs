//! Runs the real `ssf` binary in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns panic on purpose

mod console;
mod demo;
mod emit;
mod jit_cli;
mod keys;
mod multinode;
mod multinode_migrate;
mod multinode_poll;
mod multinode_push;
mod multinode_receivers;
mod multinode_receivers_kill;
mod multinode_restart;
mod serve;
mod serve_at_rest;
mod serve_authority;
mod serve_enforce;
mod serve_jit;
mod serve_limits;
mod serve_receiver;
mod serve_tls;
mod server;
mod set;
mod tail;

use std::{
    io::Write,
    path::Path,
    process::{Command, Output, Stdio},
};

pub(crate) const ISS: &str = "https://idp.example.com";
pub(crate) const AUD: &str = "https://app.example.com";

/// The result of one `ssf` run.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `ssf args...` in `dir`, feeding `stdin` if given.
pub(crate) fn ssf(dir: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssf"))
        .args(args)
        .current_dir(dir)
        .env_remove("SSF_KEYS_DIR")
        .env_remove("SSF_ISSUER")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// Runs `ssf` and asserts it succeeded; returns stdout.
pub(crate) fn ok(dir: &Path, args: &[&str]) -> String {
    let run = ssf(dir, args, None);
    assert_eq!(run.code, 0, "ssf {args:?} failed: {}", run.stderr);
    run.stdout
}

#[test]
fn version_and_teaching_help() {
    let dir = tempfile::tempdir().unwrap();
    let version = ok(dir.path(), &["--version"]);
    assert!(version.starts_with("ssf "), "{version}");
    let help = ok(dir.path(), &["--help"]);
    for word in ["keys", "set", "Quick start", "Exit codes"] {
        assert!(help.contains(word), "--help lacks {word}: {help}");
    }
    for cmd in [
        &["keys", "generate", "--help"][..],
        &["keys", "rotate", "--help"],
        &["set", "sign", "--help"],
        &["set", "verify", "--help"],
        &["set", "decode", "--help"],
    ] {
        let text = ok(dir.path(), cmd);
        assert!(
            text.contains("Example"),
            "{cmd:?} help has no example: {text}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let no_aud = ssf(
        p,
        &[
            "set", "sign", "--key", "k.pem", "--iss", ISS, "--claims", "c.json",
        ],
        None,
    );
    assert_eq!(no_aud.code, 2, "{}", no_aud.stderr);
    let missing_file = ssf(
        p,
        &[
            "set", "sign", "--key", "k.pem", "--iss", ISS, "--aud", AUD, "--claims", "c.json",
        ],
        None,
    );
    assert_eq!(missing_file.code, 2, "{}", missing_file.stderr);
    assert!(missing_file.stderr.contains("c.json"));
    ok(p, &["keys", "generate", "--alg", "ES256", "--out", "k.pem"]);
    let bad_event = ssf(
        p,
        &[
            "set",
            "sign",
            "--key",
            "k.pem",
            "--iss",
            ISS,
            "--aud",
            AUD,
            "--event",
            "nope",
            "--subject",
            "email:a@b.example",
        ],
        None,
    );
    assert_eq!(bad_event.code, 2);
    assert!(
        bad_event.stderr.contains("unknown event"),
        "{}",
        bad_event.stderr
    );
    let exists = ssf(p, &["keys", "generate", "--out", "k.pem"], None);
    assert_eq!(exists.code, 2);
    assert!(exists.stderr.contains("--force"), "{}", exists.stderr);
    let bad_alg = ssf(
        p,
        &["keys", "generate", "--alg", "HS256", "--out", "h.pem"],
        None,
    );
    assert_eq!(bad_alg.code, 2);
    let garbage = ssf(p, &["set", "decode", "not-a-token"], None);
    assert_eq!(garbage.code, 2);
}
