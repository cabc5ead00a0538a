//! `ssf migrate` on SQLite and PostgreSQL, and what `ssf serve` / `ssf migrate` say when the
//! database cannot be used (the setting, what to fix, never the password).

use crate::{
    multinode::{Schema, shared_server},
    server::ssf_env,
};

/// Both roles on PostgreSQL (one schema) with `ssf migrate`: `--check` lists the pending
/// migrations and exits 1, `migrate` applies them and says so, then both are up to date; a
/// second run changes nothing. The URL's password never appears.
#[test]
fn migrate_checks_then_applies_every_store_on_postgres() {
    let Some(url) = shared_server() else { return };
    let schema = Schema::create(&url);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // A password in the URL: trust auth ignores it, and it must never be printed.
    let with_password = url.replacen("postgres://postgres@", "postgres://postgres:s3cret@", 1);
    let config = format!(
        "[transmitter]\nissuer = \"https://idp.example.com\"\ndatabase = \"{with_password}\"\n\
         [transmitter.postgres]\nschema = \"{s}\"\n\
         [receiver]\npublic_base_url = \"https://rx.example.com\"\ndatabase = \"{with_password}\"\n\
         [receiver.postgres]\nschema = \"{s}\"\n",
        s = schema.name
    );
    std::fs::write(p.join("ssf.toml"), config).unwrap();
    let migrate = |extra: &[&str]| {
        let mut args = vec!["migrate", "--config", "ssf.toml"];
        args.extend_from_slice(extra);
        ssf_env(p, &args, &[])
    };
    let check = migrate(&["--check"]);
    assert_eq!(check.code, 1, "{}{}", check.stdout, check.stderr);
    assert!(
        check
            .stdout
            .contains("2 pending: 0001 transmitter, 0002 idempotency"),
        "{}",
        check.stdout
    );
    assert!(check.stdout.contains("receiver"), "{}", check.stdout);
    let applied = migrate(&[]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert_eq!(
        applied.stdout.matches("applied 0001").count(),
        2,
        "{}",
        applied.stdout
    );
    assert!(applied.stdout.contains(&format!("schema {}", schema.name)));
    for run in [migrate(&["--check"]), migrate(&[])] {
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        assert_eq!(
            run.stdout.matches("up to date").count(),
            2,
            "{}",
            run.stdout
        );
    }
    for run in [&check, &applied] {
        assert!(!run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"));
        assert!(run.stdout.contains("postgres:***@"), "{}", run.stdout);
    }
    // `serve --check` names the databases too.
    let summary = ssf_env(p, &["serve", "--config", "ssf.toml", "--check"], &[]);
    assert_eq!(summary.code, 0, "{}", summary.stderr);
    assert!(
        summary
            .stdout
            .contains("transmitter database postgres://postgres:***@")
            && !summary.stdout.contains("s3cret"),
        "{}",
        summary.stdout
    );
}

/// The default SQLite stores: `--check` reads without creating the files, `migrate` creates and
/// migrates them.
#[test]
fn migrate_on_the_default_sqlite_stores() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("ssf.toml"),
        "[server]\ndata_dir = \"data\"\n[transmitter]\n[receiver]\n",
    )
    .unwrap();
    let check = ssf_env(p, &["migrate", "--config", "ssf.toml", "--check"], &[]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    assert!(
        check.stdout.contains(
            "sqlite://data/transmitter.db: 2 pending: 0001 transmitter, 0002 idempotency"
        ),
        "{}",
        check.stdout
    );
    assert!(
        !p.join("data/transmitter.db").exists(),
        "--check changes nothing"
    );
    let applied = ssf_env(p, &["migrate", "--config", "ssf.toml"], &[]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert!(
        applied
            .stdout
            .contains("sqlite://data/receiver.sqlite: applied 0001"),
        "{}",
        applied.stdout
    );
    assert!(p.join("data/transmitter.db").exists() && p.join("data/receiver.sqlite").exists());
    let again = ssf_env(p, &["migrate", "--config", "ssf.toml", "--check"], &[]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}

/// Unusable databases: nothing listening, a database that does not exist, a bad URL. Each
/// message names the setting and the fix; the password is never shown; exit 3 (2 for a bad
/// setting).
#[test]
fn unusable_databases_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let write = |database: &str| {
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[transmitter]\nissuer = \"https://idp.example.com\"\n\
             database = \"{database}\"\n[transmitter.postgres]\nacquire_timeout = \"1s\"\n"
        );
        std::fs::write(p.join("ssf.toml"), config).unwrap();
    };
    // Port 1: nothing listens there.
    write("postgres://ssf:s3cret@127.0.0.1:1/ssf");
    for args in [
        &["serve", "--config", "ssf.toml"][..],
        &["migrate", "--config", "ssf.toml"],
    ] {
        let run = ssf_env(p, args, &[]);
        assert_eq!(run.code, 3, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("transmitter.database")
                && run.stderr.contains("postgres://ssf:***@127.0.0.1:1/ssf")
                && run.stderr.contains("hint:"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("s3cret") && !run.stdout.contains("s3cret"));
    }
    write("mysql://db/ssf");
    let bad = ssf_env(p, &["migrate", "--config", "ssf.toml"], &[]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("transmitter.database"),
        "{}",
        bad.stderr
    );
    if let Some(url) = shared_server() {
        let missing = format!(
            "{}/ssf_no_such_db_{}",
            url.rsplit_once('/').unwrap().0,
            uuid::Uuid::new_v4().simple()
        );
        write(&missing);
        let run = ssf_env(p, &["serve", "--config", "ssf.toml"], &[]);
        assert_eq!(run.code, 3, "{}", run.stderr);
        assert!(
            run.stderr.contains("does not exist") && run.stderr.contains("createdb"),
            "{}",
            run.stderr
        );
    }
}
