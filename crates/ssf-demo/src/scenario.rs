//! The seed scenario, step by step, each a real HTTP call checked against what should happen:
//! Jane signs in; C2148 is denied; the case is assigned (webhook to the bridge); C2148 read and
//! write are allowed, C9999 still denied; the case closes; C2148 is denied again; the knowledge
//! base is allowed throughout by her role; a major incident assigned to her puts her in the
//! dynamic group `incident-responders`, which opens the runbooks until the incident is resolved;
//! a risk engine revokes her session and her token gets 401. Steps that change access poll the console's answer until it changes, with a deadline.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    report::{Report, StepResult},
    world::{JANE, JANE_SUB, World},
};

pub(crate) const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub(crate) const C2148: &str = "/customers/C2148";
pub(crate) const C9999: &str = "/customers/C9999";
pub(crate) const KB: &str = "/kb/article-42";
pub(crate) const RUNBOOK: &str = "/runbooks/db-failover";
const TICKET: &str = "SUP-2148";
const INCIDENT: &str = "INC-0042";

/// What an answer should be: status and reason code.
#[derive(Debug, Clone, Copy)]
struct Expect {
    status: u16,
    reason: &'static str,
}

impl Expect {
    fn describe(self) -> String {
        format!("{} {}", self.status, self.reason)
    }
}

/// What the console answered.
#[derive(Debug, Clone)]
struct Observed {
    status: u16,
    reason: String,
    jti: Option<String>,
}

impl Observed {
    fn matches(&self, e: Expect) -> bool {
        self.status == e.status && self.reason == e.reason
    }

    fn describe(&self) -> String {
        match &self.jti {
            Some(jti) => format!("{} {} (SET jti {jti})", self.status, self.reason),
            None => format!("{} {}", self.status, self.reason),
        }
    }

    fn failure(why: String) -> Self {
        Self {
            status: 0,
            reason: why,
            jti: None,
        }
    }
}

/// One request of Jane's to the console.
#[derive(Debug, Clone, Copy)]
struct Probe {
    method: &'static str,
    path: &'static str,
}

const fn get(path: &'static str) -> Probe {
    Probe {
        method: "GET",
        path,
    }
}

const fn put(path: &'static str) -> Probe {
    Probe {
        method: "PUT",
        path,
    }
}

async fn ask(world: &World, token: &str, probe: Probe) -> Observed {
    let method = if probe.method == "PUT" {
        Method::PUT
    } else {
        Method::GET
    };
    let mut request = world
        .http()
        .request(method, world.console.url(probe.path))
        .bearer_auth(token);
    if probe.method == "PUT" {
        request = request.json(&json!({"notes": ["called back about the invoice"]}));
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return Observed::failure(format!("request failed: {e}")),
    };
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    // Allowed answers carry `access.reason`; denials `reason` and `jti`.
    let (reason, jti) = if status == 200 {
        let access = if body["access"].is_object() {
            &body["access"]
        } else {
            &body
        };
        (access["reason"].as_str(), access["jti"].as_str())
    } else {
        (body["reason"].as_str(), body["jti"].as_str())
    };
    Observed {
        status,
        reason: reason.unwrap_or("-").to_owned(),
        jti: jti.map(str::to_owned),
    }
}

/// The risk engine's `POST /events` body: Jane's session `sid` is revoked.
pub(crate) fn revoke_event(sid: &str, now: i64) -> Value {
    json!({
        "event_type": SESSION_REVOKED,
        "sub_id": {"format": "opaque", "id": sid},
        "event": {
            "event_timestamp": now,
            "initiating_entity": "policy",
            "reason_admin": {"en": "Sign-in from an unfamiliar country with a leaked password"},
        },
    })
}

/// An AuthZEN evaluation: may Jane, in session `sid`, read kb:article-42?
pub(crate) fn authzen_request(world: &World, sid: &str, issued_at: i64) -> Value {
    json!({
        "subject": {"type": "user", "id": JANE, "properties": {
            "iss": world.transmitter_url, "sub": JANE_SUB, "sid": sid,
            "iat": issued_at, "roles": [support_console::SUPPORT_AGENT]}},
        "resource": {"type": "kb", "id": "article-42"},
        "action": {"name": "read"},
    })
}

fn millis_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Runs the scenario against `world`; every failure becomes a failed step, never an error.
#[derive(Debug)]
pub struct Scenario<'w> {
    world: &'w World,
    /// How long a step that changes access may take before it counts as failed.
    pub deadline: Duration,
    report: Report,
}

