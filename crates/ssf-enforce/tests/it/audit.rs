//! The engine's audit trail through the receiver's real push endpoint and SQLite store: one audit
//! row per new SET in the transaction that records it, none for a duplicate, a stale event audited
//! as "no change", "why was this denied" from a decision back to its row, and grants refused for
//! their source (D-EN-02) with the stream id the pipeline knows.

use std::sync::Arc;

use serde_json::{Value, json};
use ssf_enforce::{
    CriticalRule, EnforcementHandler, Engine, EngineConfig, GrantAuthority, GrantSource, HandleKey,
    ReasonCode, explain::explain,
};
use ssf_jose::{Algorithm, Jwks, JwksSnapshot, KeyPair, SigningKey, VerifyOptions, sign_with};
use ssf_receiver::{
    apply::{Applier, ApplyOptions},
    pipeline::{Pipeline, PipelineConfig, StreamContext},
    push::PushState,
    receive::{SetReceiver, StreamRegistry},
    router::router,
};
use ssf_store::{
    AuditEntry,
    receiver::{ReceiverAuditQuery, ReceiverStore},
    sqlite::receiver::SqliteReceiverStore,
};
use ssf_types::{KeyId, ManualClock, StreamId, UnixMillis};

use crate::common::{IDP, T0, caep, email, set, token};

const AUD: &str = "https://app.example.com/";

struct Rx {
    base: String,
    http: reqwest::Client,
    key: KeyPair,
    engine: Arc<Engine>,
    store: Arc<dyn ReceiverStore>,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Rx {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Rx {
    async fn start() -> Self {
        Self::start_with(EngineConfig::default(), None).await
    }

    /// A receiver whose engine has `config`, on a stream the transmitter calls `stream_id`.
    async fn start_with(config: EngineConfig, stream_id: Option<&str>) -> Self {
        let clock = Arc::new(ManualClock::new(UnixMillis::from_secs(T0 + 3600)));
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ReceiverStore> = Arc::new(
            SqliteReceiverStore::open_path(dir.path().join("receiver.db"), clock.clone())
                .await
                .unwrap(),
        );
        let engine = Arc::new(Engine::new(config, clock.clone()).unwrap());
        let handler = Arc::new(EnforcementHandler::new(Arc::clone(&engine)));
        let applier = Applier::start(
            Arc::clone(&store),
            handler,
            clock.clone(),
            ApplyOptions::default(),
        )
        .await
        .unwrap();
        let pipeline = Pipeline::new(PipelineConfig::default(), Arc::clone(&store), clock);
        let receiver = Arc::new(SetReceiver::new(pipeline, Arc::new(applier)));
        let key = KeyPair::generate(Algorithm::Rs256, Some(KeyId::new("idp-1"))).unwrap();
        let jwks = Jwks {
            keys: vec![SigningKey::public_jwk(&key)],
        };
        let streams = Arc::new(StreamRegistry::new());
        streams.insert(
            StreamContext::new(
                "idp",
                "idp",
                VerifyOptions::new(IDP, AUD),
                Arc::new(JwksSnapshot::new(&jwks)),
            )
            .with_stream_id(stream_id.map(StreamId::new)),
        );
        let state = Arc::new(PushState::new(receiver, streams));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, router(state)).await.unwrap();
        });
        Self {
            base,
            http: reqwest::Client::new(),
            key,
            engine,
            store,
            _dir: dir,
            server,
        }
    }

    /// Pushes the signed SET; the status.
    async fn push(&self, claims: &Value) -> u16 {
        self.http
            .post(format!("{}/ssf/push/idp", self.base))
            .header("content-type", "application/secevent+jwt")
            .body(sign_with(&self.key, claims).unwrap())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn audit(&self, edit: impl FnOnce(&mut ReceiverAuditQuery)) -> Vec<AuditEntry> {
        let mut query = ReceiverAuditQuery {
            limit: 100,
            ..ReceiverAuditQuery::default()
        };
        edit(&mut query);
        self.store.query_audit(query).await.unwrap()
    }
}

fn revoked(jti: &str, ts: i64) -> Value {
    set(
        jti,
        &caep("session-revoked"),
        email("jane@example.com"),
        json!({}),
        Some(ts),
    )
}

