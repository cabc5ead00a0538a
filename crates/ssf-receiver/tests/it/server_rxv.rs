//! Checklist table 1.3 (SSF-RXV-01..17) over real HTTP: every row with its status and `err`.

use serde_json::{Value, json};
use ssf_jose::VerifyOptions;
use ssf_receiver::handler::ReceiptNote;
use ssf_store::{AuditQuery, model::StreamStatus};
use ssf_types::ParseMode;

use crate::server_support::{
    AUD, CAEP, ISS, KID, NOW, RISC, Rx, RxOptions, STREAM_KEY, STREAM_UPDATED, b64, claims, ec_key,
    forge, header, impostor_key, sign, tx_key, verification, with_event,
};

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

#[tokio::test]
async fn ssf_rxv_01_not_a_jwt_or_invalid_json_is_invalid_request() {
    let rx = Rx::start().await;
    for body in ["hello", "a.b", "a.b.c.d", "", "{\"iss\":\"x\"}"] {
        assert_eq!(rx.push_rejected(body).await, "invalid_request", "{body:?}");
    }
    // A valid signature over a payload that is not JSON.
    let input = format!("{}.{}", b64(header(tx_key()).to_string()), b64("{not json"));
    let sig = ssf_jose::SigningKey::sign(tx_key(), input.as_bytes()).unwrap();
    let token = format!("{input}.{}", b64(sig));
    assert_eq!(rx.push_rejected(&token).await, "invalid_request");
    assert_eq!(rx.recorded().await, 0);
}

#[tokio::test]
async fn ssf_rxv_02_signature_kid_and_alg_failures_are_invalid_key() {
    let rx = Rx::start().await;
    // Bad signature: another key claiming the transmitter's kid.
    let token = forge(&header(impostor_key()), &claims("bad-sig"), impostor_key());
    assert_eq!(rx.push_rejected(&token).await, "invalid_key");
    // Unknown kid.
    let mut h = header(tx_key());
    h["kid"] = json!("nobody");
    assert_eq!(
        rx.push_rejected(&forge(&h, &claims("kid"), tx_key())).await,
        "invalid_key"
    );
    // Missing kid.
    let h = json!({"typ": "secevent+jwt", "alg": "RS256"});
    assert_eq!(
        rx.push_rejected(&forge(&h, &claims("nokid"), tx_key()))
            .await,
        "invalid_key"
    );
    // An algorithm outside the RS256 allow-list, even with a published key.
    let es = forge(&header(ec_key()), &claims("es256"), ec_key());
    assert_eq!(rx.push_rejected(&es).await, "invalid_key");
    // alg none (TV-NEG-25).
    let none = json!({"typ": "secevent+jwt", "alg": "none", "kid": KID});
    let token = format!(
        "{}.{}.",
        b64(none.to_string()),
        b64(claims("none").to_string())
    );
    assert_eq!(rx.push_rejected(&token).await, "invalid_key");
    // HS256 keyed with the transmitter's public key (algorithm confusion, RFC 8725 §2.1).
    assert_eq!(
        rx.push_rejected(&hs256_with_public_key(&claims("hs")))
            .await,
        "invalid_key"
    );
    assert_eq!(rx.recorded().await, 0);
    assert_eq!(rx.recorder.applied_count(), 0);
}

fn hs256_with_public_key(claims: &Value) -> String {
    use hmac::{Hmac, Mac};
    let public = serde_json::to_vec(&ssf_jose::SigningKey::public_jwk(tx_key())).unwrap();
    let h = json!({"typ": "secevent+jwt", "alg": "HS256", "kid": KID});
    let input = format!("{}.{}", b64(h.to_string()), b64(claims.to_string()));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&public).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn ssf_rxv_03_wrong_issuer_is_invalid_issuer_without_leaking_it() {
    let rx = Rx::start().await;
    let mut c = claims("iss");
    c["iss"] = json!("https://evil.example.com");
    let resp = rx.push(&sign(&c)).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.err(), "invalid_issuer");
    // SSF-SEC-17: the description quotes neither the SET's nor the expected values.
    let text = String::from_utf8_lossy(&resp.body);
    for leak in ["evil", "tx.example.com", "rx.example.com"] {
        assert!(!text.contains(leak), "{text}");
    }
    let mut c = claims("iss-slash");
    c["iss"] = json!(format!("{ISS}/"));
    assert_eq!(
        rx.push_rejected(&sign(&c)).await,
        "invalid_issuer",
        "byte-exact (SSF-SEC-05)"
    );
}

