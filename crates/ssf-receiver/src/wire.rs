//! Small HTTP helpers shared by discovery, tokens, the stream client, the JWKS cache and the
//! poller: bounded body reads, JSON parsing and turning an error answer into a
//! [`ReceiverError::Transmitter`].

use serde_json::Value;
use ssf_http::{
    Url, parse_retry_after, read_body_limited,
    reqwest::{
        Response, StatusCode,
        header::{HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE},
    },
};
use ssf_types::UnixMillis;

use crate::error::{MAX_ERROR_BODY_CHARS, ReceiverError};

/// The largest management or metadata response read, in bytes.
pub(crate) const MAX_JSON_BODY: usize = 1024 * 1024;
/// The largest error body read, in bytes.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// `Accept: application/json`.
pub(crate) const ACCEPT_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Parses a URL the transmitter or the configuration gave.
pub(crate) fn parse_url(value: &str, what: &'static str) -> Result<Url, ReceiverError> {
    Url::parse(value).map_err(|e| ReceiverError::InvalidUrl {
        what,
        reason: e.to_string(),
    })
}

/// Reads a JSON body of at most `limit` bytes.
pub(crate) async fn read_json(
    response: Response,
    limit: usize,
    operation: &'static str,
) -> Result<Value, ReceiverError> {
    let bytes = read_body_limited(response, limit).await?;
    serde_json::from_slice(&bytes).map_err(|e| ReceiverError::InvalidResponse {
        operation,
        reason: format!("the body is not JSON: {e}"),
    })
}

/// Turns a non-success answer into [`ReceiverError::Transmitter`]: the status, the error code and
/// description from the JSON body (`error`/`error_description`, or RFC 8935 `err`/`description`)
/// or else from `WWW-Authenticate` (RFC 6750 §3), the body cut short, and `Retry-After`.
pub(crate) async fn error_from(
    response: Response,
    operation: &'static str,
    now: UnixMillis,
) -> ReceiverError {
    let status = response.status().as_u16();
    let retry_after_secs = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| parse_retry_after(v, now))
        .map(|d| d.as_secs());
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = read_body_limited(response, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let json: Option<Value> = serde_json::from_slice(&bytes).ok();
    let member = |names: [&str; 2]| {
        json.as_ref().and_then(|j| {
            names
                .iter()
                .find_map(|n| j.get(*n).and_then(Value::as_str).map(str::to_owned))
        })
    };
    let mut error = member(["error", "err"]);
    let mut description = member(["error_description", "description"]);
    if error.is_none()
        && let Some(challenge) = &challenge
    {
        error = challenge_param(challenge, "error");
        description = description.or_else(|| challenge_param(challenge, "error_description"));
    }
    ReceiverError::Transmitter {
        operation,
        status,
        error,
        description,
        body: text.chars().take(MAX_ERROR_BODY_CHARS).collect(),
        retry_after_secs,
    }
}

/// One quoted or token parameter of a `WWW-Authenticate: Bearer …` challenge.
fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let rest = challenge.trim();
    let rest = rest
        .get(..6)
        .filter(|s| s.eq_ignore_ascii_case("bearer"))
        .map(|_| &rest[6..])?;
    for part in split_params(rest) {
        let (key, value) = part.split_once('=')?;
        if key.trim().eq_ignore_ascii_case(name) {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            return Some(value.replace("\\\"", "\""));
        }
    }
    None
}

/// Splits `a="x, y", b=z` on the commas outside quotes.
fn split_params(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Whether `status` is one of `accepted`.
pub(crate) fn status_in(status: StatusCode, accepted: &[u16]) -> bool {
    accepted.contains(&status.as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_parameters_rfc6750_3() {
        let c = r#"Bearer realm="ssf", error="invalid_token", error_description="The token, \"x\", expired""#;
        assert_eq!(
            challenge_param(c, "error").as_deref(),
            Some("invalid_token")
        );
        assert_eq!(
            challenge_param(c, "error_description").as_deref(),
            Some("The token, \"x\", expired")
        );
        assert_eq!(challenge_param("Basic realm=x", "error"), None);
        assert_eq!(
            challenge_param("bearer error=insufficient_scope", "error").as_deref(),
            Some("insufficient_scope")
        );
    }
}
