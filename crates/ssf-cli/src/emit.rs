//! `ssf emit`: publishes one event to a transmitter's `POST /events` and prints its answer.

use std::process::ExitCode;

use serde_json::{Value, json};
use ssf_http::{
    Url,
    reqwest::header::{ACCEPT, HeaderValue},
};

use crate::{
    caep::{self, EventFields},
    cli::EmitArgs,
    input::{CmdResult, Context, Failure},
    remote::{clock, http_client, runtime, token_source},
};

/// The scope a producer needs.
const PUBLISH_SCOPE: &str = "ssf.events.publish";

/// Runs `ssf emit`.
pub(crate) fn run(args: EmitArgs) -> CmdResult {
    runtime()?.block_on(emit(args))
}

async fn emit(args: EmitArgs) -> CmdResult {
    let now = clock().now();
    let fields = EventFields {
        reason_admin: args.reason_admin.clone(),
        reason_user: args.reason_user.clone(),
        initiating_entity: args.initiating_entity,
        event_timestamp: args.event_timestamp.unwrap_or(now.as_secs()),
        fields: args.fields.clone(),
    };
    let (event_type, body) = caep::event(&caep::event_uri(&args.event)?, &fields)?;
    let mut event = json!({
        "event_type": event_type,
        "sub_id": caep::subject(&args.subject)?,
        "event": body,
    });
    if let Some(txn) = &args.txn {
        event["txn"] = json!(txn);
    }
    let base = args.transmitter.trim_end_matches('/');
    let url = Url::parse(&format!("{base}/events")).or_usage(format!("--transmitter {base}"))?;
    let http = http_client(base)?;
    let tokens = token_source(&http, &args.auth, base, PUBLISH_SCOPE).await?;
    let response = tokens
        .send(|| {
            Ok(http
                .post(url.clone())?
                .header(ACCEPT, HeaderValue::from_static("application/json"))
                .json(&event))
        })
        .await?;
    let status = response.status();
    let text = response.text().await.or_runtime("reading the answer")?;
    if !status.is_success() {
        let error = anyhow::anyhow!("POST {url} failed: HTTP {status}\n{text}");
        return Err(if status.is_client_error() {
            Failure::Refused(error)
        } else {
            Failure::Runtime(error)
        });
    }
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).or_runtime("printing")?
    );
    let streams = answer.get("streams").and_then(Value::as_u64).unwrap_or(0);
    eprintln!("accepted: queued for {streams} stream(s)");
    Ok(ExitCode::SUCCESS)
}