#[tokio::test]
async fn ssf_rxv_04_wrong_or_missing_audience_is_invalid_audience() {
    let rx = Rx::start().await;
    let mut c = claims("aud");
    c["aud"] = json!("https://someone-else.example.com");
    assert_eq!(rx.push_rejected(&sign(&c)).await, "invalid_audience");
    assert_eq!(
        rx.push_rejected(&sign(&without(claims("noaud"), "aud")))
            .await,
        "invalid_audience"
    );
    let mut c = claims("aud-array");
    c["aud"] = json!(["https://other.example.com", AUD]);
    rx.push_accepted(&sign(&c)).await;
}

#[tokio::test]
async fn ssf_rxv_05_typ_must_be_secevent_jwt() {
    let rx = Rx::start().await;
    for typ in [json!("JWT"), json!("application/jwt"), json!(1)] {
        let h = json!({"typ": typ, "alg": "RS256", "kid": KID});
        let token = forge(&h, &claims("typ"), tx_key());
        assert_eq!(rx.push_rejected(&token).await, "invalid_request", "{typ}");
    }
    let h = json!({"alg": "RS256", "kid": KID});
    assert_eq!(
        rx.push_rejected(&forge(&h, &claims("notyp"), tx_key()))
            .await,
        "invalid_request"
    );
    // The long form, in any case, is accepted (TV-HDR-02).
    let h = json!({"typ": "Application/SecEvent+JWT", "alg": "RS256", "kid": KID});
    rx.push_accepted(&forge(&h, &claims("long-typ"), tx_key()))
        .await;
}

#[tokio::test]
async fn ssf_rxv_06_events_missing_or_malformed_is_invalid_request() {
    let rx = Rx::start().await;
    let bad = [
        without(claims("e1"), "events"),
        json!({"events": []}),
        json!({"events": {}}),
        json!({"events": {format!("{CAEP}session-revoked"): 1}}),
        // Two events (SSF-SET-17, CAEPIOP §2.8.1, TV-NEG-04).
        json!({"events": {format!("{CAEP}session-revoked"): {}, format!("{RISC}account-disabled"): {}}}),
    ];
    for (i, patch) in bad.into_iter().enumerate() {
        let mut c = claims(&format!("e-{i}"));
        if let Some(events) = patch.get("events") {
            c["events"] = events.clone();
        } else {
            c = patch;
        }
        assert_eq!(
            rx.push_rejected(&sign(&c)).await,
            "invalid_request",
            "case {i}"
        );
    }
}

#[tokio::test]
async fn ssf_rxv_07_sub_id_missing_or_invalid_is_invalid_request() {
    let rx = Rx::start().await;
    assert_eq!(
        rx.push_rejected(&sign(&without(claims("s1"), "sub_id")))
            .await,
        "invalid_request"
    );
    for sub in [
        json!({"format": "email"}),
        json!("jane"),
        json!({"format": "iss_sub", "iss": "x"}),
    ] {
        let mut c = claims("s2");
        c["sub_id"] = sub.clone();
        assert_eq!(
            rx.push_rejected(&sign(&c)).await,
            "invalid_request",
            "{sub}"
        );
    }
    // A draft `subject` inside the event without sub_id: legacy mode only (D-19, TV-NEG-12).
    let mut c = without(claims("s3"), "sub_id");
    c["events"][format!("{CAEP}session-revoked")]["subject"] =
        json!({"format": "email", "email": "jane@example.com"});
    assert_eq!(rx.push_rejected(&sign(&c)).await, "invalid_request");
}

#[tokio::test]
async fn ssf_rxv_08_sub_or_exp_refused_unless_the_peer_allows_them_d07() {
    let rx = Rx::start().await;
    let mut with_sub = claims("sub");
    with_sub["sub"] = json!("jane");
    let mut with_exp = claims("exp");
    with_exp["exp"] = json!(NOW + 600);
    assert_eq!(rx.push_rejected(&sign(&with_sub)).await, "invalid_request");
    assert_eq!(rx.push_rejected(&sign(&with_exp)).await, "invalid_request");
    assert_eq!(rx.recorded().await, 0);

    let lax = Rx::start_with(RxOptions {
        edit: Box::new(|mut ctx| {
            ctx.verify = VerifyOptions::new(ISS, AUD).allow_sub(true).allow_exp(true);
            ctx.with_parse_mode(ParseMode::Legacy)
        }),
        ..RxOptions::default()
    })
    .await;
    lax.push_accepted(&sign(&with_sub)).await;
    lax.push_accepted(&sign(&with_exp)).await;
}

