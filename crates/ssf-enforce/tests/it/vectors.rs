//! The checklist vectors TV-CAEP-01..13 and TV-RISC-01..15 (section 15.8, 15.9), read from the
//! copies `ssf-types` keeps, parsed by `ssf-types` and applied.

use serde_json::{Value, json};
use ssf_enforce::{
    AccessPolicy, Decision, DenyKind, EngineConfig, HandleKey, Outcome, ReasonCode, Requirement,
    RowKind, Rule, TokenClaimMapping,
};

use crate::common::{Harness, T0};

macro_rules! tv {
    ($name:literal) => {
        serde_json::from_str::<Value>(include_str!(concat!(
            "../../../ssf-types/tests/vectors/",
            $name,
            ".json"
        )))
        .unwrap()
    };
}

const IDP_123: &str = "https://idp.example.com/123456789/";
const SESSION: &str = "dMTlD|1600802906337.16|16008.16";
const RISC_T: i64 = 1_508_184_845;

fn claims(extra: Value) -> Value {
    let mut t = json!({"iss": IDP_123, "iat": T0 - 10, "auth_time": T0 - 10});
    if let (Value::Object(t), Value::Object(e)) = (&mut t, extra) {
        t.extend(e);
    }
    t
}

#[test]
fn tv_caep_01_opaque_session_revoked_by_iat() {
    let h = Harness::new(EngineConfig::default());
    let plan = h.apply(&tv!("TV-CAEP-01"));
    assert_eq!(plan.audit.outcome, Outcome::Applied);
    assert_eq!(plan.audit.txn.as_deref(), Some("8675309"));
    let old = h.request(&claims(json!({"sub": "u", "sid": SESSION})));
    let d = h.decide(&old);
    assert_eq!(d.reason(), ReasonCode::SessionRevoked);
    assert_eq!(d.cause().unwrap().jti, "24c63fb56e5a2d77a6b512616ca9fa24");
    assert_eq!(d.cause().unwrap().rule, Rule::SessionRevoked);
    let newer = h.request(&claims(json!({"sub": "u", "sid": SESSION, "iat": T0 + 1})));
    assert!(h.decide(&newer).is_allowed());
    let other = h.request(&claims(json!({"sub": "u", "sid": "another"})));
    assert!(h.decide(&other).is_allowed());
}

#[test]
fn tv_caep_02_complex_revocation_needs_every_member_absent_ones_are_wildcards() {
    // SSF-SUB-35: members absent from the subject are wildcards.
    let h = Harness::new(EngineConfig::default());
    h.apply(&tv!("TV-CAEP-02"));
    let sub = "99beb27c-c1c2-4955-882a-e0dc4996fcbc";
    let all = json!({"sub": sub, "sid": SESSION, "tid": "123456789", "device_id": "any-device"});
    assert_eq!(
        h.decide(&h.request(&claims(all))).reason(),
        ReasonCode::SessionRevoked
    );
    // Same user, another session: not covered.
    let other = json!({"sub": sub, "sid": "s2", "tid": "123456789"});
    assert!(h.decide(&h.request(&claims(other))).is_allowed());
    // Another tenant: not covered. No tenant claim at all: covered (cannot prove otherwise).
    let t2 = json!({"sub": sub, "sid": SESSION, "tid": "999"});
    assert!(h.decide(&h.request(&claims(t2))).is_allowed());
    let no_tid = json!({"sub": sub, "sid": SESSION});
    assert!(!h.decide(&h.request(&claims(no_tid))).is_allowed());
}

#[test]
fn tv_caep_03_user_device_tenant_revokes_every_session_on_that_device() {
    let h = Harness::new(EngineConfig::default());
    h.apply(&tv!("TV-CAEP-03"));
    let dev = "e9297990-14d2-42ec-a4a9-4036db86509a";
    for sid in ["s1", "s2"] {
        let c = json!({"sub": "jane.smith@example.com", "sid": sid, "device_id": dev, "tid": "123456789"});
        let d = h.decide(&h.request(&claims(c)));
        assert_eq!(d.http(None).status, 401, "{sid}");
    }
    let laptop = json!({"sub": "jane.smith@example.com", "sid": "s3", "device_id": "laptop", "tid": "123456789"});
    assert!(h.decide(&h.request(&claims(laptop))).is_allowed());
}

