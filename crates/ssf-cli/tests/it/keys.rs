//! `ssf keys`: generate, jwks, list, rotate against a real key directory.

use serde_json::Value;

use crate::{AUD, ISS, ok, ssf};

#[test]
fn generate_writes_a_private_pem_and_prints_the_kid() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
        let file = format!("{alg}.pem");
        let kid = ok(p, &["keys", "generate", "--alg", alg, "--out", &file]);
        assert_eq!(kid.trim().len(), 43, "thumbprint kid: {kid}");
        let pem = std::fs::read_to_string(p.join(&file)).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(p.join(&file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{alg}");
        }
        // A PEM file does not record its algorithm: RSA keys default to RS256.
        let jwks = ok(p, &["keys", "jwks", "--key", &file, "--alg", alg]);
        let jwks: Value = serde_json::from_str(&jwks).unwrap();
        let key = &jwks["keys"][0];
        assert_eq!(key["kid"], kid.trim());
        assert_eq!(key["alg"], alg);
        assert_eq!(key["use"], "sig");
        assert!(
            key.get("d").is_none() && key.get("p").is_none(),
            "private member published"
        );
    }
    // A chosen kid.
    let kid = ok(
        p,
        &[
            "keys",
            "generate",
            "--alg",
            "ES256",
            "--kid",
            "tx-1",
            "--out",
            "named.pem",
        ],
    );
    assert_eq!(kid.trim(), "tx-1");
    let jwks: Value = serde_json::from_str(&ok(
        p,
        &["keys", "jwks", "--key", "named.pem", "--kid", "tx-1"],
    ))
    .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], "tx-1");
}

/// Rotation through the CLI: stage -> promote -> retire, with SETs signed along the way.
#[test]
fn key_directory_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let first = ok(
        p,
        &[
            "keys", "generate", "--dir", "keys", "--alg", "ES256", "--kid", "k1",
        ],
    );
    assert_eq!(first.trim(), "k1");
    let sign = |p: &std::path::Path| {
        ok(
            p,
            &[
                "set",
                "sign",
                "--dir",
                "keys",
                "--iss",
                ISS,
                "--aud",
                AUD,
                "--event",
                "session-revoked",
                "--subject",
                "opaque:s1",
            ],
        )
    };
    let old_set = sign(p);

    let staged = ok(
        p,
        &[
            "keys", "rotate", "--dir", "keys", "stage", "--alg", "EdDSA", "--kid", "k2",
        ],
    );
    assert_eq!(staged.trim(), "k2");
    let list = ok(p, &["keys", "list", "--dir", "keys"]);
    assert!(list.contains("current") && list.contains("next"), "{list}");
    std::fs::write(
        p.join("jwks-both.json"),
        ok(p, &["keys", "jwks", "--dir", "keys"]),
    )
    .unwrap();

    ok(p, &["keys", "rotate", "--dir", "keys", "promote"]);
    let new_set = sign(p);
    let verify = |p: &std::path::Path, token: &str, jwks: &str| {
        ssf(
            p,
            &[
                "set", "verify", token, "--jwks", jwks, "--iss", ISS, "--aud", AUD, "--alg",
                "ES256", "--alg", "EdDSA",
            ],
            None,
        )
    };
    let run = verify(p, new_set.trim(), "jwks-both.json");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("kid k2"), "{}", run.stderr);
    assert_eq!(verify(p, old_set.trim(), "jwks-both.json").code, 0);

    let retired = ok(p, &["keys", "rotate", "--dir", "keys", "retire"]);
    assert_eq!(retired.trim(), "k1");
    std::fs::write(
        p.join("jwks-after.json"),
        ok(p, &["keys", "jwks", "--dir", "keys"]),
    )
    .unwrap();
    let run = verify(p, old_set.trim(), "jwks-after.json");
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("invalid_key"), "{}", run.stderr);
    assert_eq!(verify(p, new_set.trim(), "jwks-after.json").code, 0);

    // Promote with nothing staged is refused with a clear message.
    let run = ssf(p, &["keys", "rotate", "--dir", "keys", "promote"], None);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no next key"), "{}", run.stderr);
}
