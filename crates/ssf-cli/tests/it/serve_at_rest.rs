//! Data at rest and self-advertised URLs of `ssf serve` (issue 12, items 11 and 8): an
//! owner-only data directory and database files (SSF-SEC-14), the push `authorization_header`
//! encrypted with the secrets key (D-TX-18), and no plain-http issuer or public URL on a
//! non-loopback host outside development mode (D-TX-19).

use crate::{
    serve::TRANSMITTER,
    server::{Server, TEST_SECRETS_KEY, get, ssf_env, ssf_json, token},
};

const OTHER_KEY: &str = "b3RoZXItc2VjcmV0cy1rZXktMDEyMzQ1Njc4OWFiY2Q=";

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Item 11 end to end: a loose data directory is tightened, the database is 0600, the
/// header the receiver gave is neither in the database file nor in any answer, a restart with
/// another key is refused naming the stream and the settings, and a previous key rotates.
#[test]
fn data_is_private_and_push_secrets_are_encrypted_at_rest_d_tx_18() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let data = p.join("data");
    std::fs::create_dir(&data).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let server = Server::start(p, TRANSMITTER, &[]);
    #[cfg(unix)]
    {
        assert_eq!(mode(&data), 0o700, "tightened at start");
        assert_eq!(mode(&data.join("transmitter.db")), 0o600);
        assert_eq!(mode(&data.join("keys")), 0o700);
    }
    let banner = server.stdout.lock().unwrap().join("\n");
    assert!(banner.contains("SSF_SECRETS_KEY"), "{banner}");
    let creds = server.credentials("data");
    let rx_id = creds["receiver"]["client_id"].as_str().unwrap().to_owned();
    let rx_secret = creds["receiver"]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = ssf_json(
        p,
        &[
            "stream",
            "create",
            "--issuer",
            &server.base,
            "--client-id",
            &rx_id,
            "--push",
            "http://127.0.0.1:9/push",
            "--push-auth",
            "Bearer at-rest-secret",
            "--event",
            "session-revoked",
        ],
        &[("SSF_CLIENT_SECRET", &rx_secret)],
    );
    assert!(!created.to_string().contains("at-rest-secret"), "{created}");
    let stream_id = created["stream_id"].as_str().unwrap().to_owned();
    let bearer = token(&server, &rx_id, &rx_secret);
    let (status, read) = crate::server::get_with_token(
        &server.url(&format!("/ssf/streams?stream_id={stream_id}")),
        &bearer,
    );
    assert_eq!(status, 200, "{read}");
    assert!(
        !read.contains("at-rest-secret") && !read.contains("authorization_header"),
        "{read}"
    );
    let mut bytes = std::fs::read(data.join("transmitter.db")).unwrap();
    bytes.extend(std::fs::read(data.join("transmitter.db-wal")).unwrap_or_default());
    let needle = b"at-rest-secret";
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "plaintext on disk"
    );
    assert_eq!(server.stop(), 0);

    // Another key: refused at start, naming the stream and both settings.
    let serve = ["serve", "--config", "ssf.toml"];
    let wrong = ssf_env(p, &serve, &[("SSF_SECRETS_KEY", OTHER_KEY)]);
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains(&stream_id)
            && wrong.stderr.contains("SSF_SECRETS_KEY")
            && wrong.stderr.contains("secrets_key_file")
            && !wrong.stderr.contains("at-rest-secret"),
        "{}",
        wrong.stderr
    );
    // Rotation: the old key as the previous one re-encrypts; then the new key alone works.
    let rotating = Server::start(
        p,
        TRANSMITTER,
        &[
            ("SSF_SECRETS_KEY", OTHER_KEY),
            ("SSF_SECRETS_KEY_PREVIOUS", TEST_SECRETS_KEY),
        ],
    );
    assert_eq!(rotating.stop(), 0);
    let rotated = Server::start(p, TRANSMITTER, &[("SSF_SECRETS_KEY", OTHER_KEY)]);
    assert_eq!(get(&rotated.url("/healthz")).0, 200);
    assert_eq!(rotated.stop(), 0);
}