// Checklist TV-CAEP-01 (session-revoked acted on), SSF-RXV-13 (a duplicate is not applied again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_revoked_push_stores_one_audit_row_with_jti_and_rule_and_why_denied_finds_it() {
    let rx = Rx::start().await;
    assert_eq!(rx.push(&revoked("sr-1", T0)).await, 202);

    let rows = rx.audit(|q| q.jti = Some("sr-1".into())).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row.action, "set.applied");
    assert_eq!(row.actor, "idp");
    let d = &row.detail;
    assert_eq!(d["jti"], "sr-1");
    assert_eq!(d["iss"], IDP);
    assert_eq!(d["txn"], "txn-sr-1");
    assert_eq!(d["event_type"], caep("session-revoked"));
    assert_eq!(d["rules"], json!(["caep.session-revoked"]));
    assert_eq!(d["outcome"], "applied");
    assert_eq!(
        (d["effects"].clone(), d["writes"].clone()),
        (json!(1), json!(1))
    );
    // Durable together with the state it explains.
    assert_eq!(rx.store.state_rows("revocation").await.unwrap().len(), 1);

    let jane = HandleKey::email("user", "jane@example.com");
    let by_subject = rx.audit(|q| q.subject = Some(jane.as_str().into())).await;
    assert_eq!(by_subject, rows, "found by the subject's handle key");
    let by_pattern = rx
        .audit(|q| q.subject = d["subject"].as_str().map(str::to_owned))
        .await;
    assert_eq!(by_pattern, rows, "and by its canonical pattern");

    assert_eq!(rx.push(&revoked("sr-1", T0)).await, 202, "redelivery");
    assert_eq!(rx.audit(|_| {}).await.len(), 1, "a duplicate adds no row");

    let request = rx
        .engine
        .request_from_claims(token("jane", "s1", T0 - 60).as_object().unwrap());
    let decision = rx.engine.decide(&request);
    assert_eq!(decision.reason(), ReasonCode::SessionRevoked);
    let why = explain(rx.store.as_ref(), &decision).await.unwrap();
    assert_eq!(why.reason, ReasonCode::SessionRevoked);
    assert_eq!(why.cause.as_ref().map(|c| c.jti.as_str()), Some("sr-1"));
    assert_eq!(why.audit.as_ref(), Some(row));

    // A request no SET caused has nothing to look up.
    let fresh = rx
        .engine
        .request_from_claims(token("jane", "s2", T0 + 60).as_object().unwrap());
    let allowed = explain(rx.store.as_ref(), &rx.engine.decide(&fresh))
        .await
        .unwrap();
    assert!(allowed.cause.is_none() && allowed.audit.is_none());
}

// Effects are ordered by event time: an older revocation changes nothing, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_order_event_is_still_audited_as_no_change() {
    let rx = Rx::start().await;
    assert_eq!(rx.push(&revoked("new", T0)).await, 202);
    assert_eq!(rx.push(&revoked("old", T0 - 600)).await, 202);
    let rows = rx.audit(|q| q.jti = Some("old".into())).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].action, "set.no_change");
    assert_eq!(rows[0].detail["outcome"], "stale");
    assert_eq!(rows[0].detail["writes"], 0);
    let revocations = rx.store.state_rows("revocation").await.unwrap();
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0].value["cause"]["jti"], "new");
    let since = rx
        .audit(|q| q.since = Some(UnixMillis::from_secs(T0 + 3600)))
        .await;
    assert_eq!(since.len(), 2);
}

// D-EN-02 through the real pipeline: the stream id of the receiver's stream context reaches the
// engine, so a source listed with its stream grants and the same issuer on another stream does
// not; the refusal is audited and the decision says which rule kept the critical asset closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_en_02_grant_sources_see_the_stream_id_and_refusals_are_audited() {
    let mut config = crate::jane::jane_config();
    config.grants = GrantAuthority {
        sources: Some(vec![GrantSource {
            iss: IDP.into(),
            stream_ids: vec!["stream-1".into()],
        }]),
        ..GrantAuthority::default()
    };
    let grant = set(
        "g-1",
        &caep("token-claims-change"),
        email("jane@example.com"),
        json!({"claims": {"customer_id": "C2148", "access_allowed": "read"}}),
        Some(T0),
    );
    let request = |engine: &Engine| {
        engine
            .request_from_claims(token("jane", "s1", T0 - 60).as_object().unwrap())
            .with_resource("customer", "C2148")
            .with_access("read")
    };

    let listed = Rx::start_with(config.clone(), Some("stream-1")).await;
    assert_eq!(listed.push(&grant).await, 202);
    let d = listed.engine.decide(&request(&listed.engine));
    assert_eq!(d.reason(), ReasonCode::AllowedByGrant);
    let why = explain(listed.store.as_ref(), &d).await.unwrap();
    assert_eq!(why.critical, Some(CriticalRule::Grant));

    let other = Rx::start_with(config, Some("stream-2")).await;
    assert_eq!(other.push(&grant).await, 202);
    let rows = other.audit(|q| q.jti = Some("g-1".into())).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].action, "set.no_change");
    let detail = &rows[0].detail;
    assert_eq!(detail["outcome"], "refused");
    assert_eq!(detail["refused"], 1);
    assert_eq!(
        detail["rules"],
        json!(["caep.token-claims-change.refused-source"])
    );
    let d = other.engine.decide(&request(&other.engine));
    assert_eq!(d.reason(), ReasonCode::GrantRequired);
    let why = explain(other.store.as_ref(), &d).await.unwrap();
    assert_eq!(why.critical, Some(CriticalRule::GrantRequired));
    assert!(other.store.state_rows("grant").await.unwrap().is_empty());
}