#[test]
fn tv_caep_04_05_06_claims_overlay_by_token_id() {
    let config = EngineConfig {
        token: TokenClaimMapping {
            roles: Some("role".into()),
            ..TokenClaimMapping::default()
        },
        access: AccessPolicy {
            roles: [(
                "ro-admin".to_owned(),
                vec![ssf_enforce::Permission {
                    asset: "settings".into(),
                    access: "read".into(),
                }],
            )]
            .into(),
            ..AccessPolicy::default()
        },
        ..EngineConfig::default()
    };
    let h = Harness::new(config);
    h.apply(&tv!("TV-CAEP-04"));
    h.apply(&tv!("TV-CAEP-05"));
    h.apply(&tv!("TV-CAEP-06"));
    let token = json!({"iss": "https://idp.example.com/987654321/", "sub": "u", "role": "admin",
        "jti": "f61t6e20zdo3px56gepu8rzlsp4c1dpc0fx7", "iat": T0 - 10});
    let req = h.request(&token);
    let Decision::Allow { overlay, .. } = h.decide(&req) else {
        panic!()
    };
    assert_eq!(overlay.get("role"), Some(&json!("ro-admin")));
    assert_eq!(overlay.get("trusted_network"), Some(&json!(false)));
    let mut merged = token.as_object().unwrap().clone();
    overlay.apply_to(&mut merged);
    assert_eq!(merged["role"], "ro-admin");
    // RBAC believes the overlay's role.
    let settings = req.with_resource("settings", "main").with_access("read");
    assert_eq!(h.decide(&settings).reason(), ReasonCode::AllowedByRole);
    // A token issued after the change already carries the new claims: no overlay.
    let mut newer = token;
    newer["iat"] = json!(T0 + 10);
    let Decision::Allow { overlay, .. } = h.decide(&h.request(&newer)) else {
        panic!()
    };
    assert!(overlay.is_empty());
    // TV-CAEP-06: a SAML assertion handle (built by the app).
    let mut saml = ssf_enforce::AccessRequest::default();
    saml.handles.push(HandleKey::new(
        "token",
        "saml_assertion_id",
        &[
            "https://idp.example.com/987654321/",
            "_a75adf55-01d7-dbd8372ebdfc",
        ],
    ));
    let Decision::Allow { overlay, .. } = h.decide(&saml) else {
        panic!()
    };
    assert_eq!(
        overlay.get("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/role"),
        Some(&json!("ro-admin"))
    );
}

#[test]
fn tv_caep_07_credential_create_does_not_revoke_but_password_update_does() {
    let h = Harness::new(EngineConfig::default());
    let plan = h.apply(&tv!("TV-CAEP-07"));
    assert_eq!(plan.audit.outcome, Outcome::Recorded);
    assert!(plan.effects.is_empty());
    let jane = json!({"iss": "https://idp.example.com/3456789/", "sub": "jane.smith@example.com", "iat": T0 - 10});
    assert!(h.decide(&h.request(&jane)).is_allowed());
    let mut update = tv!("TV-CAEP-07");
    let ev = &mut update["events"]["https://schemas.openid.net/secevent/caep/event-type/credential-change"];
    ev["credential_type"] = json!("password");
    ev["change_type"] = json!("update");
    h.apply(&update);
    let d = h.decide(&h.request(&jane));
    assert_eq!(d.reason(), ReasonCode::CredentialChanged);
    assert_eq!(d.cause().unwrap().rule, Rule::CredentialChangeRevoke);
}

fn aal_config() -> EngineConfig {
    EngineConfig {
        access: AccessPolicy {
            requirements: vec![Requirement {
                asset: "payments".into(),
                min_acr: Some("nist-aal2".into()),
                ..Requirement::default()
            }],
            roles: [(
                "payer".to_owned(),
                vec![ssf_enforce::Permission {
                    asset: "payments".into(),
                    access: "read".into(),
                }],
            )]
            .into(),
            ..AccessPolicy::default()
        },
        ..EngineConfig::default()
    }
}

