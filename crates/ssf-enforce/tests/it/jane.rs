//! The seed scenario: JIT access to a critical customer record beside RBAC (DESIGN.md role 4).

use serde_json::{Value, json};
use ssf_enforce::{AccessPolicy, DenyKind, EngineConfig, Permission, ReasonCode, Rule};

use crate::common::{Harness, T0, caep, email, set, token};

pub(crate) fn jane_config() -> EngineConfig {
    let perm = |asset: &str, access: &str| Permission {
        asset: asset.into(),
        access: access.into(),
    };
    EngineConfig {
        access: AccessPolicy {
            roles: [(
                "support".to_owned(),
                vec![perm("kb:*", "read_write"), perm("customer", "read")],
            )]
            .into(),
            groups: [(
                "support-tier2".to_owned(),
                vec![perm("ticket", "read_write")],
            )]
            .into(),
            critical: vec!["customer".into()],
            ..AccessPolicy::default()
        },
        ..EngineConfig::default()
    }
}

fn jane_token() -> Value {
    let mut t = token("jane", "s-jane-1", T0 - 100);
    t["roles"] = json!(["support"]);
    t
}

fn grant(jti: &str, access: &str, ts: i64) -> Value {
    set(
        jti,
        &caep("token-claims-change"),
        email("Jane@Example.com"),
        json!({"claims": {"customer_id": "C2148", "access_allowed": access}}),
        Some(ts),
    )
}

#[test]
fn jane_jit_grant_lifecycle_beside_rbac() {
    let h = Harness::new(jane_config());
    let jane = h.request(&jane_token());
    let c2148 = |access: &str| {
        jane.clone()
            .with_resource("customer", "C2148")
            .with_access(access)
    };
    let kb = jane
        .clone()
        .with_resource("kb", "article-7")
        .with_access("read_write");

    // No grant: the critical customer is refused although the role reads every customer.
    let d = h.decide(&c2148("read"));
    assert_eq!(d.reason(), ReasonCode::GrantRequired);
    assert_eq!(d.http(None).status, 403);
    assert_eq!(h.decide(&kb).reason(), ReasonCode::AllowedByRole);

    // The ticket bridge grants read_write on C2148.
    let plan = h.apply(&grant("grant-1", "read_write", T0));
    assert_eq!(plan.audit.rules, [Rule::JitGrant]);
    for access in ["read", "read_write"] {
        let d = h.decide(&c2148(access));
        assert_eq!(d.reason(), ReasonCode::AllowedByGrant, "{access}");
        let cause = d.cause().unwrap();
        assert_eq!(
            (cause.jti.as_str(), cause.rule),
            ("grant-1", Rule::JitGrant)
        );
        assert_eq!(cause.txn.as_deref(), Some("txn-grant-1"));
    }
    let other = jane
        .clone()
        .with_resource("customer", "C9999")
        .with_access("read");
    assert_eq!(h.decide(&other).reason(), ReasonCode::GrantRequired);
    // The grant claims are consumed, not echoed into the overlay.
    match h.decide(&c2148("read")) {
        ssf_enforce::Decision::Allow { overlay, .. } => assert!(overlay.is_empty()),
        d @ ssf_enforce::Decision::Deny { .. } => panic!("{d:?}"),
    }

    // The ticket closes: access none removes the grant.
    h.apply(&grant("grant-2", "none", T0 + 60));
    assert_eq!(h.decide(&c2148("read")).reason(), ReasonCode::GrantRequired);
    assert_eq!(h.decide(&kb).reason(), ReasonCode::AllowedByRole);

    // Session revoked: 401 whatever the resource.
    h.apply(&set(
        "rev-1",
        &caep("session-revoked"),
        json!({"format": "opaque", "id": "s-jane-1"}),
        json!({}),
        Some(T0 + 120),
    ));
    for req in [&kb, &jane] {
        let d = h.decide(req);
        assert_eq!(d.reason(), ReasonCode::SessionRevoked);
        let c = d.http(Some("app"));
        assert_eq!(c.status, 401);
        assert!(
            c.www_authenticate
                .unwrap()
                .contains("error=\"invalid_token\"")
        );
        assert_eq!(d.cause().unwrap().jti, "rev-1");
    }
    // A token issued after the revocation for the same session passes again.
    let fresh = h.request(&{
        let mut t = token("jane", "s-jane-1", T0 + 200);
        t["roles"] = json!(["support"]);
        t
    });
    assert!(
        h.decide(&fresh.with_resource("kb", "a").with_access("read"))
            .is_allowed()
    );
}

#[test]
fn read_grant_does_not_allow_write_and_expiry_is_honoured() {
    let h = Harness::new(jane_config());
    let jane = h.request(&jane_token());
    // General shape, several assets, one with an expiry in the past of the clock.
    h.apply(&set(
        "g",
        &caep("token-claims-change"),
        email("jane@example.com"),
        json!({"claims": {"grants": [
            {"asset": "customer:C1", "access": "read"},
            {"asset": "customer:C2", "access": "read_write", "expires_at": T0 + 10}
        ]}}),
        Some(T0),
    ));
    let req = |id: &str, a: &str| jane.clone().with_resource("customer", id).with_access(a);
    assert!(h.decide(&req("C1", "read")).is_allowed());
    assert_eq!(
        h.decide(&req("C1", "read_write")).reason(),
        ReasonCode::GrantInsufficient
    );
    assert_eq!(
        h.decide(&req("C2", "read")).reason(),
        ReasonCode::GrantExpired
    );
    let at = ssf_types::UnixMillis::from_secs(T0 + 5);
    assert!(
        h.engine
            .decide_at(&req("C2", "read_write"), at)
            .is_allowed()
    );
    h.clock.set(at);
    assert!(h.decide(&req("C2", "read_write")).is_allowed());
    assert_eq!(
        h.decide(&req("C1", "admin")).reason(),
        ReasonCode::UnknownAccess
    );
}

#[test]
fn dynamic_groups_follow_membership() {
    let h = Harness::new(jane_config());
    let jane = h.request(&jane_token());
    let ticket = jane
        .with_resource("ticket", "T-1")
        .with_access("read_write");
    assert_eq!(h.decide(&ticket).reason(), ReasonCode::NoPermission);
    let groups = |jti: &str, claim: &str, ts: i64| {
        set(
            jti,
            &caep("token-claims-change"),
            email("jane@example.com"),
            json!({"claims": {claim: ["support-tier2"]}}),
            Some(ts),
        )
    };
    h.apply(&groups("g1", "groups_add", T0));
    let d = h.decide(&ticket);
    assert_eq!(d.reason(), ReasonCode::AllowedByGroup);
    assert_eq!(d.cause().unwrap().rule, Rule::DynamicGroup);
    h.apply(&groups("g2", "groups_remove", T0 + 1));
    assert_eq!(h.decide(&ticket).reason(), ReasonCode::NoPermission);
    // Static groups from the token give the same permissions.
    let mut t = jane_token();
    t["groups"] = json!("support-tier2");
    let req = h
        .request(&t)
        .with_resource("ticket", "T-1")
        .with_access("read");
    assert_eq!(h.decide(&req).reason(), ReasonCode::AllowedByGroup);
    // Groups never open a critical asset unless configured.
    let c = h.request(&t).with_resource("customer", "C2148");
    assert!(matches!(
        h.decide(&c),
        ssf_enforce::Decision::Deny {
            kind: DenyKind::Forbidden,
            ..
        }
    ));
}