impl<'w> Scenario<'w> {
    /// A scenario over a running world.
    pub fn new(world: &'w World, deadline: Duration) -> Self {
        Self {
            world,
            deadline,
            report: Report::default(),
        }
    }

    fn record(&mut self, name: &str, expected: String, observed: String, ms: f64, passed: bool) {
        tracing::info!(step = name, expected, observed, ms, passed, "demo step");
        self.report.steps.push(StepResult {
            name: name.to_owned(),
            expected,
            observed,
            millis: ms,
            passed,
        });
    }

    /// One request, judged at once.
    async fn once(&mut self, name: &str, token: &str, probe: Probe, expect: Expect) {
        let start = Instant::now();
        let seen = ask(self.world, token, probe).await;
        let ms = millis_since(start);
        self.record(
            name,
            expect.describe(),
            seen.describe(),
            ms,
            seen.matches(expect),
        );
    }

    /// `trigger` (already sent at `start`) must change the console's answer to `probe` into
    /// `expect` before the deadline; the time is from `start` to the first changed answer.
    async fn until(
        &mut self,
        name: &str,
        start: Instant,
        trigger: Result<(), String>,
        token: &str,
        probe: Probe,
        expect: Expect,
    ) {
        if let Err(why) = trigger {
            self.record(name, expect.describe(), why, millis_since(start), false);
            return;
        }
        let deadline = start + self.deadline;
        loop {
            let seen = ask(self.world, token, probe).await;
            if seen.matches(expect) || Instant::now() >= deadline {
                let ok = seen.matches(expect);
                let observed = if ok {
                    seen.describe()
                } else {
                    format!("still {} after {:?}", seen.describe(), self.deadline)
                };
                self.record(name, expect.describe(), observed, millis_since(start), ok);
                return;
            }
            // Bounded polling of the condition; the interval only limits the load.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn webhook(&self, event_type: &str) -> Result<(), String> {
        let body = self.world.ticket_event(TICKET, event_type, "C2148");
        self.send_webhook(&self.world.webhook_url(), &body).await
    }

    async fn incident_webhook(&self, event_type: &str) -> Result<(), String> {
        let body = self.world.incident_event(INCIDENT, event_type);
        let url = self.world.webhook_url_of(crate::world::INCIDENTS);
        self.send_webhook(&url, &body).await
    }

    async fn send_webhook(&self, url: &str, body: &Value) -> Result<(), String> {
        let response = self
            .world
            .http()
            .post(url)
            .bearer_auth(&self.world.webhook_secret)
            .json(body)
            .send()
            .await
            .map_err(|e| format!("webhook failed: {e}"))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() && answer["status"] == "applied" {
            Ok(())
        } else {
            Err(format!("webhook answered {status} {answer}"))
        }
    }

    async fn revoke_session(&self, sid: &str) -> Result<(), String> {
        let token = self
            .world
            .risk_engine_token()
            .await
            .map_err(|e| e.to_string())?;
        let event = revoke_event(sid, self.world.clock().now().as_secs());
        let response = self
            .world
            .http()
            .post(self.world.events_url())
            .bearer_auth(token)
            .json(&event)
            .send()
            .await
            .map_err(|e| format!("POST /events failed: {e}"))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!(
                "POST /events answered {status} {}",
                response.text().await.unwrap_or_default()
            ))
        }
    }

    /// The PDP's view of Jane's session on the knowledge base.
    async fn authzen(&mut self, name: &str, sid: &str, issued_at: i64, expect: Expect) {
        let request = authzen_request(self.world, sid, issued_at);
        let start = Instant::now();
        let seen = match self
            .world
            .http()
            .post(
                self.world
                    .console
                    .url(ssf_enforce::authzen::EVALUATION_PATH),
            )
            .json(&request)
            .send()
            .await
        {
            Ok(r) => {
                let body: Value = r.json().await.unwrap_or(Value::Null);
                let allowed = body["decision"] == true;
                Observed {
                    status: if allowed { 200 } else { 403 },
                    reason: body["context"]["reason"].as_str().unwrap_or("-").to_owned(),
                    jti: body["context"]["jti"].as_str().map(str::to_owned),
                }
            }
            Err(e) => Observed::failure(format!("request failed: {e}")),
        };
        let ms = millis_since(start);
        let expected = format!(
            "decision {} {}",
            if expect.status == 200 {
                "true"
            } else {
                "false"
            },
            expect.reason
        );
        let observed = format!(
            "decision {} {}",
            if seen.status == 200 { "true" } else { "false" },
            seen.describe().split_once(' ').map_or("", |(_, r)| r)
        );
        self.record(name, expected, observed, ms, seen.matches(expect));
    }

    /// Runs every step and returns the timeline.
    pub async fn run(mut self) -> Report {
        const ALLOW_ROLE: Expect = Expect {
            status: 200,
            reason: "allowed_by_role",
        };
        const ALLOW_GRANT: Expect = Expect {
            status: 200,
            reason: "allowed_by_grant",
        };
        const NEEDS_GRANT: Expect = Expect {
            status: 403,
            reason: "grant_required",
        };
        const REVOKED: Expect = Expect {
            status: 401,
            reason: "session_revoked",
        };
        let sid = format!("sess-{}", uuid::Uuid::new_v4().simple());
        let start = Instant::now();
        let token = match self.world.sign_in_jane(&sid) {
            Ok(t) => t,
            Err(e) => {
                self.record(
                    "Jane signs in at the IdP",
                    "a token".into(),
                    e.to_string(),
                    0.0,
                    false,
                );
                return self.report;
            }
        };
        let issued_at = self.world.clock().now().as_secs();
        let me = ask(self.world, &token, get("/me")).await;
        let ok = Expect {
            status: 200,
            reason: "allowed",
        };
        self.record(
            "Jane signs in (token: sub, email, sid, acr, role support-agent); GET /me",
            ok.describe(),
            me.describe(),
            millis_since(start),
            me.matches(ok),
        );
        self.once(
            "Jane reads customer C2148 (no case yet)",
            &token,
            get(C2148),
            NEEDS_GRANT,
        )
        .await;
        self.once(
            "Jane reads kb:article-42 (her role)",
            &token,
            get(KB),
            ALLOW_ROLE,
        )
        .await;

        let start = Instant::now();
        let sent = self.webhook("assigned").await;
        self.until(
            "Case about C2148 assigned to Jane (webhook) -> C2148 readable",
            start,
            sent,
            &token,
            get(C2148),
            ALLOW_GRANT,
        )
        .await;
        self.once(
            "Jane updates customer C2148",
            &token,
            put(C2148),
            ALLOW_GRANT,
        )
        .await;
        self.once(
            "Jane reads customer C9999 (not her case)",
            &token,
            get(C9999),
            NEEDS_GRANT,
        )
        .await;
        self.once("Jane reads kb:article-42", &token, get(KB), ALLOW_ROLE)
            .await;

        let start = Instant::now();
        let sent = self.webhook("closed").await;
        self.until(
            "Case closed (webhook) -> C2148 denied again",
            start,
            sent,
            &token,
            get(C2148),
            NEEDS_GRANT,
        )
        .await;
        self.once(
            "Jane updates customer C2148 after the close",
            &token,
            put(C2148),
            NEEDS_GRANT,
        )
        .await;
        self.once("Jane reads kb:article-42", &token, get(KB), ALLOW_ROLE)
            .await;

        const ALLOW_GROUP: Expect = Expect {
            status: 200,
            reason: "allowed_by_group",
        };
        const NO_PERMISSION: Expect = Expect {
            status: 403,
            reason: "no_permission",
        };
        self.once(
            "Jane reads runbook:db-failover (no incident)",
            &token,
            get(RUNBOOK),
            NO_PERMISSION,
        )
        .await;
        let start = Instant::now();
        let sent = self.incident_webhook("assigned").await;
        self.until(
            "Major incident assigned to Jane (webhook) -> she joins incident-responders, runbook readable",
            start,
            sent,
            &token,
            get(RUNBOOK),
            ALLOW_GROUP,
        )
        .await;
        let start = Instant::now();
        let sent = self.incident_webhook("resolved").await;
        self.until(
            "Incident resolved (webhook) -> she leaves the group, runbook denied",
            start,
            sent,
            &token,
            get(RUNBOOK),
            NO_PERMISSION,
        )
        .await;

        let start = Instant::now();
        let sent = self.revoke_session(&sid).await;
        self.until(
            "Risk engine revokes Jane's session (POST /events) -> her token gets 401",
            start,
            sent,
            &token,
            get(KB),
            REVOKED,
        )
        .await;
        self.authzen(
            "AuthZEN PDP on Jane's session and kb:article-42",
            &sid,
            issued_at,
            Expect {
                status: 403,
                reason: "session_revoked",
            },
        )
        .await;
        self.report
    }
}