/// Without a key outside development mode the transmitter does not start, and `--check` says
/// so, naming both ways to set one; `--dev` generates one into the data directory (0600).
#[test]
fn a_secrets_key_is_required_outside_development_d_tx_18() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let config = TRANSMITTER.replacen(
        "[transmitter]\n",
        "[transmitter]\nissuer = \"https://idp.example.com\"\n",
        1,
    );
    std::fs::write(p.join("ssf.toml"), &config).unwrap();
    let check = ["serve", "--config", "ssf.toml", "--check"];
    let missing = ssf_env(p, &check, &[("SSF_SECRETS_KEY", "")]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing
            .stderr
            .contains("transmitter.storage.secrets_key_file")
            && missing.stderr.contains("SSF_SECRETS_KEY")
            && missing.stderr.contains("--dev"),
        "{}",
        missing.stderr
    );
    let started = ssf_env(
        p,
        &["serve", "--config", "ssf.toml"],
        &[("SSF_SECRETS_KEY", "")],
    );
    assert_eq!(started.code, 2, "{}", started.stderr);
    let short = ssf_env(p, &check, &[("SSF_SECRETS_KEY", "c2hvcnQ=")]);
    assert_eq!(short.code, 2);
    assert!(short.stderr.contains("32 bytes"), "{}", short.stderr);

    std::fs::write(p.join("secrets.key"), format!("{TEST_SECRETS_KEY}\n")).unwrap();
    let with_file = config.replacen(
        "[transmitter]\n",
        "[transmitter]\nstorage = { secrets_key_file = \"secrets.key\" }\n",
        1,
    );
    std::fs::write(p.join("ssf.toml"), &with_file).unwrap();
    let ok = ssf_env(p, &check, &[("SSF_SECRETS_KEY", "")]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(
        ok.stdout.contains("secrets key file secrets.key"),
        "{}",
        ok.stdout
    );

    let dev = Server::start_args(p, &config, &[("SSF_SECRETS_KEY", "")], &["--dev"]);
    let key = p.join("data").join("secrets.key");
    assert!(key.exists());
    #[cfg(unix)]
    assert_eq!(mode(&key), 0o600);
    assert_eq!(dev.stop(), 0);
}

/// Item 8: an http issuer, base_url or receiver public_base_url on a non-loopback host is
/// refused by `--check` and by `ssf serve`, naming the setting, the value and the fix;
/// loopback and `--dev` pass.
#[test]
fn plain_http_self_urls_need_loopback_or_dev_d_tx_19() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let run = |config: &str, args: &[&str]| {
        std::fs::write(p.join("ssf.toml"), config).unwrap();
        let mut all = vec!["serve", "--config", "ssf.toml"];
        all.extend_from_slice(args);
        ssf_env(p, &all, &[])
    };
    let tx = |issuer: &str| {
        TRANSMITTER.replacen(
            "[transmitter]\n",
            &format!("[transmitter]\nissuer = \"{issuer}\"\n"),
            1,
        )
    };
    let http = tx("http://idp.example.com");
    let refused = run(&http, &["--check"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("transmitter.issuer")
            && refused.stderr.contains("http://idp.example.com")
            && refused.stderr.contains("https://")
            && refused.stderr.contains("--dev"),
        "{}",
        refused.stderr
    );
    let served = run(&http, &[]);
    assert_eq!(served.code, 2, "ssf serve refuses too: {}", served.stderr);
    assert!(
        served.stderr.contains("transmitter.issuer"),
        "{}",
        served.stderr
    );
    assert_eq!(run(&http, &["--check", "--dev"]).code, 0);
    for ok in [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://[::1]:8080",
        "https://idp.example.com",
    ] {
        let run = run(&tx(ok), &["--check"]);
        assert_eq!(run.code, 0, "{ok}: {}", run.stderr);
    }
    let base = TRANSMITTER.replacen(
        "[transmitter]\n",
        "[transmitter]\nissuer = \"http://127.0.0.1:8080\"\nbase_url = \"http://10.0.0.5\"\n",
        1,
    );
    let refused = run(&base, &["--check"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("transmitter.base_url"),
        "{}",
        refused.stderr
    );
    let rx = "[server]\nlisten = \"127.0.0.1:0\"\n[receiver]\npublic_base_url = \"http://rx.example.com\"\n";
    let refused = run(rx, &["--check"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("receiver.public_base_url")
            && refused.stderr.contains("http://rx.example.com"),
        "{}",
        refused.stderr
    );
}