#[tokio::test]
async fn ssf_rxv_09_event_not_conforming_is_invalid_request() {
    let rx = Rx::start().await;
    let cases = [
        // Enumeration out of range (CAEP-05, TV-NEG-07).
        (
            format!("{CAEP}credential-change"),
            json!({"credential_type": "password", "change_type": "bogus"}),
        ),
        // Required field missing (TV-NEG-06).
        (
            format!("{CAEP}credential-change"),
            json!({"change_type": "update"}),
        ),
        // Wrong JSON type (TV-NEG-09).
        (
            format!("{CAEP}session-revoked"),
            json!({"event_timestamp": "yesterday"}),
        ),
        (
            format!("{CAEP}session-revoked"),
            json!({"initiating_entity": "robot"}),
        ),
        (STREAM_UPDATED.to_owned(), json!({"status": "sleeping"})),
    ];
    for (i, (uri, event)) in cases.into_iter().enumerate() {
        let c = with_event(claims(&format!("ev-{i}")), &uri, event);
        assert_eq!(
            rx.push_rejected(&sign(&c)).await,
            "invalid_request",
            "case {i}"
        );
    }
    // iat in the future beyond the skew (SSF-SET-04).
    let mut c = claims("future");
    c["iat"] = json!(NOW + 3600);
    assert_eq!(rx.push_rejected(&sign(&c)).await, "invalid_request");
    assert_eq!(rx.recorded().await, 0);
}

#[tokio::test]
async fn ssf_rxv_10_verification_state_must_match_the_last_request() {
    let rx = Rx::start().await;
    rx.store
        .set_expected_verification_state(STREAM_KEY, Some("st-1".into()))
        .await
        .unwrap();
    assert_eq!(
        rx.push_rejected(&sign(&verification("v-wrong", Some("st-0"))))
            .await,
        "invalid_state"
    );
    let good = sign(&verification("v-good", Some("st-1")));
    rx.push_accepted(&good).await;
    let stream = rx.store.get_stream(STREAM_KEY).await.unwrap().unwrap();
    assert!(stream.last_verified_at.is_some(), "SSF-EVT-05 bookkeeping");
    // A newer request changes the expected state; the old SET redelivered is still a 202
    // (PUSH-14), and is not applied again.
    rx.store
        .set_expected_verification_state(STREAM_KEY, Some("st-2".into()))
        .await
        .unwrap();
    rx.push_accepted(&good).await;
    assert_eq!(rx.recorder.applied_count(), 1);
    // No state was ever requested, but the SET carries one.
    rx.store
        .set_expected_verification_state(STREAM_KEY, None)
        .await
        .unwrap();
    assert_eq!(
        rx.push_rejected(&sign(&verification("v-3", Some("x"))))
            .await,
        "invalid_state"
    );
}

#[tokio::test]
async fn ssf_rxv_11_verification_subject_must_be_this_stream() {
    let rx = Rx::start().await;
    for sub in [
        json!({"format": "opaque", "id": "another-stream"}),
        json!({"format": "email", "email": "jane@example.com"}),
    ] {
        let mut c = verification("v-sub", None);
        c["sub_id"] = sub;
        assert_eq!(rx.push_rejected(&sign(&c)).await, "invalid_request");
    }
}

