//! Whether a delivery worked, failed for good, or may be retried
//! ([RFC 8935 §2](https://www.rfc-editor.org/rfc/rfc8935#section-2), checklist PUSH-16..18).
//!
//! The one place that turns an HTTP status or a transport error into a delivery decision, for
//! push delivery and the receiver's poller alike.

use std::fmt;

use reqwest::StatusCode;

use crate::HttpError;

/// Which statuses count as delivered (checklist PUSH-18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SuccessPolicy {
    /// Only `202 Accepted`, the status RFC 8935 §2.2 prescribes. Default.
    #[default]
    Only202,
    /// Any `2xx`, for receivers known to answer 200 or 204 (a per-stream configuration option).
    Any2xx,
}

/// What to do with a message after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The receiver accepted it ([RFC 8935 §2.2](https://www.rfc-editor.org/rfc/rfc8935#section-2.2)).
    Delivered,
    /// Do not retry: record the message as failed and log the reason (PUSH-16, PUSH-17).
    Permanent(PermanentReason),
    /// The receiver refused the transmitter's credentials (401/403): a configuration error
    /// (wrong `authorization_header`), not worth retrying until someone fixes it. Callers
    /// typically count these towards pausing the stream.
    Unauthorized(StatusCode),
    /// A transient failure: try again after the next delay of the retry schedule (PUSH-16).
    Retryable(RetryReason),
}

impl Outcome {
    /// Whether the message should be tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Delivered => f.write_str("delivered"),
            Self::Permanent(reason) => write!(f, "permanent failure: {reason}"),
            Self::Unauthorized(status) => write!(
                f,
                "receiver answered {status}: it refused the transmitter's credentials; \
                 check the stream's `authorization_header`"
            ),
            Self::Retryable(reason) => write!(f, "will retry: {reason}"),
        }
    }
}

/// Why a failure is permanent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PermanentReason {
    /// `400 Bad Request`: the receiver rejected the SET itself; its body should carry the
    /// RFC 8935 §2.3 `{"err", "description"}` to log ([RFC 8935 §2.3](https://www.rfc-editor.org/rfc/rfc8935#section-2.3)).
    BadRequest,
    /// Another `4xx` (404, 405, 410, 413, 415, ...): the request will not get better by repeating.
    ReceiverError(StatusCode),
    /// A `3xx`: redirects are never followed (PUSH-18).
    Redirect(StatusCode),
    /// A `2xx` other than 202 while only 202 counts (PUSH-18). The receiver may well have
    /// processed it, so it is not resent.
    UnexpectedSuccess(StatusCode),
    /// A `1xx` or non-standard status.
    UnexpectedStatus(StatusCode),
    /// The response body was over the caller's limit (in bytes).
    ResponseTooLarge(usize),
    /// The destination was refused by the URL checks or the SSRF guard; nothing was sent.
    Refused(String),
    /// The request could not be built or the client is misconfigured.
    Misconfigured(String),
}

impl fmt::Display for PermanentReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRequest => f.write_str(
                "receiver answered 400 Bad Request: it rejected the SET (see its `err`)",
            ),
            Self::ReceiverError(status) => write!(f, "receiver answered {status}"),
            Self::Redirect(status) => write!(
                f,
                "receiver answered {status} (a redirect); redirects are never followed for \
                 delivery: configure the final endpoint URL"
            ),
            Self::UnexpectedSuccess(status) => write!(
                f,
                "receiver answered {status} instead of 202 Accepted (RFC 8935 §2.2); only 202 \
                 counts as delivered unless any 2xx is configured as success"
            ),
            Self::UnexpectedStatus(status) => write!(f, "receiver answered unexpected {status}"),
            Self::ResponseTooLarge(limit) => {
                write!(f, "receiver's response body is larger than {limit} bytes")
            }
            Self::Refused(why) => write!(f, "destination refused: {why}"),
            Self::Misconfigured(why) => write!(f, "client misconfigured: {why}"),
        }
    }
}

/// Why a failure is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryReason {
    /// A `5xx`.
    ServerError(StatusCode),
    /// `408 Request Timeout`.
    RequestTimeout,
    /// `429 Too Many Requests`: honour its `Retry-After`.
    TooManyRequests,
    /// The attempt ran past its timeout.
    Timeout,
    /// The connection could not be made (DNS, refused, unreachable, TLS).
    Connect,
    /// The connection broke during the exchange.
    Network,
}

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ServerError(status) => write!(f, "receiver answered {status}"),
            Self::RequestTimeout => f.write_str("receiver answered 408 Request Timeout"),
            Self::TooManyRequests => f.write_str("receiver answered 429 Too Many Requests"),
            Self::Timeout => f.write_str("request timed out"),
            Self::Connect => f.write_str("could not connect"),
            Self::Network => f.write_str("connection failed during the request"),
        }
    }
}

/// Classifies a response status (checklist PUSH-16, PUSH-17, PUSH-18):
///
/// | status | outcome |
/// |---|---|
/// | 202 (any 2xx with [`SuccessPolicy::Any2xx`]) | [`Outcome::Delivered`] |
/// | other 2xx | permanent, [`PermanentReason::UnexpectedSuccess`] |
/// | 3xx | permanent, [`PermanentReason::Redirect`] |
/// | 400 | permanent, [`PermanentReason::BadRequest`] |
/// | 401, 403 | [`Outcome::Unauthorized`] |
/// | 408, 429 | retryable |
/// | other 4xx | permanent, [`PermanentReason::ReceiverError`] |
/// | 5xx | retryable |
/// | 1xx, 600+ | permanent, [`PermanentReason::UnexpectedStatus`] |
pub fn classify_status(status: StatusCode, policy: SuccessPolicy) -> Outcome {
    let code = status.as_u16();
    match code {
        202 => Outcome::Delivered,
        200..=299 if policy == SuccessPolicy::Any2xx => Outcome::Delivered,
        200..=299 => Outcome::Permanent(PermanentReason::UnexpectedSuccess(status)),
        300..=399 => Outcome::Permanent(PermanentReason::Redirect(status)),
        400 => Outcome::Permanent(PermanentReason::BadRequest),
        401 | 403 => Outcome::Unauthorized(status),
        408 => Outcome::Retryable(RetryReason::RequestTimeout),
        429 => Outcome::Retryable(RetryReason::TooManyRequests),
        402..=499 => Outcome::Permanent(PermanentReason::ReceiverError(status)),
        500..=599 => Outcome::Retryable(RetryReason::ServerError(status)),
        _ => Outcome::Permanent(PermanentReason::UnexpectedStatus(status)),
    }
}

