//! The RFC 8936 poller against the fake transmitter: acknowledgements, `setErrs`, redelivered
//! SETs, back-off on errors, transmitter restarts, and the four request patterns.

use std::sync::Arc;

use ssf_jose::{Algorithm, KeyPair, sign_with};
use ssf_receiver::{
    config::JwksSettings, jwks::JwksCache, poller::Poller, receive::SetProcessor,
    token::TokenSource,
};
use ssf_types::secret::SecretString;
use ssf_types::{KeyId, SystemClock};
use tokio_util::sync::CancellationToken;

use crate::{
    client_support::{TestProcessor, fast_poll, http, system_clock, wait_until},
    fake_tx::{self, FakeTransmitter},
};

fn jwks(tx: &FakeTransmitter) -> Arc<JwksCache> {
    Arc::new(
        JwksCache::new(
            http(),
            &format!("{}/jwks", tx.shared.base),
            JwksSettings::default(),
            Arc::new(SystemClock),
        )
        .unwrap(),
    )
}

fn poller(tx: &FakeTransmitter, processor: Arc<dyn SetProcessor>) -> Poller {
    let stream = tx.shared.insert_stream(serde_json::json!({
        "delivery": {"method": "urn:ietf:rfc:8936"},
        "events_requested": [fake_tx::SESSION_REVOKED],
    }));
    Poller::new(
        "idp",
        http(),
        TokenSource::bearer(SecretString::from(fake_tx::STATIC_TOKEN.to_owned())),
        format!("{}/ssf/poll/{stream}", tx.shared.base)
            .parse()
            .unwrap(),
        fast_poll(),
        processor,
        system_clock(),
    )
    .unwrap()
}

fn spawn(p: Poller) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let cancel = CancellationToken::new();
    let task = tokio::spawn(p.run(cancel.clone()));
    (cancel, task)
}

fn acked(tx: &FakeTransmitter, jti: &str) -> usize {
    tx.shared.knobs().acks.iter().filter(|a| *a == jti).count()
}