#[tokio::test]
async fn ssf_rxv_12_unprocessable_critical_member_is_acknowledged_and_discarded_d06() {
    let rx = Rx::start_with(RxOptions {
        edit: Box::new(|ctx| ctx.with_critical_subject_members(vec!["fleet".into()])),
        ..RxOptions::default()
    })
    .await;
    let mut c = claims("crit");
    c["sub_id"] = json!({"format": "complex",
        "user": {"format": "email", "email": "jane@example.com"},
        "fleet": {"format": "opaque", "id": "f-7"}});
    rx.push_accepted(&sign(&c)).await;
    assert_eq!(
        rx.recorded().await,
        1,
        "recorded, so a redelivery is a duplicate"
    );
    assert_eq!(rx.recorder.planned_count(), 0, "not acted on");
    assert_eq!(rx.recorder.applied_count(), 0);
    let audit = rx
        .store
        .list_audit(AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(audit[0].action, "set.discarded");
    assert_eq!(audit[0].detail["reason"], "unprocessable_critical_member");
    // A critical member the receiver can process is fine.
    let mut c = claims("crit-ok");
    c["sub_id"] =
        json!({"format": "complex", "user": {"format": "email", "email": "j@example.com"}});
    rx.push_accepted(&sign(&c)).await;
    assert_eq!(rx.recorder.applied_count(), 1);
}

#[tokio::test]
async fn ssf_rxv_13_redelivered_set_is_accepted_and_applied_once() {
    let mut rx = Rx::start().await;
    let token = sign(&claims("redelivered"));
    for _ in 0..3 {
        rx.push_accepted(&token).await;
    }
    assert_eq!(rx.recorder.applied_count(), 1);
    assert_eq!(rx.recorder.planned_count(), 1);
    assert_eq!(rx.events.recv().await.unwrap().jti(), "redelivered");
    assert!(rx.events.try_recv().is_err());
}

#[tokio::test]
async fn ssf_rxv_14_event_for_a_removed_subject_is_accepted() {
    // The receiver never filters by its own subject list: whatever it removed, a valid SET for
    // that subject is accepted and never reported as an error (SSF 1.0 §9.3).
    let rx = Rx::start().await;
    let mut c = claims("removed");
    c["sub_id"] = json!({"format": "email", "email": "removed@example.com"});
    rx.push_accepted(&sign(&c)).await;
    assert_eq!(rx.recorder.applied_count(), 1);
}

#[tokio::test]
async fn ssf_rxv_15_unknown_fields_anywhere_are_ignored() {
    let rx = Rx::start().await;
    let mut c = claims("extra");
    c["vendor_claim"] = json!({"a": [1, 2]});
    c["events"][format!("{CAEP}session-revoked")]["vendor_field"] = json!(true);
    c["sub_id"]["vendor_member"] = json!("x");
    let h = json!({"typ": "secevent+jwt", "alg": "RS256", "kid": KID, "x-vendor": 1});
    rx.push_accepted(&forge(&h, &c, tx_key())).await;
    assert_eq!(rx.recorder.applied_count(), 1);
}

#[tokio::test]
async fn ssf_rxv_16_unknown_and_unrequested_event_types_are_accepted_not_acted_on_d05() {
    let rx = Rx::start_with(RxOptions {
        edit: Box::new(|ctx| {
            ctx.with_events_requested(Some([format!("{CAEP}session-revoked")].into()))
        }),
        ..RxOptions::default()
    })
    .await;
    rx.push_accepted(&sign(&with_event(
        claims("u1"),
        "urn:example:vendor:event",
        json!({"x": 1}),
    )))
    .await;
    rx.push_accepted(&sign(&with_event(
        claims("u2"),
        &format!("{RISC}account-enabled"),
        json!({}),
    )))
    .await;
    assert_eq!(rx.recorder.applied_count(), 0);
    assert_eq!(rx.recorded().await, 2);
    // Verification and stream-updated always flow, requested or not.
    rx.push_accepted(&sign(&verification("u3", None))).await;
    rx.push_accepted(&sign(&claims("u4"))).await;
    assert_eq!(rx.recorder.applied_count(), 2);
}

#[tokio::test]
async fn ssf_rxv_17_unsolicited_verification_without_state_is_accepted() {
    let rx = Rx::start().await;
    rx.store
        .set_expected_verification_state(STREAM_KEY, Some("pending".into()))
        .await
        .unwrap();
    rx.push_accepted(&sign(&verification("unsolicited", None)))
        .await;
    assert_eq!(rx.recorder.applied_count(), 1);
}

#[tokio::test]
async fn ssf_evt_18_stream_updated_is_accepted_and_recorded() {
    let rx = Rx::start().await;
    let mut c = with_event(
        claims("su-1"),
        STREAM_UPDATED,
        json!({"status": "paused", "reason": "maintenance"}),
    );
    c["sub_id"] = json!({"format": "opaque", "id": crate::server_support::STREAM_ID});
    rx.push_accepted(&sign(&c)).await;
    let stream = rx.store.get_stream(STREAM_KEY).await.unwrap().unwrap();
    assert_eq!(stream.stream.status, StreamStatus::Paused);
    assert_eq!(stream.stream.status_reason.as_deref(), Some("maintenance"));
    // Another stream's subject: accepted, but the status is not changed.
    let mut c = with_event(
        claims("su-2"),
        STREAM_UPDATED,
        json!({"status": "disabled"}),
    );
    c["sub_id"] = json!({"format": "opaque", "id": "someone-elses"});
    rx.push_accepted(&sign(&c)).await;
    let stream = rx.store.get_stream(STREAM_KEY).await.unwrap().unwrap();
    assert_eq!(stream.stream.status, StreamStatus::Paused);
}

#[tokio::test]
async fn d19_millisecond_timestamp_and_numeric_txn_are_accepted_with_a_note() {
    let mut rx = Rx::start().await;
    let mut c = claims("ms");
    c["events"][format!("{CAEP}session-revoked")]["event_timestamp"] = json!(1_615_304_991_643_i64);
    c["txn"] = json!(8_675_309);
    rx.push_accepted(&sign(&c)).await;
    let set = rx.events.recv().await.unwrap();
    assert_eq!(
        set.notes,
        [
            ReceiptNote::MillisecondEventTimestamp,
            ReceiptNote::NumericTxn
        ]
    );
}

#[tokio::test]
async fn d21_identifier_changed_without_email_or_phone_is_accepted_not_acted_on() {
    let rx = Rx::start().await;
    let mut c = with_event(
        claims("idc"),
        &format!("{RISC}identifier-changed"),
        json!({"new-value": "x"}),
    );
    c["sub_id"] = json!({"format": "iss_sub", "iss": "https://idp.example", "sub": "u1"});
    rx.push_accepted(&sign(&c)).await;
    assert_eq!(rx.recorder.applied_count(), 0);
    let c = with_event(
        claims("idc-ok"),
        &format!("{RISC}identifier-changed"),
        json!({"new-value": "j2@example.com"}),
    );
    rx.push_accepted(&sign(&c)).await;
    assert_eq!(rx.recorder.applied_count(), 1);
}

#[tokio::test]
async fn every_caep_and_risc_event_type_is_accepted() {
    // CONF receiver-stream-supported-events: every CAEP and RISC event, minimal valid bodies.
    let rx = Rx::start().await;
    let caep = [
        ("session-revoked", json!({})),
        ("token-claims-change", json!({"claims": {"role": "admin"}})),
        (
            "credential-change",
            json!({"credential_type": "password", "change_type": "update"}),
        ),
        (
            "assurance-level-change",
            json!({"namespace": "NIST-AAL", "current_level": "nist-aal2"}),
        ),
        (
            "device-compliance-change",
            json!({"previous_status": "compliant", "current_status": "not-compliant"}),
        ),
        ("session-established", json!({})),
        ("session-presented", json!({})),
        (
            "risk-level-change",
            json!({"principal": "USER", "current_level": "HIGH"}),
        ),
    ];
    let risc = [
        ("account-credential-change-required", json!({})),
        ("account-purged", json!({})),
        ("account-disabled", json!({"reason": "hijacking"})),
        ("account-enabled", json!({})),
        (
            "identifier-changed",
            json!({"new-value": "new@example.com"}),
        ),
        ("identifier-recycled", json!({})),
        (
            "credential-compromise",
            json!({"credential_type": "password"}),
        ),
        ("opt-in", json!({})),
        ("opt-out-initiated", json!({})),
        ("opt-out-cancelled", json!({})),
        ("opt-out-effective", json!({})),
        ("recovery-activated", json!({})),
        ("recovery-information-changed", json!({})),
        ("sessions-revoked", json!({})),
    ];
    let all: Vec<(String, Value)> = caep
        .into_iter()
        .map(|(n, e)| (format!("{CAEP}{n}"), e))
        .chain(risc.into_iter().map(|(n, e)| (format!("{RISC}{n}"), e)))
        .collect();
    for (i, (uri, event)) in all.iter().enumerate() {
        let c = with_event(claims(&format!("all-{i}")), uri, event.clone());
        rx.push_accepted(&sign(&c)).await;
    }
    assert_eq!(rx.recorder.applied_count(), 22);
}
