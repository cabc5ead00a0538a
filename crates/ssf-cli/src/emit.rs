//! `ssf emit`: publishes one event to a transmitter's `POST /events` and prints its answer.
//!
//! The events endpoint is the `events_endpoint` of the transmitter's metadata
//! (`/.well-known/ssf-configuration` with the issuer's path inserted, SSF 1.0 §7.2.1), or
//! `{transmitter}/events` when there is none (D-TX-17). Every request carries an
//! `Idempotency-Key` (a fresh UUID unless `--idempotency-key`), so a retry after `503`, `429`,
//! a connection failure or a timeout is safe: the transmitter answers a retry of a request it
//! already accepted with the first answer and queues nothing (D-TX-16).

use std::{process::ExitCode, time::Duration};

use serde_json::{Value, json};
use ssf_http::{
    GuardedClient, HttpError, Url, parse_retry_after,
    reqwest::{
        Response, StatusCode,
        header::{ACCEPT, HeaderName, HeaderValue, RETRY_AFTER},
    },
};
use ssf_receiver::{ReceiverError, token::TokenSource};
use ssf_transmitter::ingest::idempotency::{IDEMPOTENCY_KEY, check_key, key_header_value};
use ssf_types::{DiscoveryFlavor, discovery_url};

use crate::{
    caep::{self, EventFields},
    cli::EmitArgs,
    input::{CmdResult, Context, Failure, usage},
    remote::{clock, http_client, runtime, token_source},
};

/// The scope a producer needs.
const PUBLISH_SCOPE: &str = "ssf.events.publish";
/// The metadata member naming the events endpoint (see `ssf_transmitter::metadata`).
const EVENTS_ENDPOINT: &str = ssf_transmitter::metadata::EVENTS_ENDPOINT_MEMBER;
/// The first pause between attempts without `Retry-After`; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause between attempts, whatever `Retry-After` asks for.
const MAX_WAIT: Duration = Duration::from_secs(30);

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
    let key = match &args.idempotency_key {
        Some(key) => {
            check_key(key).map_err(|why| usage(format!("--idempotency-key: {why}")))?;
            key.clone()
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    let key = HeaderValue::from_str(&key_header_value(&key))
        .or_usage("--idempotency-key is not a valid header value")?;
    let base = args.transmitter.trim_end_matches('/').to_owned();
    Url::parse(&base).or_usage(format!("--transmitter {base}"))?;
    let http = http_client(&base)?;
    let attempts = args.retries.saturating_add(1);
    let mut target: Option<(Url, TokenSource)> = None;
    let mut attempt = 1;
    loop {
        let step = match &target {
            None => match locate(&http, &args, &base).await {
                Ok(found) => {
                    target = Some(found);
                    continue;
                }
                Err(step) => step,
            },
            Some((url, tokens)) => match send(url, tokens, &http, &key, &event).await {
                Ok((status, text)) => return answer(url, status, &text),
                Err(step) => step,
            },
        };
        let (why, wait) = match step {
            Step::Retry { why, wait } => (why, wait),
            Step::Fail(failure) => return Err(failure),
        };
        if attempt >= attempts {
            return Err(Failure::Runtime(anyhow::anyhow!(
                "{why}; gave up after {attempts} attempt(s)"
            )));
        }
        let wait = wait
            .unwrap_or_else(|| FIRST_BACKOFF.saturating_mul(1 << (attempt - 1).min(5)))
            .min(MAX_WAIT);
        attempt += 1;
        eprintln!(
            "{why}, retrying in {} (attempt {attempt}/{attempts})",
            show(wait)
        );
        tokio::time::sleep(wait).await;
    }
}

/// Why an attempt did not finish the command.
enum Step {
    /// Try again (after `wait`, or the backoff).
    Retry {
        /// What happened, for the retry line.
        why: String,
        /// The transmitter's `Retry-After`.
        wait: Option<Duration>,
    },
    /// Give up with this failure.
    Fail(Failure),
}

impl From<Failure> for Step {
    fn from(failure: Failure) -> Self {
        Self::Fail(failure)
    }
}

/// A transport failure (connect, timeout, reset) is retried; anything else is final.
fn transport(error: ReceiverError) -> Step {
    match &error {
        ReceiverError::Http(
            HttpError::Connect { .. } | HttpError::Timeout { .. } | HttpError::Request { .. },
        ) => Step::Retry {
            why: error.to_string(),
            wait: None,
        },
        _ => Step::Fail(error.into()),
    }
}

/// The events endpoint and the token source: the endpoint from the transmitter's metadata
/// (path insertion), else `{base}/events`.
async fn locate(
    http: &GuardedClient,
    args: &EmitArgs,
    base: &str,
) -> Result<(Url, TokenSource), Step> {
    let events = events_endpoint(http, base).await?;
    let tokens = token_source(http, &args.auth, base, PUBLISH_SCOPE)
        .await
        .map_err(Step::Fail)?;
    Ok((events, tokens))
}

async fn events_endpoint(http: &GuardedClient, base: &str) -> Result<Url, Step> {
    let fallback =
        || Url::parse(&format!("{base}/events")).or_usage(format!("--transmitter {base}"));
    let Ok(discovery) = discovery_url(base, DiscoveryFlavor::Ssf) else {
        return Ok(fallback()?);
    };
    let discovery = Url::parse(&discovery).or_usage(format!("--transmitter {base}"))?;
    let response = http
        .get(discovery.clone())
        .map_err(|e| transport(e.into()))?
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .send()
        .await
        .map_err(|e| transport(e.into()))?;
    let status = response.status();
    if let Some(step) = retryable(status, &response) {
        return Err(step);
    }
    if status != StatusCode::OK {
        return Ok(fallback()?);
    }
    let metadata: Value = match response.json().await {
        Ok(metadata) => metadata,
        Err(_) => return Ok(fallback()?),
    };
    match metadata.get(EVENTS_ENDPOINT).and_then(Value::as_str) {
        Some(url) => Ok(Url::parse(url).or_runtime(format!(
            "the transmitter's {EVENTS_ENDPOINT} ({url}) is not a URL"
        ))?),
        None => Ok(fallback()?),
    }
}

/// `503` and `429` are retried, honouring `Retry-After`.
fn retryable(status: StatusCode, response: &Response) -> Option<Step> {
    if !matches!(
        status,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
    ) {
        return None;
    }
    let wait = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| parse_retry_after(v, clock().now()));
    Some(Step::Retry {
        why: format!("transmitter answered {}", status.as_u16()),
        wait,
    })
}