#[test]
fn tv_caep_08_09_assurance_changes_meet_or_miss_the_minimum_acr() {
    let h = Harness::new(aal_config());
    let token = json!({"iss": "https://idp.example.com/3456789/", "sub": "jane.smith@example.com",
        "iat": T0 - 10, "auth_time": T0 - 10, "acr": "nist-aal1", "roles": "payer"});
    let pay = h
        .request(&token)
        .with_resource("payments", "p1")
        .with_access("read");
    let Decision::Deny {
        kind: DenyKind::StepUp {
            acr_values,
            max_age,
        },
        reason,
        ..
    } = h.decide(&pay)
    else {
        panic!()
    };
    assert_eq!(reason, ReasonCode::InsufficientAssurance);
    assert_eq!(
        &*acr_values,
        ["nist-aal2".to_owned(), "nist-aal3".to_owned()]
    );
    assert_eq!(max_age, None);
    h.apply(&tv!("TV-CAEP-08"));
    assert!(h.decide(&pay).is_allowed());
    // TV-CAEP-09: a custom namespace level not on the ladder changes nothing.
    h.apply(&tv!("TV-CAEP-09"));
    assert!(h.decide(&pay).is_allowed());
    // A decrease below the minimum asks for step-up again.
    let mut down = tv!("TV-CAEP-08");
    let ev = &mut down["events"]["https://schemas.openid.net/secevent/caep/event-type/assurance-level-change"];
    ev["current_level"] = json!("nist-aal1");
    ev["change_direction"] = json!("decrease");
    ev["event_timestamp"] = json!(T0 + 5);
    down["jti"] = json!("down");
    h.apply(&down);
    let d = h.decide(&pay);
    assert_eq!(d.reason(), ReasonCode::InsufficientAssurance);
    assert_eq!(d.cause().unwrap().jti, "down");
    assert!(
        d.http(None)
            .www_authenticate
            .unwrap()
            .contains("insufficient_user_authentication")
    );
}

#[test]
fn tv_caep_10_device_not_compliant_until_compliant() {
    let h = Harness::new(EngineConfig::default());
    h.apply(&tv!("TV-CAEP-10"));
    let c = claims(
        json!({"sub": "u", "device_id": "e9297990-14d2-42ec-a4a9-4036db86509a", "tid": "123456789"}),
    );
    let d = h.decide(&h.request(&c));
    assert_eq!(d.reason(), ReasonCode::DeviceNotCompliant);
    assert_eq!(d.http(None).status, 403);
    let mut back = tv!("TV-CAEP-10");
    let ev = &mut back["events"]["https://schemas.openid.net/secevent/caep/event-type/device-compliance-change"];
    ev["current_status"] = json!("compliant");
    ev["previous_status"] = json!("not-compliant");
    ev["event_timestamp"] = json!(T0 + 60);
    h.apply(&back);
    assert!(h.decide(&h.request(&c)).is_allowed());
}

#[test]
fn tv_caep_11_12_session_inventory_without_denial() {
    let h = Harness::new(EngineConfig::default());
    h.apply(&tv!("TV-CAEP-11"));
    let mut presented = tv!("TV-CAEP-12");
    presented["events"]["https://schemas.openid.net/secevent/caep/event-type/session-presented"]
        ["event_timestamp"] = json!(T0 + 30);
    h.apply(&presented);
    let rows = h.engine.rows();
    let s = rows.iter().find(|r| r.kind == RowKind::Session).unwrap();
    assert_eq!(s.value["acr"], "AAL2");
    assert_eq!(s.value["amr"], json!(["otp"]));
    assert_eq!(s.value["ext_id"], "12345");
    assert_eq!(s.value["last_seen"], json!((T0 + 30) * 1000));
    assert_eq!(s.value["established_at"], json!(T0 * 1000));
    let c = json!({"iss": "x", "sub": "y", "email": "someuser@somedomain.com"});
    assert!(h.decide(&h.request(&c)).is_allowed());
}

#[test]
fn tv_caep_13_risk_low_allows_high_denies() {
    let h = Harness::new(EngineConfig::default());
    h.apply(&tv!("TV-CAEP-13"));
    let c = json!({"iss": "https://idp.example.com/3456789/", "sub": "jane.doe@example.com", "iat": T0 - 10});
    assert!(h.decide(&h.request(&c)).is_allowed());
    let mut high = tv!("TV-CAEP-13");
    let ev = &mut high["events"]["https://schemas.openid.net/secevent/caep/event-type/risk-level-change"];
    ev["current_level"] = json!("HIGH");
    ev["previous_level"] = json!("LOW");
    ev["event_timestamp"] = json!(T0 + 10);
    h.apply(&high);
    let d = h.decide(&h.request(&c));
    assert_eq!(d.reason(), ReasonCode::RiskTooHigh);
    assert_eq!(d.http(None).status, 403);
}

fn risc_user(iat: i64) -> Value {
    json!({"iss": "https://idp.example.com/", "sub": "7375626A656374", "iat": iat})
}

fn at(mut v: Value, iat: i64) -> Value {
    v["iat"] = json!(iat);
    v
}

