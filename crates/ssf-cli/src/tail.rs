//! `ssf tail`: long-polls one stream's RFC 8936 poll endpoint, verifies each SET against the
//! transmitter's JWKS, prints one block per SET, acknowledges what verified and reports in
//! `setErrs` what did not ([RFC 8936 §2.4](https://www.rfc-editor.org/rfc/rfc8936#section-2.4)).

use std::{collections::BTreeMap, process::ExitCode, sync::Arc, time::Duration};

use serde_json::Value;
use ssf_http::{
    GuardedClient, Url,
    reqwest::header::{ACCEPT, HeaderValue},
};
use ssf_jose::{Algorithm, KeyResolver, SetVerifier, VerifiedSet, VerifyOptions};
use ssf_receiver::{config::JwksSettings, jwks::JwksCache, token::TokenSource};
use ssf_types::{
    Jti, ParseMode, PollRequest, PollResponse, PushErrorBody, SetErrorCode, stream::Delivery,
};

use crate::{
    cli::TailArgs,
    input::{CmdResult, Context, Failure, usage, with_causes},
    remote::{clock, http_client, runtime, token_source},
};

/// Longer than any transmitter's long-poll wait (RFC 8936 §2.4 leaves it to them; 20–30 s).
const POLL_TIMEOUT: Duration = Duration::from_secs(90);
/// Waits after failed polls; the last repeats.
const BACKOFF: [u64; 5] = [1, 2, 5, 10, 30];

/// Runs `ssf tail`.
pub(crate) fn run(args: TailArgs) -> CmdResult {
    runtime()?.block_on(tail(args))
}

/// The poll loop's fixed parts.
struct Tail {
    http: GuardedClient,
    tokens: TokenSource,
    url: Url,
    mode: ParseMode,
}

