//! Who may grant (D-EN-02), how long a grant lasts (D-EN-03), and which groups open critical
//! assets (D-EN-04): issue 11, "access never outlives its ticket, and only the bridge can grant".

use std::time::Duration;

use serde_json::{Value, json};
use ssf_enforce::{
    AccessPolicy, CriticalGroups, CriticalRule, EngineConfig, GrantAuthority, GrantSource, Outcome,
    Permission, ReasonCode, Rule,
};
use ssf_types::UnixMillis;

use crate::common::{Harness, T0, caep, email, set, token};

const BRIDGE: &str = "https://bridge.example.com/";
const BRIDGE_STREAM: &str = "stream-bridge-1";

fn perm(asset: &str, access: &str) -> Permission {
    Permission {
        asset: asset.into(),
        access: access.into(),
    }
}

/// Jane's policy, with only the bridge's stream allowed to grant.
fn config() -> EngineConfig {
    let mut c = crate::jane::jane_config();
    c.grants = GrantAuthority {
        sources: Some(vec![GrantSource {
            iss: BRIDGE.into(),
            stream_ids: vec![BRIDGE_STREAM.into()],
        }]),
        ..GrantAuthority::default()
    };
    c
}

/// A `token-claims-change` about Jane from `iss`.
fn claims_change(jti: &str, iss: &str, claims: Value, ts: i64) -> Value {
    let mut s = set(
        jti,
        &caep("token-claims-change"),
        email("jane@example.com"),
        json!({ "claims": claims }),
        Some(ts),
    );
    s["iss"] = json!(iss);
    s
}

fn customer(h: &Harness, id: &str) -> ssf_enforce::AccessRequest {
    h.request(&token("jane", "s-1", T0 - 100))
        .with_resource("customer", id)
        .with_access("read")
}

// D-EN-02: a grant from a transmitter not in grants.sources changes nothing; from the listed
// iss and stream it opens the critical asset.
#[test]
fn d_en_02_grants_only_from_the_listed_source_and_stream() {
    let h = Harness::new(config());
    let grant = json!({"customer_id": "C2148", "access_allowed": "read"});
    let idp = crate::common::IDP;

    let plan = h.apply_on(&claims_change("g-idp", idp, grant.clone(), T0), None);
    assert_eq!(plan.audit.outcome, Outcome::Refused);
    assert_eq!(plan.audit.rules, [Rule::GrantRefused]);
    assert_eq!((plan.audit.refused, plan.effects.len()), (1, 0));
    let d = h.decide(&customer(&h, "C2148"));
    assert_eq!(d.reason(), ReasonCode::GrantRequired);
    assert_eq!(d.critical(), Some(CriticalRule::GrantRequired));

    // The general shape and another stream of the right issuer are refused too.
    let shaped = json!({"grants": [{"asset": "customer:C2148", "access": "read"}]});
    let plan = h.apply_on(
        &claims_change("g-other-stream", BRIDGE, shaped.clone(), T0),
        Some("stream-someone-else"),
    );
    assert_eq!(plan.audit.outcome, Outcome::Refused);
    let plan = h.apply_on(&claims_change("g-no-stream", BRIDGE, shaped, T0), None);
    assert_eq!(plan.audit.outcome, Outcome::Refused, "stream unknown");
    assert_eq!(
        h.decide(&customer(&h, "C2148")).reason(),
        ReasonCode::GrantRequired
    );

    let plan = h.apply_on(
        &claims_change("g-bridge", BRIDGE, grant, T0),
        Some(BRIDGE_STREAM),
    );
    assert_eq!(plan.audit.outcome, Outcome::Applied);
    assert_eq!(plan.audit.rules, [Rule::JitGrant]);
    let d = h.decide(&customer(&h, "C2148"));
    assert_eq!(d.reason(), ReasonCode::AllowedByGrant);
    assert_eq!(d.critical(), Some(CriticalRule::Grant));
    assert_eq!(d.cause().unwrap().iss, BRIDGE);
}