/// Classifies a failed attempt that produced no response. Timeouts, connect failures and
/// broken connections are retryable (PUSH-16); a destination refused by the URL checks or the
/// SSRF guard is permanent, since nothing was sent and repeating would be refused again.
pub fn classify_error(error: &HttpError) -> Outcome {
    match error {
        HttpError::Url(e) => Outcome::Permanent(PermanentReason::Refused(e.to_string())),
        HttpError::Blocked(e) => Outcome::Permanent(PermanentReason::Refused(e.to_string())),
        HttpError::Timeout { .. } => Outcome::Retryable(RetryReason::Timeout),
        HttpError::Connect { .. } => Outcome::Retryable(RetryReason::Connect),
        HttpError::Request { source, .. } if source.is_builder() => {
            Outcome::Permanent(PermanentReason::Misconfigured(source.to_string()))
        }
        HttpError::Request { .. } => Outcome::Retryable(RetryReason::Network),
        HttpError::BodyTooLarge { limit, .. } => {
            Outcome::Permanent(PermanentReason::ResponseTooLarge(*limit))
        }
        HttpError::InvalidConfig { .. } | HttpError::Build(_) => {
            Outcome::Permanent(PermanentReason::Misconfigured(error.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(code: u16, policy: SuccessPolicy) -> Outcome {
        classify_status(StatusCode::from_u16(code).unwrap(), policy)
    }

    // PUSH-16, PUSH-17, PUSH-18: one row per status class.
    #[test]
    fn push_16_17_18_status_table() {
        use Outcome::*;
        use SuccessPolicy::*;
        let s = |c| StatusCode::from_u16(c).unwrap();
        let table = [
            (101, Permanent(PermanentReason::UnexpectedStatus(s(101)))),
            (200, Permanent(PermanentReason::UnexpectedSuccess(s(200)))),
            (201, Permanent(PermanentReason::UnexpectedSuccess(s(201)))),
            (202, Delivered),
            (204, Permanent(PermanentReason::UnexpectedSuccess(s(204)))),
            (301, Permanent(PermanentReason::Redirect(s(301)))),
            (302, Permanent(PermanentReason::Redirect(s(302)))),
            (307, Permanent(PermanentReason::Redirect(s(307)))),
            (308, Permanent(PermanentReason::Redirect(s(308)))),
            (400, Permanent(PermanentReason::BadRequest)),
            (401, Unauthorized(s(401))),
            (403, Unauthorized(s(403))),
            (404, Permanent(PermanentReason::ReceiverError(s(404)))),
            (405, Permanent(PermanentReason::ReceiverError(s(405)))),
            (408, Retryable(RetryReason::RequestTimeout)),
            (410, Permanent(PermanentReason::ReceiverError(s(410)))),
            (413, Permanent(PermanentReason::ReceiverError(s(413)))),
            (415, Permanent(PermanentReason::ReceiverError(s(415)))),
            (429, Retryable(RetryReason::TooManyRequests)),
            (499, Permanent(PermanentReason::ReceiverError(s(499)))),
            (500, Retryable(RetryReason::ServerError(s(500)))),
            (502, Retryable(RetryReason::ServerError(s(502)))),
            (503, Retryable(RetryReason::ServerError(s(503)))),
            (504, Retryable(RetryReason::ServerError(s(504)))),
            (599, Retryable(RetryReason::ServerError(s(599)))),
            (600, Permanent(PermanentReason::UnexpectedStatus(s(600)))),
        ];
        for (code, want) in table {
            assert_eq!(class(code, Only202), want, "{code}");
        }
    }

    #[test]
    fn push_18_any_2xx_when_configured() {
        for code in [200, 201, 202, 204, 299] {
            assert_eq!(
                class(code, SuccessPolicy::Any2xx),
                Outcome::Delivered,
                "{code}"
            );
        }
        assert!(matches!(
            class(302, SuccessPolicy::Any2xx),
            Outcome::Permanent(_)
        ));
    }

    #[test]
    fn reasons_read_well() {
        let redirect = class(302, SuccessPolicy::Only202).to_string();
        assert!(
            redirect.contains("never followed") && redirect.contains("302"),
            "{redirect}"
        );
        assert!(
            class(401, SuccessPolicy::Only202)
                .to_string()
                .contains("authorization_header")
        );
        assert!(
            class(200, SuccessPolicy::Only202)
                .to_string()
                .contains("202 Accepted")
        );
        assert!(class(503, SuccessPolicy::Only202).is_retryable());
    }

    #[test]
    fn refused_destinations_are_permanent() {
        let err = HttpError::Url(crate::UrlError::PlainHttp {
            url: "http://rx.example/".to_owned(),
        });
        let outcome = classify_error(&err);
        assert!(matches!(
            outcome,
            Outcome::Permanent(PermanentReason::Refused(_))
        ));
        assert!(outcome.to_string().contains("allow_http"));
    }
}
