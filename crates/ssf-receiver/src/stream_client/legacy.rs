//! Draft-era (SSE/SSF ID1) stream management, for peers with `legacy = true` (checklist
//! section 13): one stream per receiver and no `stream_id`, updated by POSTing the whole
//! configuration; the RISC delivery-method URIs with `delivery_method`/`url` keys.
//!
//! Such a stream gets the local id [`LEGACY_STREAM_ID`] so the rest of the receiver can keep
//! it like any other; requests for it carry no `stream_id` (neither in the query nor in the
//! body).

use serde::Serialize;
use serde_json::Value;
use ssf_http::Url;
use ssf_types::{StreamConfiguration, StreamId, TransmitterMetadata, stream::DeliveryMethod};

use super::StreamClient;
use crate::error::ReceiverError;

/// The local id of a draft-era peer's single stream, which has no `stream_id` of its own. Never
/// sent to the transmitter.
pub const LEGACY_STREAM_ID: &str = "_legacy-single-stream";

/// Whether `stream_id` is the [`LEGACY_STREAM_ID`] placeholder.
pub fn is_legacy_stream(stream_id: &StreamId) -> bool {
    stream_id.as_str() == LEGACY_STREAM_ID
}

/// Gives a draft-era configuration without `stream_id` the placeholder id.
pub(super) fn fill_stream_id(config: &mut StreamConfiguration) {
    if config.stream_id.is_none() {
        config.stream_id = Some(StreamId::new(LEGACY_STREAM_ID));
    }
}

/// Whether the transmitter advertises only the draft RISC delivery-method URIs: then it gets
/// the draft `delivery` shape.
pub(super) fn wants_draft_delivery(metadata: &TransmitterMetadata) -> bool {
    !metadata.delivery_methods_supported.is_empty()
        && metadata
            .delivery_methods_supported
            .iter()
            .all(DeliveryMethod::is_legacy)
}

/// Rewrites `body.delivery` to the draft shape: `delivery_method` with the RISC URI and `url`
/// for `endpoint_url` (TV-NEG-26's shape, which a draft-era transmitter expects).
pub(super) fn draft_delivery(body: &mut Value) {
    let Some(delivery) = body.get_mut("delivery").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(method) = delivery.remove("method") {
        let draft = match method.as_str() {
            Some(m) if m == DeliveryMethod::Push.as_str() => {
                Value::from(DeliveryMethod::LegacyRiscPush.as_str())
            }
            Some(m) if m == DeliveryMethod::Poll.as_str() => {
                Value::from(DeliveryMethod::LegacyRiscPoll.as_str())
            }
            _ => method,
        };
        delivery.insert("delivery_method".to_owned(), draft);
    }
    if let Some(url) = delivery.remove("endpoint_url") {
        delivery.insert("url".to_owned(), url);
    }
}

impl StreamClient {
    /// The endpoint with `?stream_id=…` (SSF-STREAM-45), none for a draft-era stream.
    pub(super) fn stream_url(
        &self,
        value: &Option<String>,
        what: &'static str,
        stream_id: &StreamId,
    ) -> Result<Url, ReceiverError> {
        let mut url = self.endpoint(value, what)?;
        if !is_legacy_stream(stream_id) {
            url.query_pairs_mut()
                .append_pair("stream_id", stream_id.as_str());
        }
        Ok(url)
    }

    /// A request body naming `stream_id`, without it for a draft-era stream.
    pub(super) fn body_for(
        &self,
        stream_id: &StreamId,
        body: impl Serialize,
    ) -> Result<Value, ReceiverError> {
        let body = serde_json::to_value(body)
            .map_err(|e| ReceiverError::InvalidRequest(format!("body does not serialize: {e}")))?;
        Ok(without_stream_id(body, stream_id))
    }

    /// A create or update body: in the draft `delivery` shape for a legacy transmitter that
    /// advertises only the draft delivery URIs.
    pub(super) fn outgoing(&self, config: StreamConfiguration) -> Result<Value, ReceiverError> {
        let mut body = serde_json::to_value(config)
            .map_err(|e| ReceiverError::InvalidRequest(format!("body does not serialize: {e}")))?;
        if self.mode.is_legacy() && wants_draft_delivery(&self.metadata) {
            draft_delivery(&mut body);
        }
        Ok(body)
    }
}

/// Removes `stream_id` from a request body for the placeholder stream.
pub(super) fn without_stream_id(mut body: Value, stream_id: &StreamId) -> Value {
    if is_legacy_stream(stream_id)
        && let Some(map) = body.as_object_mut()
    {
        map.remove("stream_id");
    }
    body
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn draft_delivery_uses_the_risc_uri_and_url_tv_neg_26() {
        let mut body = json!({"delivery": {"method": "urn:ietf:rfc:8935",
            "endpoint_url": "https://rx/ssf/push/idp", "authorization_header": "Bearer x"}});
        draft_delivery(&mut body);
        assert_eq!(
            body,
            json!({"delivery": {"delivery_method":
                "https://schemas.openid.net/secevent/risc/delivery-method/push",
                "url": "https://rx/ssf/push/idp", "authorization_header": "Bearer x"}})
        );
        let mut poll = json!({"delivery": {"method": "urn:ietf:rfc:8936"}});
        draft_delivery(&mut poll);
        assert_eq!(
            poll["delivery"]["delivery_method"],
            "https://schemas.openid.net/secevent/risc/delivery-method/poll"
        );
    }

    #[test]
    fn the_placeholder_is_never_sent() {
        let id = StreamId::new(LEGACY_STREAM_ID);
        assert!(is_legacy_stream(&id));
        let body = without_stream_id(json!({"stream_id": LEGACY_STREAM_ID, "state": "s"}), &id);
        assert_eq!(body, json!({"state": "s"}));
        let real = StreamId::new("s1");
        assert_eq!(
            without_stream_id(json!({"stream_id": "s1"}), &real),
            json!({"stream_id": "s1"})
        );
    }
}
