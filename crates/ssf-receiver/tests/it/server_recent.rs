//! The log of recent SETs (`SetReceiver::recent`): pushes and polls land in one bounded log,
//! newest first, with what became of each SET, and never the token itself.

use std::sync::Arc;

use serde_json::json;
use ssf_receiver::{
    handler::EventHandler,
    pipeline::UnavailableKeys,
    receive::{PollSetProcessor, Receipt, SetProcessor},
    recent::{RecentFilter, RecentOutcome, RecentSet},
};
use ssf_types::Jti;

use crate::server_support::{
    CAEP, ISS, NOW, Rx, RxOptions, STREAM_KEY, StateHandler, claims, forge, header, impostor_key,
    sign, with_event,
};

fn find(rx: &Rx, jti: &str) -> Vec<RecentSet> {
    rx.receiver.recent_matching(&RecentFilter::all().jti(jti))
}

/// A pushed SET that changed state is `applied`, with its verified claims and the subject keys
/// of its audit entry; the same SET again is a `duplicate` (SSF-RXV-13); a SET signed by another
/// key is `rejected` with the push's `err`, its claims marked unverified and no subject.
#[tokio::test]
async fn pushes_are_logged_applied_duplicate_or_rejected_with_the_reason() {
    let rx = Rx::start_with(RxOptions {
        handler: Some(Arc::new(StateHandler::default()) as Arc<dyn EventHandler>),
        ..RxOptions::default()
    })
    .await;
    let token = sign(&claims("r-1"));
    rx.push_accepted(&token).await;
    rx.push_accepted(&token).await;
    let forged = forge(&header(impostor_key()), &claims("r-2"), impostor_key());
    let err = rx.push_rejected(&forged).await;

    let all = rx.receiver.recent();
    let outcomes: Vec<_> = all
        .iter()
        .map(|e| (e.jti.as_deref().unwrap(), e.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("r-2", RecentOutcome::Rejected),
            ("r-1", RecentOutcome::Duplicate),
            ("r-1", RecentOutcome::Applied),
        ],
        "newest first"
    );
    let applied = &all[2];
    assert!(applied.verified);
    assert_eq!(applied.at.as_secs(), NOW);
    assert_eq!(
        (applied.peer.as_str(), applied.stream_key.as_str()),
        ("acme-idp", STREAM_KEY)
    );
    assert_eq!(applied.iss.as_deref(), Some(ISS));
    assert_eq!(applied.txn.as_deref(), Some("t-1"));
    assert_eq!(
        applied.event_type.as_deref(),
        Some(format!("{CAEP}session-revoked").as_str())
    );
    assert_eq!(
        applied.subject,
        Some(json!({"format": "email", "email": "jane@example.com"}))
    );
    assert_eq!(applied.subject_keys, ["jane@example.com"]);
    assert_eq!((&applied.err, &applied.description), (&None, &None));

    let rejected = &all[0];
    assert!(
        !rejected.verified,
        "its claims are as the token states them"
    );
    assert_eq!(rejected.subject, None, "no subject without verification");
    assert_eq!(rejected.err.as_deref(), Some(err.as_str()));
    assert!(
        rejected
            .description
            .as_deref()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(rejected.iss.as_deref(), Some(ISS));

    // Never the token (nor its signature).
    let logged = serde_json::to_string(&all).unwrap();
    for t in [&token, &forged] {
        let signature = t.rsplit('.').next().unwrap();
        assert!(!logged.contains(signature), "{logged}");
    }
    assert_eq!(
        serde_json::to_value(&all[1]).unwrap()["outcome"],
        "duplicate"
    );
}

/// Polled SETs land in the same log: an event the handler plans nothing for is `no_change`, an
/// event type nobody requested is `discarded` with the reason, a token that is not a SET is
/// `rejected` without claims, and one that cannot be judged (keys down) is `unavailable`.
/// Filters find a SET by subject (a key or an identifier value) or by `jti`.
#[tokio::test]
async fn polls_share_the_log_and_filters_find_subjects_and_jtis() {
    let rx = Rx::start().await;
    let poll = PollSetProcessor::new(
        Arc::clone(&rx.receiver),
        Arc::clone(&rx.streams),
        STREAM_KEY,
    );
    let plain = sign(&claims("p-1"));
    assert_eq!(
        poll.process(&Jti::new("p-1"), &plain).await,
        Receipt::Applied
    );
    let mut bob = with_event(
        claims("p-2"),
        "https://example.com/event-type/custom",
        json!({}),
    );
    bob["sub_id"] = json!({"format": "email", "email": "bob@example.com"});
    assert_eq!(
        poll.process(&Jti::new("p-2"), &sign(&bob)).await,
        Receipt::Applied
    );
    assert!(matches!(
        poll.process(&Jti::new("p-3"), "not-a-set").await,
        Receipt::Rejected { .. }
    ));

    let [first] = find(&rx, "p-1").try_into().unwrap();
    assert_eq!(
        first.outcome,
        RecentOutcome::NoChange,
        "the handler wrote nothing"
    );
    let [second] = find(&rx, "p-2").try_into().unwrap();
    assert_eq!(second.outcome, RecentOutcome::Discarded);
    assert_eq!(second.description.as_deref(), Some("unknown_event_type"));
    let newest = &rx.receiver.recent()[0];
    assert_eq!(newest.outcome, RecentOutcome::Rejected);
    assert_eq!(newest.err.as_deref(), Some("invalid_request"));
    assert_eq!((newest.jti.as_deref(), newest.iss.as_deref()), (None, None));

    let about = |subject: &str| -> Vec<String> {
        rx.receiver
            .recent_matching(&RecentFilter::all().subject(subject))
            .into_iter()
            .filter_map(|e| e.jti)
            .collect()
    };
    assert_eq!(about("Jane@Example.com"), ["p-1"]);
    assert_eq!(about("bob@example.com"), ["p-2"]);
    assert!(about("email").is_empty());
    assert_eq!(
        rx.receiver
            .recent_matching(&RecentFilter::all().limit(2))
            .len(),
        2
    );

    let down = Rx::start_with(RxOptions {
        keys: Arc::new(UnavailableKeys),
        ..RxOptions::default()
    })
    .await;
    let poll = PollSetProcessor::new(
        Arc::clone(&down.receiver),
        Arc::clone(&down.streams),
        STREAM_KEY,
    );
    assert!(matches!(
        poll.process(&Jti::new("p-4"), &sign(&claims("p-4"))).await,
        Receipt::Unavailable(_)
    ));
    let [unjudged] = find(&down, "p-4").try_into().unwrap();
    assert_eq!(unjudged.outcome, RecentOutcome::Unavailable);
    assert!(!unjudged.verified);
    assert!(unjudged.description.is_some());
}

/// The log keeps the newest `capacity` SETs.
#[tokio::test]
async fn the_log_is_bounded() {
    let rx = Rx::start().await;
    assert_eq!(
        rx.receiver.recent_sets().capacity(),
        ssf_receiver::recent::DEFAULT_RECENT_CAPACITY
    );
    for i in 0..3 {
        rx.push_accepted(&sign(&claims(&format!("b-{i}")))).await;
    }
    assert_eq!(rx.receiver.recent().len(), 3);
    let pipeline = rx.receiver.pipeline().clone();
    let small =
        ssf_receiver::receive::SetReceiver::new(pipeline, Arc::clone(rx.receiver.applier()))
            .with_recent_capacity(2);
    let ctx = rx.streams.get(STREAM_KEY).unwrap();
    for i in 3..6 {
        small
            .receive(&ctx, sign(&claims(&format!("b-{i}"))).as_bytes())
            .await;
    }
    let jtis: Vec<_> = small.recent().into_iter().filter_map(|e| e.jti).collect();
    assert_eq!(jtis, ["b-5", "b-4"]);
}