#[tokio::test]
async fn applied_sets_are_acknowledged_poll_13_14() {
    let tx = FakeTransmitter::start().await;
    let processor = TestProcessor::new(&tx, jwks(&tx));
    let jtis: Vec<String> = (0..3).map(|_| tx.shared.enqueue_valid()).collect();
    let (cancel, task) = spawn(poller(&tx, processor.clone()));
    wait_until("all three acknowledged", || {
        jtis.iter().all(|j| acked(&tx, j) == 1)
    })
    .await;
    assert_eq!(processor.applied(), jtis);
    // Long polls, with maxEvents from the settings (POLL-01/02).
    let first = tx.shared.knobs().poll_requests[0].clone();
    assert_eq!(first["returnImmediately"], false);
    assert_eq!(first["maxEvents"], 10);
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn invalid_sets_go_to_set_errs_never_ack_poll_15() {
    let tx = FakeTransmitter::start().await;
    let processor = TestProcessor::new(&tx, jwks(&tx));
    let stranger = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("k1"))).unwrap();
    let forged = sign_with(&stranger, &tx.shared.claims("forged")).unwrap();
    tx.shared.enqueue("forged", forged);
    let mut wrong_aud = tx.shared.claims("wrong-aud");
    wrong_aud["aud"] = serde_json::json!("https://someone-else.example");
    tx.shared.enqueue("wrong-aud", tx.shared.sign(&wrong_aud));
    let good = tx.shared.enqueue_valid();
    let (cancel, task) = spawn(poller(&tx, processor.clone()));
    wait_until("errors reported", || tx.shared.knobs().set_errs.len() == 2).await;
    wait_until("good one acknowledged", || acked(&tx, &good) == 1).await;
    {
        let k = tx.shared.knobs();
        assert_eq!(k.set_errs["forged"]["err"], "invalid_key");
        assert_eq!(k.set_errs["wrong-aud"]["err"], "invalid_audience");
        assert!(k.set_errs["forged"]["description"].is_string());
        assert!(!k.acks.iter().any(|a| a == "forged" || a == "wrong-aud"));
    }
    assert_eq!(processor.applied(), vec![good]);
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn redelivered_sets_are_acknowledged_again_not_reapplied_poll_13() {
    let tx = FakeTransmitter::start().await;
    let processor = TestProcessor::new(&tx, jwks(&tx));
    let jti = tx.shared.enqueue_valid();
    let set = tx.shared.knobs().queue[&jti].clone();
    let (cancel, task) = spawn(poller(&tx, processor.clone()));
    wait_until("first ack", || acked(&tx, &jti) == 1).await;
    tx.shared.enqueue(&jti, set);
    wait_until("second ack", || acked(&tx, &jti) == 2).await;
    assert_eq!(processor.applied(), vec![jti]);
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn backs_off_on_server_errors_and_honours_retry_after() {
    let tx = FakeTransmitter::start().await;
    let processor = TestProcessor::new(&tx, jwks(&tx));
    // 500, then 503 asking for 2 minutes (capped to 50 ms by max_retry_after), then 429.
    tx.shared.knobs().poll_failures = [
        (500, None),
        (503, Some("120")),
        (429, Some("1")),
        (500, None),
    ]
    .into();
    let jti = tx.shared.enqueue_valid();
    let (cancel, task) = spawn(poller(&tx, processor.clone()));
    wait_until("acknowledged after the failures", || acked(&tx, &jti) == 1).await;
    assert!(tx.shared.knobs().poll_requests.len() >= 5);
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn jwks_outage_leaves_sets_for_redelivery() {
    let tx = FakeTransmitter::start().await;
    tx.shared.knobs().jwks_down = true;
    let processor = TestProcessor::new(&tx, jwks(&tx));
    let jti = tx.shared.enqueue_valid();
    let (cancel, task) = spawn(poller(&tx, processor.clone()));
    wait_until("a few rounds", || {
        tx.shared.knobs().poll_requests.len() >= 3
    })
    .await;
    {
        let k = tx.shared.knobs();
        assert!(
            k.acks.is_empty() && k.set_errs.is_empty(),
            "neither ack nor setErrs"
        );
        assert!(k.queue.contains_key(&jti));
    }
    tx.shared.knobs().jwks_down = false;
    wait_until("acknowledged once the JWKS is back", || {
        acked(&tx, &jti) == 1
    })
    .await;
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn survives_the_transmitter_going_away_and_coming_back() {
    let mut tx = FakeTransmitter::start().await;
    let processor = TestProcessor::new(&tx, jwks(&tx));
    let first = tx.shared.enqueue_valid();
    let (cancel, task) = spawn(poller(&tx, processor.clone()));
    wait_until("first ack", || acked(&tx, &first) == 1).await;
    tx.stop().await;
    let before = tx.shared.knobs().poll_requests.len();
    let second = tx.shared.enqueue_valid();
    tx.restart().await;
    wait_until("ack after the restart", || acked(&tx, &second) == 1).await;
    assert!(tx.shared.knobs().poll_requests.len() > before);
    assert!(!task.is_finished());
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn request_patterns_poll_only_ack_only_with_errors_poll_16() {
    let tx = FakeTransmitter::start().await;
    let processor = TestProcessor::new(&tx, jwks(&tx));
    let mut p = poller(&tx, processor);
    let good = tx.shared.enqueue_valid();
    let mut bad = tx.shared.claims("bad");
    bad["sub"] = serde_json::json!("x");
    tx.shared.enqueue("bad", tx.shared.sign(&bad));
    // Poll only (no ack yet).
    let round = p.poll_once(true).await.unwrap();
    assert_eq!(
        (round.received, round.acknowledged, round.refused),
        (2, 1, 1)
    );
    assert_eq!(p.pending_ack().len(), 1);
    // Acknowledge only, with the error report: maxEvents 0.
    p.acknowledge_only().await.unwrap();
    assert!(p.pending_ack().is_empty());
    let k = tx.shared.knobs();
    let last = k.poll_requests.last().unwrap();
    assert_eq!(last["maxEvents"], 0);
    assert_eq!(last["ack"], serde_json::json!([good]));
    assert_eq!(last["setErrs"]["bad"]["err"], "invalid_request");
    assert!(
        k.poll_requests[0].get("ack").is_none(),
        "no empty ack array"
    );
}

#[tokio::test]
async fn pending_acks_are_flushed_on_cancel() {
    let tx = FakeTransmitter::start().await;
    let processor = TestProcessor::new(&tx, jwks(&tx));
    let mut p = poller(&tx, processor);
    let jti = tx.shared.enqueue_valid();
    p.poll_once(true).await.unwrap();
    assert_eq!(acked(&tx, &jti), 0);
    let cancel = CancellationToken::new();
    cancel.cancel();
    p.run(cancel).await;
    assert_eq!(acked(&tx, &jti), 1, "final acknowledge-only request");
}

/// Issue 12, item 5 (POLL-13, POLL-15, SSF-RXV-13): a transmitter that keeps handing out the
/// same SETs (it loses our `ack` and `setErrs`) is not polled in a tight loop. Driven round by
/// round, one poll request each: a round with a new SET polls again at once; rounds of only
/// duplicates or refused SETs wait along the retry schedule (10, 20, 40 ms, then 40 ms again);
/// a new SET resets it.
#[tokio::test]
async fn rounds_of_duplicates_or_refused_sets_back_off_instead_of_spinning() {
    use std::time::Duration;
    let ms = Duration::from_millis;
    let tx = FakeTransmitter::start().await;
    tx.shared.knobs().sticky_sets = true;
    let processor = TestProcessor::new(&tx, jwks(&tx));
    let mut p = poller(&tx, processor.clone());
    let first = tx.shared.enqueue_valid();
    assert_eq!(p.round().await, None, "a new SET: poll again at once");
    let mut waits = Vec::new();
    for _ in 0..4 {
        waits.push(p.round().await);
    }
    assert_eq!(
        waits,
        [Some(ms(10)), Some(ms(20)), Some(ms(40)), Some(ms(40))],
        "the same SET again and again: a duplicate each round"
    );
    assert_eq!(processor.applied(), vec![first.clone()], "applied once");
    assert_eq!(acked(&tx, &first), 4, "acknowledged again each time");
    assert_eq!(
        tx.shared.knobs().poll_requests.len(),
        5,
        "one request per round"
    );

    // Refused SETs only (the transmitter ignores setErrs too): still backing off.
    tx.shared.knobs().queue.clear();
    let stranger = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("k1"))).unwrap();
    tx.shared.enqueue(
        "forged",
        sign_with(&stranger, &tx.shared.claims("forged")).unwrap(),
    );
    assert_eq!(p.round().await, Some(ms(40)));
    assert_eq!(p.round().await, Some(ms(40)));

    // Progress again: a new SET among the refused one resets the back-off.
    let second = tx.shared.enqueue_valid();
    assert_eq!(p.round().await, None);
    assert_eq!(processor.applied(), vec![first, second]);
    tx.shared.knobs().queue.clear();
    tx.shared.enqueue(
        "forged",
        sign_with(&stranger, &tx.shared.claims("forged")).unwrap(),
    );
    assert_eq!(p.round().await, Some(ms(10)), "the schedule starts over");
    assert_eq!(tx.shared.knobs().poll_requests.len(), 9);
}