/// One `POST`: the status and body of a final answer.
async fn send(
    url: &Url,
    tokens: &TokenSource,
    http: &GuardedClient,
    key: &HeaderValue,
    event: &Value,
) -> Result<(StatusCode, String), Step> {
    let response = tokens
        .send(|| {
            Ok(http
                .post(url.clone())?
                .header(ACCEPT, HeaderValue::from_static("application/json"))
                .header(HeaderName::from_static(IDEMPOTENCY_KEY), key.clone())
                .json(event))
        })
        .await
        .map_err(transport)?;
    let status = response.status();
    if let Some(step) = retryable(status, &response) {
        return Err(step);
    }
    // The request may have been accepted: the key makes reading the answer again safe.
    let text = response.text().await.map_err(|e| Step::Retry {
        why: format!("reading the answer failed: {e}"),
        wait: None,
    })?;
    Ok((status, text))
}

/// Prints a success, or turns the answer into a failure (4xx: refused, else runtime).
fn answer(url: &Url, status: StatusCode, text: &str) -> CmdResult {
    if !status.is_success() {
        let error = anyhow::anyhow!("POST {url} failed: HTTP {status}\n{text}");
        return Err(if status.is_client_error() {
            Failure::Refused(error)
        } else {
            Failure::Runtime(error)
        });
    }
    let answer: Value = serde_json::from_str(text).unwrap_or(Value::String(text.to_owned()));
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).or_runtime("printing")?
    );
    let streams = answer.get("streams").and_then(Value::as_u64).unwrap_or(0);
    eprintln!("accepted: queued for {streams} stream(s)");
    Ok(ExitCode::SUCCESS)
}

/// `2s`, or `500ms` below a second.
fn show(wait: Duration) -> String {
    if wait.subsec_millis() == 0 {
        format!("{}s", wait.as_secs())
    } else {
        format!("{}ms", wait.as_millis())
    }
}