// D-EN-02: taking access away is safe from any verified source.
#[test]
fn d_en_02_revokes_and_group_removals_apply_from_any_source() {
    let mut c = config();
    c.access.critical_allows_groups = CriticalGroups::Assets(vec!["customer".into()]);
    c.access
        .groups
        .insert("vip".into(), vec![perm("customer:*", "read")]);
    let h = Harness::new(c);
    let idp = crate::common::IDP;
    h.apply_on(
        &claims_change(
            "g",
            BRIDGE,
            json!({"customer_id": "C1", "access_allowed": "read"}),
            T0,
        ),
        Some(BRIDGE_STREAM),
    );
    assert!(h.decide(&customer(&h, "C1")).is_allowed());

    // The IdP (not allowed to grant) closes it: applied.
    let plan = h.apply_on(
        &claims_change(
            "r",
            idp,
            json!({"customer_id": "C1", "access_allowed": "none"}),
            T0 + 60,
        ),
        None,
    );
    assert_eq!(
        (plan.audit.outcome, plan.audit.refused),
        (Outcome::Applied, 0)
    );
    assert_eq!(
        h.decide(&customer(&h, "C1")).reason(),
        ReasonCode::GrantRequired
    );

    // A group the bridge added is removed by the IdP; the IdP's own additions are refused,
    // while the rest of its SET (an ordinary claim) still applies.
    h.apply_on(
        &claims_change("ga", BRIDGE, json!({"groups_add": ["vip"]}), T0 + 70),
        Some(BRIDGE_STREAM),
    );
    assert_eq!(
        h.decide(&customer(&h, "C9")).critical(),
        Some(CriticalRule::DynamicGroup)
    );
    let plan = h.apply_on(
        &claims_change(
            "gr",
            idp,
            json!({"groups_remove": ["vip"], "groups_add": ["vip2"], "department": "sales"}),
            T0 + 80,
        ),
        None,
    );
    assert_eq!(plan.audit.outcome, Outcome::Applied);
    assert_eq!(plan.audit.refused, 1);
    assert!(plan.audit.rules.contains(&Rule::GrantRefused));
    assert!(plan.audit.rules.contains(&Rule::DynamicGroup));
    assert!(plan.audit.rules.contains(&Rule::ClaimsOverlay));
    assert!(
        plan.effects.iter().all(|e| !e.key().ends_with("#vip2")),
        "{plan:?}"
    );
    assert_eq!(
        h.decide(&customer(&h, "C9")).reason(),
        ReasonCode::GrantRequired
    );
}

// D-EN-03: a grant never lasts longer than grants.max_duration from its event time.
#[test]
fn d_en_03_grant_expiry_is_capped_at_max_duration() {
    let mut c = crate::jane::jane_config();
    c.grants.max_duration = Duration::from_secs(7 * 86_400);
    let h = Harness::new(c);
    let year = T0 + 365 * 86_400;
    let plan = h.apply(&claims_change(
        "g",
        crate::common::IDP,
        json!({"grants": [
            {"asset": "customer:C1", "access": "read", "expires_at": year},
            {"asset": "customer:C2", "access": "read"},
            {"asset": "customer:C3", "access": "read", "expires_at": T0 + 7200}
        ]}),
        T0,
    ));
    assert_eq!(plan.audit.capped, 2);
    let cap = T0 + 7 * 86_400;
    for id in ["C1", "C2", "C3"] {
        assert!(h.decide(&customer(&h, id)).is_allowed(), "{id}");
    }
    h.clock.set(UnixMillis::from_secs(cap - 1));
    assert!(h.decide(&customer(&h, "C1")).is_allowed());
    assert!(h.decide(&customer(&h, "C2")).is_allowed());
    assert_eq!(
        h.decide(&customer(&h, "C3")).reason(),
        ReasonCode::GrantExpired,
        "its own, earlier expiry stays"
    );
    h.clock.set(UnixMillis::from_secs(cap));
    for id in ["C1", "C2"] {
        assert_eq!(
            h.decide(&customer(&h, id)).reason(),
            ReasonCode::GrantExpired,
            "{id}"
        );
    }
}