#[test]
fn tv_risc_01_02_15_revocations_and_purge() {
    let h = Harness::new(EngineConfig::default());
    h.apply(&tv!("TV-RISC-01"));
    let d = h.decide(&h.request(&risc_user(RISC_T - 1)));
    assert_eq!(d.reason(), ReasonCode::CredentialChangeRequired);
    assert!(h.decide(&h.request(&risc_user(RISC_T + 1))).is_allowed());

    let h = Harness::new(EngineConfig::default());
    h.apply(&tv!("TV-RISC-15"));
    assert_eq!(
        h.decide(&h.request(&risc_user(RISC_T))).reason(),
        ReasonCode::SessionRevoked
    );

    // Purge forgets the user's other rows (the revocation above) and denies.
    let plan = h.apply(&at(tv!("TV-RISC-02"), RISC_T + 10));
    assert!(plan.audit.rules.contains(&Rule::AccountPurgedForget));
    let kinds: Vec<RowKind> = h.engine.rows().iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [RowKind::Account]);
    assert_eq!(
        h.decide(&h.request(&risc_user(RISC_T + 20))).reason(),
        ReasonCode::AccountPurged
    );
}

#[test]
fn tv_risc_03_04_05_disable_and_enable() {
    let h = Harness::new(EngineConfig::default());
    h.apply(&tv!("TV-RISC-04"));
    assert_eq!(
        h.decide(&h.request(&risc_user(RISC_T - 5))).reason(),
        ReasonCode::AccountDisabled
    );
    h.apply(&at(tv!("TV-RISC-05"), RISC_T + 10));
    assert!(h.decide(&h.request(&risc_user(RISC_T - 5))).is_allowed());
    // Hijacking also revokes the sessions issued before it, so enabling does not bring them back.
    h.apply(&at(tv!("TV-RISC-03"), RISC_T + 20));
    h.apply(&at(tv!("TV-RISC-05"), RISC_T + 30));
    let d = h.decide(&h.request(&risc_user(RISC_T + 15)));
    assert_eq!(d.reason(), ReasonCode::AccountDisabled);
    assert_eq!(d.cause().unwrap().rule, Rule::AccountDisabledRevoke);
    assert!(h.decide(&h.request(&risc_user(RISC_T + 25))).is_allowed());
}

#[test]
fn tv_risc_06_identifier_changed_moves_state_to_new_email() {
    let h = Harness::new(EngineConfig::default());
    // State under the old address: disabled account and a revocation.
    let mut disable = tv!("TV-RISC-04");
    disable["sub_id"] = json!({"format": "email", "email": "john.doe@example.com"});
    h.apply(&at(disable, RISC_T - 10));
    let old = json!({"iss": "x", "sub": "y", "email": "john.doe@example.com"});
    let new = json!({"iss": "x", "sub": "y", "email": "John.Roe@example.com"});
    assert!(!h.decide(&h.request(&old)).is_allowed());
    assert!(h.decide(&h.request(&new)).is_allowed());
    let plan = h.apply(&tv!("TV-RISC-06"));
    assert_eq!(plan.audit.rules, [Rule::IdentifierChanged]);
    assert!(h.decide(&h.request(&old)).is_allowed());
    assert_eq!(
        h.decide(&h.request(&new)).reason(),
        ReasonCode::AccountDisabled
    );
    // D-21: an iss_sub subject is accepted but not acted on.
    let mut odd = tv!("TV-RISC-06");
    odd["sub_id"] = json!({"format": "iss_sub", "iss": "https://idp.example.com/", "sub": "x"});
    let plan = h.apply(&odd);
    assert_eq!(plan.audit.outcome, Outcome::Ignored);
}

#[test]
fn tv_risc_07_08_to_14_record_or_revoke() {
    let h = Harness::new(EngineConfig::default());
    for (tv, outcome) in [
        (tv!("TV-RISC-07"), Outcome::Recorded),
        (tv!("TV-RISC-13"), Outcome::Recorded),
        (tv!("TV-RISC-14"), Outcome::Recorded),
        (tv!("TV-RISC-09"), Outcome::Applied),
        (at(tv!("TV-RISC-10"), RISC_T + 1), Outcome::Applied),
        (at(tv!("TV-RISC-11"), RISC_T + 2), Outcome::Applied),
        (at(tv!("TV-RISC-12"), RISC_T + 3), Outcome::Applied),
    ] {
        assert_eq!(h.apply(&tv).audit.outcome, outcome);
    }
    let rows = h.engine.rows();
    let opt = rows.iter().find(|r| r.kind == RowKind::OptState).unwrap();
    assert_eq!(opt.value["state"], "opt-out");
    assert!(h.decide(&h.request(&risc_user(RISC_T - 1))).is_allowed());

    h.apply(&tv!("TV-RISC-08"));
    let joe = json!({"iss": "https://idp.example.com/3456790/", "sub": "joe.smith@example.com", "iat": RISC_T});
    assert_eq!(
        h.decide(&h.request(&joe)).reason(),
        ReasonCode::CredentialCompromised
    );
}
