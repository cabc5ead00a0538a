//! `ssf demo` as a user runs it: the real binary, the whole scenario, exit 0.

use crate::ssf;

#[test]
fn ssf_demo_runs_the_scenario_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let run = ssf(dir.path(), &["demo"], None);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout.contains("all 15 steps behaved as expected"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("session_revoked"), "{}", run.stdout);
    assert!(run.stdout.contains("allowed_by_group"), "{}", run.stdout);
    // Nothing is left in the working directory: every store lives in a temporary directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// `ssf demo --serve` prints a command for every step of the timeline, and each one, pasted into a
/// shell in order, gets the answer printed beside it (`# 403 grant_required`: the status, then a
/// word of the body). Steps that change access are retried for a few seconds, as a reader would.
#[test]
fn every_command_ssf_demo_serve_prints_gets_the_answer_it_names() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssf"))
        .args(["demo", "--serve"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _stop = KillOnDrop(child);
    let mut guide = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        guide.push_str(&line);
        guide.push('\n');
        if line.starts_with("# Stop everything with Ctrl-C") {
            break;
        }
    }
    assert!(guide.contains("Ctrl-C"), "the guide ended early:\n{guide}");

    // One shell script: plain commands as printed, checked ones through `expect_answer`.
    let mut script = String::from(
        "set -u\n\
         expect_answer() { # STATUS WORD, the command on stdin\n\
           local command answer; command=$(cat)\n\
           for _ in $(seq 1 50); do\n\
             answer=$(eval \"$command\" 2>/dev/null)\n\
             case \"$(printf '%s' \"$answer\" | head -n1)\" in \"HTTP/\"*\" $1\"*)\n\
               printf '%s' \"$answer\" | grep -q -- \"$2\" && { echo \"ok $1 $2\"; return 0; } ;; esac\n\
             sleep 0.2\n\
           done\n\
           echo \"expected $1 $2 from: $command\"; echo \"got: $answer\"; exit 1\n\
         }\n",
    );
    let mut checked = 0;
    let mut command = String::new();
    for line in guide.lines().skip_while(|l| !l.starts_with("# 1.")) {
        if let Some(continued) = line.strip_suffix('\\') {
            command.push_str(continued);
            continue;
        }
        command.push_str(line);
        let whole = std::mem::take(&mut command);
        if whole.starts_with('#') || whole.trim().is_empty() {
            continue;
        }
        match whole.rsplit_once("   # ") {
            Some((run, expect)) => {
                let (status, word) = expect.split_once(' ').unwrap();
                script.push_str(&format!(
                    "expect_answer {status} '{word}' <<'CMD'\n{run}\nCMD\n"
                ));
                checked += 1;
            }
            None => {
                script.push_str(&whole);
                script.push('\n');
            }
        }
    }
    assert!(checked >= 15, "{checked} checked commands in:\n{guide}");
    let run = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .output()
        .expect("bash");
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{out}\n{}\nguide:\n{guide}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ok ")).count(),
        checked,
        "{out}"
    );
}

/// Stops a child process when dropped (also when the test fails).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
