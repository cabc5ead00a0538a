//! Test harness: an engine on a manual clock, SETs built as JSON and parsed by `ssf-types`.

use std::sync::Arc;

use serde_json::{Value, json};
use ssf_enforce::{AccessRequest, Decision, Engine, EngineConfig, Plan, events_from_claims};
use ssf_types::{ManualClock, ParseMode, SetClaims, UnixMillis};

/// The event time of most checklist vectors (seconds).
pub(crate) const T0: i64 = 1_615_304_991;
pub(crate) const IDP: &str = "https://idp.example.com/";
pub(crate) const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
pub(crate) const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";

pub(crate) struct Harness {
    pub(crate) engine: Engine,
    pub(crate) clock: ManualClock,
}

impl Harness {
    pub(crate) fn new(config: EngineConfig) -> Self {
        let clock = ManualClock::new(UnixMillis::from_secs(T0 + 3600));
        let engine = Engine::new(config, Arc::new(clock.clone())).unwrap();
        Self { engine, clock }
    }

    /// Plans every event of the SET (parsed strictly by ssf-types) without committing.
    pub(crate) fn plan(&self, payload: &Value) -> Vec<Plan> {
        let set = SetClaims::from_json(payload, ParseMode::Strict).unwrap();
        let (ctx, events) = events_from_claims(&set, ParseMode::Strict).unwrap();
        events.iter().map(|e| self.engine.plan(e, &ctx)).collect()
    }

    /// Plans and commits; returns the (single) plan.
    pub(crate) fn apply(&self, payload: &Value) -> Plan {
        self.apply_on(payload, None)
    }

    /// Plans and commits a SET that arrived on the transmitter's stream `stream_id`.
    pub(crate) fn apply_on(&self, payload: &Value, stream_id: Option<&str>) -> Plan {
        let set = SetClaims::from_json(payload, ParseMode::Strict).unwrap();
        let (ctx, events) = events_from_claims(&set, ParseMode::Strict).unwrap();
        let ctx = ctx.with_stream_id(stream_id.map(str::to_owned));
        assert_eq!(events.len(), 1);
        let plan = self.engine.plan(&events[0], &ctx);
        let report = self.engine.commit(&plan.effects);
        assert_eq!(report.invalid, 0, "{:?}", report.errors);
        plan
    }

    pub(crate) fn decide(&self, req: &AccessRequest) -> Decision {
        self.engine.decide(req)
    }

    pub(crate) fn request(&self, claims: &Value) -> AccessRequest {
        self.engine.request_from_claims(claims.as_object().unwrap())
    }
}

/// A SET with one event. `ts` is the `event_timestamp` (seconds), left out when `None`.
pub(crate) fn set(
    jti: &str,
    event_uri: &str,
    sub_id: Value,
    mut body: Value,
    ts: Option<i64>,
) -> Value {
    if let (Some(ts), Value::Object(m)) = (ts, &mut body) {
        m.insert("event_timestamp".into(), json!(ts));
    }
    json!({
        "iss": IDP,
        "jti": jti,
        "iat": ts.unwrap_or(T0) + 5,
        "aud": "https://app.example.com/",
        "txn": format!("txn-{jti}"),
        "sub_id": sub_id,
        "events": { event_uri: body }
    })
}

pub(crate) fn caep(name: &str) -> String {
    format!("{CAEP}{name}")
}

pub(crate) fn risc(name: &str) -> String {
    format!("{RISC}{name}")
}

pub(crate) fn user(sub: &str) -> Value {
    json!({"format": "iss_sub", "iss": IDP, "sub": sub})
}

pub(crate) fn email(addr: &str) -> Value {
    json!({"format": "email", "email": addr})
}

/// A token of `sub` (email `<sub>@example.com`), session `sid`, issued at `iat`.
pub(crate) fn token(sub: &str, sid: &str, iat: i64) -> Value {
    json!({"iss": IDP, "sub": sub, "email": format!("{sub}@example.com"), "sid": sid,
           "iat": iat, "auth_time": iat, "acr": "nist-aal2", "jti": format!("tok-{sub}-{sid}-{iat}")})
}

/// Every request a test cares about, for comparing two engines' answers.
pub(crate) fn decisions(engine: &Engine, reqs: &[AccessRequest]) -> Vec<Value> {
    reqs.iter()
        .map(|r| serde_json::to_value(engine.decide(r)).unwrap())
        .collect()
}
