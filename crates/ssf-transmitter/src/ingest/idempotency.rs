//! Idempotent ingest (decision D-TX-16): a producer that retries a `POST /events` whose answer
//! it lost must not create a second set of SETs.
//!
//! The producer sends an `Idempotency-Key` header, shaped after
//! [draft-ietf-httpapi-idempotency-key-header](https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/)
//! (a structured-field string, `Idempotency-Key: "8e03978e-40d5"`; a bare value is accepted
//! too): 1 to [`MAX_KEY_LEN`] printable ASCII characters. Or, without that header, it sends
//! `Idempotency-Key-From: txn` and the `txn` its events share acts as the key. Keys are scoped
//! to the authenticated client.
//!
//! The key is remembered with the SHA-256 of the request body and the first response, in the
//! transaction that queues the SETs
//! ([`enqueue_idempotent`](ssf_store::TransmitterStore::enqueue_idempotent)), for
//! `ingest.idempotency_window` (24 h). Within the window the same key with the same body gets
//! the first response again, with `Idempotent-Replayed: true`, and nothing is queued; with
//! another body it gets `422`. Of two concurrent requests with one key exactly one queues; the
//! other waits for it and gets the replay. Only accepted requests are remembered: a refused one
//! (`4xx`) queued nothing and may be sent again with the same key.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use ssf_store::{IdempotencyClaim, IdempotentEnqueue, Respond, StoredResponse};

use super::{Ingest, IngestError, Prepared, ValidEvent, answer};

/// The request header carrying the key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The request header asking for the events' `txn` to act as the key; its one value is `txn`.
pub(crate) const IDEMPOTENCY_KEY_FROM: &str = "idempotency-key-from";
/// The response header marking a replayed answer (`true`).
pub(crate) const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// The longest key, in characters.
pub const MAX_KEY_LEN: usize = 255;

/// The rule a key must follow, quoted in every `400` about one.
const KEY_RULE: &str = "an idempotency key is 1 to 255 printable ASCII characters \
    (a structured-field string such as \"3f2c...\", or the bare characters)";

/// Where a request's key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// No key: every request is new.
    None,
    /// The `Idempotency-Key` header.
    Header(String),
    /// `Idempotency-Key-From: txn`: the events' shared `txn`.
    Txn,
}

impl KeySource {
    /// The key of a request with these `events`. With [`KeySource::Txn`] every event must carry
    /// a `txn`, the same one, and it must be a valid key; otherwise `400`.
    pub(crate) fn key(self, events: &[ValidEvent]) -> Result<Option<String>, IngestError> {
        match self {
            Self::None => Ok(None),
            Self::Header(key) => Ok(Some(key)),
            Self::Txn => {
                let mut txns = events.iter().map(|e| e.txn.as_deref());
                let first = txns.next().flatten().ok_or_else(|| {
                    IngestError::Invalid(
                        "Idempotency-Key-From: txn needs a `txn` on every event".to_owned(),
                    )
                })?;
                if txns.any(|t| t != Some(first)) {
                    return Err(IngestError::Invalid(
                        "Idempotency-Key-From: txn needs the same `txn` on every event of the \
                         batch; send an Idempotency-Key instead"
                            .to_owned(),
                    ));
                }
                check_key(first)
                    .map(|()| Some(first.to_owned()))
                    .map_err(|why| bad_key("the `txn` used as idempotency key", why))
            }
        }
    }
}

/// A `400` about a key: `what` breaks the rule because of `why`.
pub(super) fn bad_key(what: &str, why: &str) -> IngestError {
    IngestError::Invalid(format!("{what}: {why}; {KEY_RULE}"))
}

/// The key in a header value: a structured-field string
/// ([RFC 8941 §3.3.3](https://www.rfc-editor.org/rfc/rfc8941#section-3.3.3)) or the bare
/// characters; either way 1 to [`MAX_KEY_LEN`] printable ASCII characters.
pub(crate) fn parse_key(value: &str) -> Result<String, &'static str> {
    let value = value.trim_matches([' ', '\t']);
    let key = match value.strip_prefix('"') {
        Some(rest) => {
            let inner = rest
                .strip_suffix('"')
                .ok_or("the quoted string is not closed")?;
            let mut key = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some(e @ ('"' | '\\')) => key.push(e),
                        _ => return Err("only \\\" and \\\\ may be escaped"),
                    },
                    '"' => return Err("a quote inside the string must be escaped"),
                    c => key.push(c),
                }
            }
            key
        }
        None => value.to_owned(),
    };
    check_key(&key)?;
    Ok(key)
}

/// Checks a key (unquoted): 1 to [`MAX_KEY_LEN`] printable ASCII characters; the error says
/// which rule it breaks.
pub fn check_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("it is empty");
    }
    if key.len() > MAX_KEY_LEN {
        return Err("it is too long");
    }
    if !key.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err("it has a character outside printable ASCII");
    }
    Ok(())
}