// D-EN-03: an event time in the future does not stretch the cap past the receiver's clock.
#[test]
fn d_en_03_cap_counts_from_the_clock_when_the_event_claims_a_later_time() {
    let mut c = crate::jane::jane_config();
    c.grants.max_duration = Duration::from_secs(3600);
    let h = Harness::new(c); // clock at T0 + 1 h
    let future = T0 + 30 * 86_400;
    h.apply(&claims_change(
        "g",
        crate::common::IDP,
        json!({"customer_id": "C1", "access_allowed": "read"}),
        future,
    ));
    h.clock.set(UnixMillis::from_secs(T0 + 2 * 3600));
    assert_eq!(
        h.decide(&customer(&h, "C1")).reason(),
        ReasonCode::GrantExpired
    );
}

fn groups_config(dynamic: CriticalGroups) -> EngineConfig {
    let mut c = crate::jane::jane_config();
    c.access = AccessPolicy {
        critical: vec!["customer".into(), "payroll".into()],
        critical_allows_groups: dynamic,
        groups: [(
            "vip".to_owned(),
            vec![perm("customer:*", "read"), perm("payroll:*", "read")],
        )]
        .into(),
        ..c.access
    };
    c
}

// D-EN-04: a group from the caller's own token opens no critical asset unless configured.
#[test]
fn d_en_04_token_groups_do_not_open_critical_assets_by_default() {
    let h = Harness::new(groups_config(CriticalGroups::All));
    let mut t = token("jane", "s-1", T0 - 100);
    t["groups"] = json!(["vip"]);
    let req = h
        .request(&t)
        .with_resource("customer", "C1")
        .with_access("read");
    let d = h.decide(&req);
    assert_eq!(d.reason(), ReasonCode::GrantRequired);
    assert_eq!(d.critical(), Some(CriticalRule::TokenGroupNotAllowed));
    assert_eq!(
        serde_json::to_value(&d).unwrap()["critical"],
        "token_group_not_allowed"
    );

    let mut c = groups_config(CriticalGroups::None);
    c.access.critical_allows_token_groups = CriticalGroups::Assets(vec!["customer".into()]);
    let h = Harness::new(c);
    let d = h.decide(&req);
    assert_eq!(d.reason(), ReasonCode::AllowedByGroup);
    assert_eq!(d.critical(), Some(CriticalRule::TokenGroup));
    let payroll = h
        .request(&t)
        .with_resource("payroll", "P1")
        .with_access("read");
    assert_eq!(
        h.decide(&payroll).critical(),
        Some(CriticalRule::TokenGroupNotAllowed)
    );
}

// D-EN-04: a dynamic group opens only the critical asset types listed, until it is removed.
#[test]
fn d_en_04_dynamic_groups_open_listed_critical_types_until_removed() {
    let h = Harness::new(groups_config(CriticalGroups::Assets(vec![
        "customer".into(),
    ])));
    let payroll = h
        .request(&token("jane", "s-1", T0 - 100))
        .with_resource("payroll", "P1")
        .with_access("read");
    assert_eq!(
        h.decide(&customer(&h, "C1")).critical(),
        Some(CriticalRule::GrantRequired)
    );
    let idp = crate::common::IDP;
    h.apply(&claims_change(
        "ga",
        idp,
        json!({"groups_add": ["vip"]}),
        T0,
    ));
    let d = h.decide(&customer(&h, "C1"));
    assert_eq!(d.reason(), ReasonCode::AllowedByGroup);
    assert_eq!(d.critical(), Some(CriticalRule::DynamicGroup));
    assert_eq!(d.cause().unwrap().rule, Rule::DynamicGroup);
    let d = h.decide(&payroll);
    assert_eq!(d.reason(), ReasonCode::GrantRequired);
    assert_eq!(d.critical(), Some(CriticalRule::DynamicGroupNotAllowed));

    h.apply(&claims_change(
        "gr",
        idp,
        json!({"groups_remove": ["vip"]}),
        T0 + 1,
    ));
    let d = h.decide(&customer(&h, "C1"));
    assert_eq!(d.reason(), ReasonCode::GrantRequired);
    assert_eq!(d.critical(), Some(CriticalRule::GrantRequired));
}
