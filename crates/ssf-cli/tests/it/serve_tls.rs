//! `ssf serve` with `[server.tls]`: https served natively (rustls), the issuer following the
//! https URL. Needs the `openssl` command to make a self-signed certificate; skipped without it.

use std::process::Command;

use serde_json::Value;

use crate::server::{Server, runtime, wait_for};

/// `GET url` trusting only `ca_pem`: status and body (status 0 when nothing answered).
fn get_trusting(ca_pem: &[u8], url: &str) -> (u16, String) {
    let cert = reqwest::Certificate::from_pem(ca_pem).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(cert)
        .build()
        .unwrap();
    let url = url.to_owned();
    runtime().block_on(async move {
        match client.get(&url).send().await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, format!("{e:?}")),
        }
    })
}

#[test]
fn native_tls_serves_https() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // A test CA and a server certificate for 127.0.0.1 signed by it.
    let script = "set -e
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \\
            -keyout ca.key -out ca.pem -days 1 -subj /CN=ssf-test-ca
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \\
            -keyout key.pem -out leaf.csr -subj /CN=127.0.0.1
        printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=critical,CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > leaf.ext
        openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial \\
            -out cert.pem -days 1 -extfile leaf.ext";
    let made = Command::new("sh")
        .args(["-c", script])
        .current_dir(p)
        .output();
    if !made.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: the openssl command could not make a test certificate");
        return;
    }
    let config = r#"
[server]
listen = "127.0.0.1:0"
data_dir = "data"
shutdown_timeout = "5s"
tls = { cert = "cert.pem", key = "key.pem" }

[transmitter]
"#;
    let server = Server::spawn(p, config, &[]);
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let ca = std::fs::read(p.join("ca.pem")).unwrap();
    let mut last = String::new();
    wait_for("/healthz over https", || {
        let (status, body) = get_trusting(&ca, &server.url("/healthz"));
        if status != 200 && body != last {
            eprintln!("healthz: {status} {body}");
            last = body;
        }
        (status == 200).then_some(())
    });
    let (status, body) = get_trusting(&ca, &server.url("/.well-known/ssf-configuration"));
    assert_eq!(status, 200);
    let metadata: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(metadata["issuer"], server.base.as_str());
    assert_eq!(
        metadata["jwks_uri"],
        format!("{}/jwks.json", server.base).as_str()
    );
    assert_eq!(server.stop(), 0);
}

/// `serve --check` reads the TLS files: a missing one is a configuration error naming the key.
#[test]
fn check_reports_missing_tls_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ssf.toml"),
        "[server]\ntls = { cert = \"missing.pem\", key = \"missing.key\" }\n[transmitter]\n",
    )
    .unwrap();
    let run = crate::server::ssf_env(
        dir.path(),
        &["serve", "--config", "ssf.toml", "--check"],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("server.tls.cert"), "{}", run.stderr);
}