/// The header value for `key`: a structured-field string (RFC 8941 §3.3.3), as the draft spells
/// the header, e.g. `"8e03978e-40d5"`.
pub fn key_header_value(key: &str) -> String {
    let mut value = String::with_capacity(key.len() + 2);
    value.push('"');
    for c in key.chars() {
        if matches!(c, '"' | '\\') {
            value.push('\\');
        }
        value.push(c);
    }
    value.push('"');
    value
}

/// The fingerprint of a request: the hex SHA-256 of its body bytes as received. A retry
/// resends the same bytes; a re-serialisation would depend on member order and whitespace.
pub(crate) fn request_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// A request with a key, ready to publish.
#[derive(Debug)]
pub(crate) struct KeyedRequest<'a> {
    /// The authenticated client: the key's scope.
    pub(crate) client_id: &'a str,
    /// The key.
    pub(crate) key: String,
    /// The body as received.
    pub(crate) body: &'a [u8],
    /// Whether the body was one event (not a batch): the shape of the answer.
    pub(crate) single: bool,
}

/// The answer remembered under a request's idempotency key.
#[derive(Debug)]
pub(crate) struct Remembered {
    /// The status and body.
    pub(crate) response: StoredResponse,
    /// Whether it is the first request's answer again (`Idempotent-Replayed: true`), not this
    /// request's own.
    pub(crate) replayed: bool,
}

impl Ingest {
    /// Publishes `events` under the request's key: a live key answers from its record (the
    /// replay, or [`IngestError::KeyReused`] for another body); a free one queues the SETs and
    /// remembers the answer, in one transaction.
    pub(crate) async fn publish_keyed(
        &self,
        request: KeyedRequest<'_>,
        events: Vec<ValidEvent>,
    ) -> Result<Remembered, IngestError> {
        let hash = request_hash(request.body);
        let now = self.clock.now();
        // A retry usually comes after the first request committed: answer it without signing.
        if let Some(record) = self
            .store
            .idempotency_record(request.client_id, &request.key)
            .await?
            && record.is_live(now)
        {
            return replay(
                request.client_id,
                &record.request_hash,
                &hash,
                record.response,
            );
        }
        let prepared = Arc::new(Prepared::new(self, events).await?);
        let sets = prepared.sets();
        let single = request.single;
        let respond = {
            let prepared = Arc::clone(&prepared);
            Respond::new(move |report| StoredResponse {
                status: ACCEPTED,
                body: answer(prepared.results(report), single).to_string(),
            })
        };
        let claim = IdempotencyClaim {
            client_id: request.client_id.to_owned(),
            key: request.key,
            request_hash: hash.clone(),
            window: self.settings.idempotency_window,
        };
        match self.store.enqueue_idempotent(sets, claim, respond).await? {
            IdempotentEnqueue::Enqueued { report, response } => {
                prepared.count(&report);
                tracing::debug!(client_id = %request.client_id, "events published under an idempotency key");
                Ok(Remembered {
                    response,
                    replayed: false,
                })
            }
            IdempotentEnqueue::Existing(record) => replay(
                request.client_id,
                &record.request_hash,
                &hash,
                record.response,
            ),
        }
    }
}

/// The status of an accepted request (`202 Accepted`).
const ACCEPTED: u16 = 202;

/// The first answer again, or [`IngestError::KeyReused`] if the key was used for another body.
fn replay(
    client_id: &str,
    first_hash: &str,
    hash: &str,
    response: StoredResponse,
) -> Result<Remembered, IngestError> {
    if first_hash != hash {
        tracing::info!(%client_id, "idempotency key reused for a different request");
        crate::metrics::idempotent_replay(false);
        return Err(IngestError::KeyReused);
    }
    tracing::info!(%client_id, "idempotent retry answered from the first request");
    crate::metrics::idempotent_replay(true);
    Ok(Remembered {
        response,
        replayed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_draft_shape() {
        assert_eq!(parse_key("\"abc-123\"").unwrap(), "abc-123");
        assert_eq!(parse_key("abc-123").unwrap(), "abc-123");
        assert_eq!(parse_key(r#""a\"b\\c""#).unwrap(), r#"a"b\c"#);
        assert_eq!(parse_key(&"k".repeat(255)).unwrap().len(), 255);
        assert!(parse_key(&"k".repeat(256)).is_err());
        assert!(parse_key("").is_err());
        assert!(parse_key("\"\"").is_err());
        assert!(parse_key("\"open").is_err());
        assert!(parse_key(r#""a"b""#).is_err());
        assert!(parse_key(r#""a\nb""#).is_err());
        assert!(parse_key("caf\u{e9}").is_err());
        for key in ["abc", r#"a"b\c"#, "with space"] {
            assert_eq!(parse_key(&key_header_value(key)).unwrap(), key);
        }
    }

    #[test]
    fn the_hash_is_sha256_of_the_bytes() {
        assert_eq!(
            request_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(request_hash(b"{\"a\":1}"), request_hash(b"{\"a\": 1}"));
    }
}
