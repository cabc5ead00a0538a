//! Property tests: deciding and planning never panic, whatever the input.

use proptest::prelude::*;
use serde_json::{Value, json};
use ssf_enforce::{AccessRequest, EnforcementEvent, EventContext, HandleKey, Resource};

use crate::{
    common::{CAEP, Harness, RISC, T0, caep, email, set, user},
    jane::jane_config,
};

fn seeded() -> Harness {
    let h = Harness::new(jane_config());
    for s in [
        set(
            "1",
            &caep("token-claims-change"),
            email("a@example.com"),
            json!({"claims": {"customer_id": "C1", "access_allowed": "read", "expires_at": T0 + 1, "x": null}}),
            Some(T0),
        ),
        set(
            "2",
            &caep("session-revoked"),
            json!({"format": "complex", "user": user("a"), "tenant": {"format": "opaque", "id": "t"}}),
            json!({}),
            Some(T0),
        ),
        set(
            "3",
            &caep("risk-level-change"),
            user("b"),
            json!({"principal": "USER", "current_level": "MEDIUM"}),
            Some(T0),
        ),
        set(
            "4",
            &caep("assurance-level-change"),
            user("a"),
            json!({"namespace": "NIST-AAL", "current_level": "nist-aal3"}),
            Some(T0),
        ),
    ] {
        h.apply(&s);
    }
    h
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("".to_owned()),
        "[a-z|%#,&:]{0,6}",
        any::<String>()
    ]
}

fn handle() -> impl Strategy<Value = HandleKey> {
    (
        prop_oneof![
            Just("user"),
            Just("session"),
            Just("tenant"),
            Just("device"),
            Just("x")
        ],
        word(),
    )
        .prop_map(|(m, id)| match m {
            "user" => HandleKey::iss_sub("user", "https://idp.example.com/", &id),
            m => HandleKey::opaque(m, &id),
        })
}

fn request() -> impl Strategy<Value = AccessRequest> {
    (
        prop::collection::vec(handle(), 0..6),
        prop::option::of(any::<i64>()),
        prop::option::of(any::<i64>()),
        prop::option::of(prop_oneof![Just("nist-aal1".to_owned()), word()]),
        prop::collection::vec(prop_oneof![Just("support".to_owned()), word()], 0..3),
        prop::option::of((
            prop_oneof![Just("customer".to_owned()), Just("kb".to_owned()), word()],
            word(),
        )),
        prop::option::of(prop_oneof![
            Just("read".to_owned()),
            Just("none".to_owned()),
            word()
        ]),
    )
        .prop_map(
            |(handles, iat, auth_time, acr, roles, res, access)| AccessRequest {
                handles,
                iat,
                auth_time,
                acr,
                roles: roles.clone(),
                groups: roles,
                resource: res.map(|(asset_type, asset_id)| Resource {
                    asset_type,
                    asset_id,
                }),
                access,
            },
        )
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        word().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("format".to_owned()),
                    Just("claims".to_owned()),
                    Just("email".to_owned()),
                    Just("customer_id".to_owned()),
                    Just("access_allowed".to_owned()),
                    Just("grants".to_owned()),
                    word()
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decide_never_panics(req in request(), now in any::<i64>()) {
        let h = seeded();
        let d = h.engine.decide_at(&req, ssf_types::UnixMillis(now));
        let _ = d.http(Some("r"));
        let _ = serde_json::to_string(&d).unwrap();
    }

    #[test]
    fn plan_and_commit_never_panic(
        name in prop_oneof![Just("session-revoked"), Just("token-claims-change"), Just("credential-change"),
            Just("risk-level-change"), Just("device-compliance-change"), Just("session-established")],
        risc_name in prop_oneof![Just("account-purged"), Just("identifier-changed"), Just("account-disabled")],
        use_risc in any::<bool>(),
        body in json_value(),
        sub_id in prop_oneof![json_value(), Just(user("a")), Just(email("a@example.com"))],
        iat in any::<i64>(),
    ) {
        let h = seeded();
        let uri = if use_risc { format!("{RISC}{risc_name}") } else { format!("{CAEP}{name}") };
        let ctx = EventContext { iss: "https://idp.example.com/".into(), jti: "p".into(), txn: None, iat, toe: None, stream_id: None };
        // Whatever ssf-types accepts (legacy mode takes the most) is planned without panicking.
        if let Ok(event) = EnforcementEvent::parse(&uri, &body, &sub_id, ssf_types::ParseMode::Legacy) {
            let plan = h.engine.plan(&event, &ctx);
            h.engine.commit(&plan.effects);
        }
    }
}