async fn tail(args: TailArgs) -> CmdResult {
    let conn = &args.conn;
    let http = http_client(&conn.issuer)?;
    let tokens = token_source(&http, &conn.auth, &conn.issuer, "ssf.read").await?;
    let client = ssf_receiver::stream_client::StreamClient::connect(
        http.clone(),
        &conn.issuer,
        tokens.clone(),
        conn.legacy,
        clock(),
    )
    .await?;
    let stream = client
        .get(&ssf_types::StreamId::new(args.stream_id.as_str()))
        .await?;
    let url = match &stream.delivery {
        Some(Delivery::Poll(p)) => p.endpoint_url.clone(),
        _ => None,
    }
    .ok_or_else(|| usage(format!("stream {} is not a poll stream", args.stream_id)))?;
    let audiences: Vec<String> = if args.aud.is_empty() {
        stream
            .aud
            .as_ref()
            .map(|a| a.iter().map(str::to_owned).collect())
            .unwrap_or_default()
    } else {
        args.aud.clone()
    };
    let Some((first, rest)) = audiences.split_first() else {
        return Err(usage("the stream has no aud; give --aud"));
    };
    let jwks = Arc::new(
        JwksCache::from_metadata(
            http.clone(),
            client.metadata(),
            JwksSettings::default(),
            clock(),
        )
        .map_err(Failure::from)?,
    );
    let algorithms: Vec<Algorithm> = if args.alg.is_empty() {
        vec![Algorithm::Rs256]
    } else {
        args.alg.iter().copied().map(Algorithm::from).collect()
    };
    let options = rest
        .iter()
        .fold(
            VerifyOptions::new(client.issuer().clone(), first.as_str()),
            |o, a| o.audience(a.as_str()),
        )
        .algorithms(algorithms)
        .parse_mode(client.mode());
    let verifier = SetVerifier::new(options, Arc::clone(&jwks) as Arc<dyn KeyResolver>, clock());
    let tail = Tail {
        http,
        tokens,
        url: Url::parse(&url).or_runtime(format!("the stream's poll URL {url}"))?,
        mode: client.mode(),
    };
    eprintln!(
        "following stream {} at {url} (aud {}); Ctrl-C stops",
        args.stream_id,
        audiences.join(", ")
    );
    let ack_enabled = !args.no_ack;
    let mut ack: Vec<Jti> = Vec::new();
    let mut set_errs: BTreeMap<Jti, PushErrorBody> = BTreeMap::new();
    let mut seen = 0usize;
    let mut failures = 0usize;
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        if args.count.is_some_and(|n| seen >= n) {
            break;
        }
        let request = poll_request(args.max_events, false, &ack, &set_errs);
        let answer = tokio::select! {
            _ = &mut interrupt => break,
            answer = tail.poll(&request) => answer,
        };
        let response = match answer {
            Ok(response) => response,
            Err(Failure::Refused(e)) => return Err(Failure::Refused(e)),
            Err(e) => {
                let wait = BACKOFF[failures.min(BACKOFF.len() - 1)];
                failures += 1;
                eprintln!("poll failed: {e}; retrying in {wait}s");
                tokio::select! {
                    _ = &mut interrupt => break,
                    () = tokio::time::sleep(Duration::from_secs(wait)) => continue,
                }
            }
        };
        failures = 0;
        ack.clear();
        set_errs.clear();
        for (jti, token) in &response.sets {
            if let Err(e) = jwks.prepare(token.as_bytes()).await {
                eprintln!("{jti}: not judged now ({e}); the transmitter will deliver it again");
                continue;
            }
            seen += 1;
            match verifier.verify(token) {
                Ok(set) => {
                    print_verified(&set);
                    if ack_enabled {
                        ack.push(jti.clone());
                    }
                }
                Err(e) => {
                    let err = e.set_error_code().unwrap_or(SetErrorCode::InvalidRequest);
                    println!(
                        "refused  {jti}\n  reason   {} (err: {err})\n  reported in setErrs\n",
                        with_causes(&e)
                    );
                    set_errs.insert(
                        jti.clone(),
                        PushErrorBody::new(err, "rejected by the receiver's verification"),
                    );
                }
            }
        }
    }
    if !ack.is_empty() || !set_errs.is_empty() {
        let request = poll_request(0, true, &ack, &set_errs);
        if let Err(e) = tail.poll(&request).await {
            eprintln!(
                "the last acknowledgement failed ({e}); the transmitter will deliver those SETs again"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn poll_request(
    max_events: u32,
    return_immediately: bool,
    ack: &[Jti],
    set_errs: &BTreeMap<Jti, PushErrorBody>,
) -> PollRequest {
    let mut request = PollRequest::new();
    request.max_events = Some(u64::from(max_events));
    request.return_immediately = Some(return_immediately);
    request.ack = ack.to_vec();
    request.set_errs.clone_from(set_errs);
    request
}

impl Tail {
    /// One poll request; a 4xx answer is a refusal (exit 1), other failures may pass.
    async fn poll(&self, request: &PollRequest) -> Result<PollResponse, Failure> {
        let response = self
            .tokens
            .send(|| {
                Ok(self
                    .http
                    .post(self.url.clone())?
                    .header(ACCEPT, HeaderValue::from_static("application/json"))
                    .json(request)
                    .timeout(POLL_TIMEOUT))
            })
            .await?;
        let status = response.status();
        let text = response
            .text()
            .await
            .or_runtime("reading the poll answer")?;
        if !status.is_success() {
            let error = anyhow::anyhow!("poll failed: HTTP {status}\n{text}");
            return Err(if status.is_client_error() {
                Failure::Refused(error)
            } else {
                Failure::Runtime(error)
            });
        }
        let body: Value = serde_json::from_str(&text).or_runtime("the poll answer is not JSON")?;
        PollResponse::from_json(&body, self.mode).or_runtime("reading the poll answer")
    }
}

/// One block per verified SET: jti, event type, subject, iat, txn and the event's members.
fn print_verified(set: &VerifiedSet) {
    let claims = set.claims().to_json();
    let mut block = format!(
        "verified {}  ({}, kid {})\n",
        set.jti(),
        set.alg(),
        set.kid()
    );
    let events = claims.get("events").and_then(Value::as_object);
    for (event_type, members) in events.into_iter().flatten() {
        block.push_str(&format!("  {:<16} {event_type}\n", "event"));
        if let Some(subject) = claims.get("sub_id").or_else(|| members.get("subject")) {
            block.push_str(&format!("  {:<16} {}\n", "subject", compact(subject)));
        }
        for (name, value) in members.as_object().into_iter().flatten() {
            if name != "subject" {
                block.push_str(&format!("  {name:<16} {}\n", compact(value)));
            }
        }
    }
    if let Some(iat) = claims.get("iat").and_then(Value::as_i64) {
        block.push_str(&format!("  {:<16} {iat} ({})\n", "iat", utc(iat)));
    }
    for name in ["txn", "toe"] {
        if let Some(value) = claims.get(name) {
            block.push_str(&format!("  {name:<16} {}\n", compact(value)));
        }
    }
    println!("{block}");
}

fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of epoch seconds (proleptic Gregorian, UTC).
fn utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_735_689_600), "2025-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_615_304_991), "2021-03-09T15:49:51Z");
    }
}
