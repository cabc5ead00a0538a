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
