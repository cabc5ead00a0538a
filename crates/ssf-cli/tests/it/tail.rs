//! `ssf tail` against a running `ssf serve`: a SET that fails verification is printed with its
//! reason and reported in `setErrs` (never returned again, RFC 8936 §2.4), and `--no-ack`
//! leaves verified SETs to be delivered again.

use serde_json::{Value, json};

use crate::{
    serve::TRANSMITTER,
    server::{Server, post, ssf_env, ssf_json, token, wait_for},
};

#[test]
fn refused_sets_go_to_set_errs_and_no_ack_leaves_sets_for_redelivery() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // SETs handed out and not acknowledged come back after 1 s (an env override of a duration).
    let server = Server::start(
        p,
        TRANSMITTER,
        &[("SSF_TRANSMITTER__POLL__REDELIVERY_AFTER", "1s")],
    );
    let base = server.base.clone();
    let creds = server.credentials("data");
    let rx_secret = creds["receiver"]["client_secret"].as_str().unwrap();
    let px_secret = creds["producer"]["client_secret"].as_str().unwrap();
    let token = token(&server, "dev-receiver", rx_secret);
    let stream = ssf_json(
        p,
        &[
            "stream",
            "create",
            "--issuer",
            &base,
            "--token",
            &token,
            "--poll",
            "--event",
            "session-revoked",
        ],
        &[],
    );
    let stream_id = stream["stream_id"].as_str().unwrap().to_owned();
    let poll_url = stream["delivery"]["endpoint_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let emit = || {
        ssf_json(
            p,
            &[
                "emit",
                "--transmitter",
                &base,
                "--client-id",
                "dev-producer",
                "--event",
                "session-revoked",
                "--subject",
                "email:jane@example.com",
            ],
            &[("SSF_CLIENT_SECRET", px_secret)],
        )["jtis"][0]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let tail = |extra: &[&str]| {
        let mut args = vec![
            "tail",
            "--issuer",
            &base,
            "--token",
            &token,
            "--stream-id",
            &stream_id,
            "--count",
            "1",
        ];
        args.extend_from_slice(extra);
        let run = ssf_env(p, &args, &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout
    };
    let pending = || {
        let body = json!({ "returnImmediately": true }).to_string();
        let (status, answer) = post(&poll_url, Some(&token), None, "application/json", body);
        assert_eq!(status, 200, "{answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        answer["sets"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };

    // Expecting another audience: refused, reported, and not handed out again.
    let refused = emit();
    let out = tail(&["--aud", "https://someone-else.example"]);
    assert!(out.contains("refused") && out.contains(&refused), "{out}");
    assert!(out.contains("invalid_audience"), "{out}");
    assert!(
        pending().is_empty(),
        "a SET reported in setErrs is not delivered again"
    );

    // --no-ack: verified and printed, then handed out again after redelivery_after.
    let kept = emit();
    let out = tail(&["--no-ack"]);
    assert!(out.contains("verified") && out.contains(&kept), "{out}");
    wait_for("the unacknowledged SET to come back", || {
        pending().contains(&kept).then_some(())
    });
    assert_eq!(server.stop(), 0);
}
