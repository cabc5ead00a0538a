//! The configuration endpoint ([SSF 1.0 §8.1.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.1)):
//! create (`POST`), read (`GET`), update (`PATCH`), replace (`PUT`) and delete (`DELETE`).

use axum::{
    Json,
    extract::State,
    http::{StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use ssf_store::{DeliveryMethod as StoreMethod, NewStream, StreamRecord, StreamUpdate};
use ssf_types::{
    Audience, Delivery, EventTypeUri, Issuer, ParseMode, StreamConfiguration, StreamId,
    stream::{AuthorizationHeader, PollDelivery, PushDelivery},
};

use super::{JsonBody, audit, bad_body, query_stream_id, require_query_stream_id, touch};
use crate::{
    auth::{Principal, Scope},
    error::ApiError,
    metadata::Endpoints,
    secrets::{public_config, seal_config},
    state::AppState,
};

/// `POST` — Create Stream (SSF 1.0 §8.1.1.1): `201` with the whole configuration
/// (SSF-STREAM-24). Without `delivery` the stream polls at a URL of its own (SSF-STREAM-25);
/// transmitter-supplied and unknown members are ignored (D-02); `events_delivered` is
/// `events_supported` ∩ `events_requested` (SSF-STREAM-06, D-01).
pub(super) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Response, ApiError> {
    principal.require(Scope::Manage)?;
    let request =
        StreamConfiguration::from_json(&body.value()?, ParseMode::Strict).map_err(bad_body)?;
    let ignored = request.transmitter_supplied_present();
    if !ignored.is_empty() || !request.extra.is_empty() {
        tracing::info!(client_id = %principal.client_id, ?ignored, unknown = ?request.extra.keys().collect::<Vec<_>>(),
            "create request members ignored (D-02)");
    }
    let settings = &state.config.streams;
    if !settings.allow_multiple_streams
        && !state
            .store
            .list_streams(&principal.client_id)
            .await?
            .is_empty()
    {
        return Err(ApiError::Conflict(
            "this receiver already has a stream".to_owned(),
        ));
    }
    let stream_id = StreamId::new(uuid::Uuid::new_v4().simple().to_string());
    let delivery = resolve_delivery(&state, request.delivery.as_ref(), &stream_id, None)?;
    let supported: Vec<EventTypeUri> = settings
        .events_supported
        .iter()
        .map(|e| EventTypeUri::new(e.as_str()))
        .collect();
    let mut config = StreamConfiguration::new();
    config.stream_id = Some(stream_id.clone());
    config.iss = Some(Issuer::new(state.config.issuer.as_str()));
    config.aud = Some(Audience::from(principal.audience.clone()));
    config.events_delivered = Some(delivered(&supported, request.events_requested.as_deref()));
    config.events_supported = Some(supported);
    config.events_requested = request.events_requested.clone();
    config.delivery = Some(delivery);
    config.min_verification_interval = settings.min_verification_interval();
    config.inactivity_timeout = settings.inactivity_timeout();
    config.description = truncate(request.description.clone(), settings.max_description_len);

    let mut new = NewStream::new(
        stream_id.clone(),
        principal.client_id.clone(),
        store_method(&config)?,
        to_json(&config)?,
    );
    new.default_subjects = settings.default_subjects;
    new.min_verification_interval_secs = config.min_verification_interval.and_then(to_i64);
    new.inactivity_timeout_secs = config.inactivity_timeout.and_then(to_i64);
    let record = state.store.create_stream(new).await?;
    state.matcher.invalidate();
    audit(
        &state,
        &principal,
        "stream.create",
        Some(&stream_id),
        summary(&config),
    )
    .await;
    tracing::info!(%stream_id, client_id = %principal.client_id, "stream created");
    Ok((StatusCode::CREATED, Json(public_config(record.config))).into_response())
}

/// `GET` — Read Stream (SSF 1.0 §8.1.1.2): one configuration with `?stream_id=`, else a JSON
/// array of all of this receiver's streams, `[]` when there are none (SSF-STREAM-31).
pub(super) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    match query_stream_id(&uri)? {
        Some(stream_id) => {
            let record = owned(&state, &principal, &stream_id).await?;
            touch(&state, &principal, &stream_id).await;
            Ok(Json(public_config(record.config)).into_response())
        }
        None => {
            let all = state.store.list_streams(&principal.client_id).await?;
            let configs: Vec<Value> = all.into_iter().map(|r| public_config(r.config)).collect();
            Ok(Json(configs).into_response())
        }
    }
}

/// `PATCH` — Update Stream (SSF 1.0 §8.1.1.3): receiver-supplied members present replace the
/// current ones (SSF-STREAM-34); transmitter-supplied ones must equal their current values
/// (SSF-STREAM-36, TV-STREAM-09); `200` with the whole configuration (SSF-STREAM-37).
pub(super) async fn update(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Response, ApiError> {
    change(state, principal, body, Mode::Patch).await
}

/// `PUT` — Replace Stream (SSF 1.0 §8.1.1.4): the receiver-supplied members become exactly
/// those of the body (SSF-STREAM-41); without `delivery` the stream polls (D-03).
pub(super) async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Response, ApiError> {
    change(state, principal, body, Mode::Put).await
}

/// `DELETE ?stream_id=` — Delete Stream (SSF 1.0 §8.1.1.5): `204`; the stream, its subjects and
/// its queued SETs are gone (SSF-STREAM-46, SSF-STREAM-49).
pub(super) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Response, ApiError> {
    principal.require(Scope::Manage)?;
    let stream_id = require_query_stream_id(&uri)?;
    if !state
        .store
        .delete_stream(&principal.client_id, &stream_id)
        .await?
    {
        return Err(ApiError::StreamNotFound);
    }
    audit(
        &state,
        &principal,
        "stream.delete",
        Some(&stream_id),
        json!({}),
    )
    .await;
    tracing::info!(%stream_id, client_id = %principal.client_id, "stream deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Patch,
    Put,
}

async fn change(
    state: AppState,
    principal: Principal,
    body: JsonBody,
    mode: Mode,
) -> Result<Response, ApiError> {
    principal.require(Scope::Manage)?;
    let mut request =
        StreamConfiguration::from_json(&body.value()?, ParseMode::Strict).map_err(bad_body)?;
    let stream_id = request.require_stream_id().map_err(bad_body)?.clone();
    let record = owned(&state, &principal, &stream_id).await?;
    let current =
        StreamConfiguration::from_json(&record.config, ParseMode::Strict).map_err(|e| {
            ApiError::Internal(format!("stored configuration of {stream_id}: {e}").into())
        })?;
    request
        .check_transmitter_fields(&current)
        .map_err(bad_body)?;
    if !request.extra.is_empty() {
        tracing::info!(%stream_id, unknown = ?request.extra.keys().collect::<Vec<_>>(), "unknown members ignored");
        request.extra.clear();
    }
    let settings = &state.config.streams;
    let mut next = current.clone();
    match mode {
        Mode::Patch => {
            if request.delivery.is_some() {
                request.delivery = Some(resolve_delivery(
                    &state,
                    request.delivery.as_ref(),
                    &stream_id,
                    Some(&current),
                )?);
            }
            next.apply_update(&request);
        }
        Mode::Put => {
            request.delivery = Some(resolve_delivery(
                &state,
                request.delivery.as_ref(),
                &stream_id,
                Some(&current),
            )?);
            next.apply_replace(&request);
        }
    }
    if mode == Mode::Put || request.events_requested.is_some() {
        let supported = current.events_supported.clone().unwrap_or_default();
        next.events_delivered = Some(delivered(&supported, next.events_requested.as_deref()));
    }
    next.description = truncate(next.description, settings.max_description_len);
    // A header kept from a row an older version wrote in plaintext is encrypted now.
    seal_config(&state.secrets, &stream_id, &mut next)?;

    let update = StreamUpdate {
        config: to_json(&next)?,
        delivery: store_method(&next)?,
        inactivity_timeout_secs: record.inactivity_timeout_secs,
        min_verification_interval_secs: record.min_verification_interval_secs,
        expected_revision: Some(record.revision),
    };
    let updated = state
        .store
        .update_stream(&principal.client_id, &stream_id, update)
        .await?
        .ok_or(ApiError::StreamNotFound)?;
    state.matcher.invalidate();
    touch(&state, &principal, &stream_id).await;
    let action = if mode == Mode::Patch {
        "stream.update"
    } else {
        "stream.replace"
    };
    audit(&state, &principal, action, Some(&stream_id), summary(&next)).await;
    Ok(Json(public_config(updated.config)).into_response())
}

/// The stream if it is this receiver's; `404` otherwise, also for another receiver's stream
/// (SSF-AUTH-05).
pub(super) async fn owned(
    state: &AppState,
    principal: &Principal,
    stream_id: &StreamId,
) -> Result<StreamRecord, ApiError> {
    state
        .store
        .get_stream(&principal.client_id, stream_id)
        .await?
        .ok_or(ApiError::StreamNotFound)
}

/// The delivery a stream gets for a requested one:
/// - none or poll: poll at the stream's own URL (SSF-STREAM-25, SSF-STREAM-19); a poll
///   `endpoint_url` other than that (or the `current` one) is ignored on create (D-02) and
///   refused on PATCH/PUT (SSF-STREAM-36);
/// - push: the `endpoint_url` must pass the push client's outbound URL policy
///   (https only unless `allow_http`; no private or loopback literals unless allowed;
///   SSF-SEC-16, PUSH-20);
/// - anything else: `400` (SSF-STREAM-20, SSF-STREAM-26).
fn resolve_delivery(
    state: &AppState,
    requested: Option<&Delivery>,
    stream_id: &StreamId,
    current: Option<&StreamConfiguration>,
) -> Result<Delivery, ApiError> {
    let poll_url = Endpoints::new(&state.config).poll_url(stream_id.as_str());
    let current_poll_url = match current.and_then(|c| c.delivery.as_ref()) {
        Some(Delivery::Poll(p)) => p.endpoint_url.as_deref(),
        _ => None,
    };
    match requested {
        None => Ok(Delivery::Poll(PollDelivery::new(Some(poll_url)))),
        Some(Delivery::Poll(p)) => {
            let foreign = p
                .endpoint_url
                .as_deref()
                .is_some_and(|u| u != poll_url && Some(u) != current_poll_url);
            if current.is_some() && foreign {
                return Err(ApiError::BadRequest(
                    "the poll endpoint_url is chosen by the transmitter and cannot be changed"
                        .to_owned(),
                ));
            }
            Ok(Delivery::Poll(PollDelivery::new(Some(poll_url))))
        }
        Some(Delivery::Push(p)) => {
            let url = ssf_http::Url::parse(&p.endpoint_url).map_err(|_| {
                ApiError::BadRequest("delivery.endpoint_url is not a valid URL".to_owned())
            })?;
            ssf_http::validate_url(&url, push_url_policy(state)).map_err(|e| {
                ApiError::BadRequest(format!("delivery.endpoint_url is not allowed: {e}"))
            })?;
            let mut push = PushDelivery::new(p.endpoint_url.clone());
            match (
                &p.authorization_header,
                current.and_then(|c| c.delivery.as_ref()),
            ) {
                // The request's value, encrypted before it is stored (D-TX-18).
                (Some(header), _) => {
                    let sealed = state.secrets.seal(stream_id, header.expose())?;
                    push = push.with_authorization(AuthorizationHeader::new(sealed));
                }
                // Responses never show the header, so a delivery sent back without one for the
                // same endpoint keeps the stored one (D-TX-18).
                (None, Some(Delivery::Push(have))) if have.endpoint_url == p.endpoint_url => {
                    if let Some(stored) = &have.authorization_header {
                        push = push.with_authorization(stored.clone());
                    }
                }
                (None, _) => {}
            }
            Ok(Delivery::Push(push))
        }
        Some(other) => Err(ApiError::BadRequest(format!(
            "delivery method `{}` is not supported; use urn:ietf:rfc:8935 or urn:ietf:rfc:8936",
            other.method().as_str()
        ))),
    }
}

/// The outbound policy push endpoint URLs must pass: the one the push client uses.
fn push_url_policy(state: &AppState) -> &ssf_http::ClientConfig {
    &state.config.push.http
}

/// `events_delivered`: the requested types this transmitter supports, in the order requested,
/// without duplicates; unknown requested types are ignored (SSF-STREAM-05/06, D-01).
fn delivered(supported: &[EventTypeUri], requested: Option<&[EventTypeUri]>) -> Vec<EventTypeUri> {
    let mut out: Vec<EventTypeUri> = Vec::new();
    for uri in requested.unwrap_or_default() {
        if supported.contains(uri) && !out.contains(uri) {
            out.push(uri.clone());
        }
    }
    out
}

fn truncate(description: Option<String>, max: usize) -> Option<String> {
    description.map(|mut d| {
        if d.len() > max {
            let mut cut = max;
            while !d.is_char_boundary(cut) {
                cut -= 1;
            }
            d.truncate(cut);
        }
        d
    })
}

fn store_method(config: &StreamConfiguration) -> Result<StoreMethod, ApiError> {
    match &config.delivery {
        Some(Delivery::Push(_)) => Ok(StoreMethod::Push),
        Some(Delivery::Poll(_)) => Ok(StoreMethod::Poll),
        _ => Err(ApiError::Internal(
            "a stream without push or poll delivery".into(),
        )),
    }
}

fn to_json(config: &StreamConfiguration) -> Result<Value, ApiError> {
    serde_json::to_value(config).map_err(|e| ApiError::Internal(e.into()))
}

fn to_i64(v: u64) -> Option<i64> {
    i64::try_from(v).ok()
}

/// What the audit log keeps of a configuration: never the push `authorization_header`.
fn summary(config: &StreamConfiguration) -> Value {
    let (method, endpoint) = match &config.delivery {
        Some(Delivery::Push(p)) => ("push", Some(p.endpoint_url.clone())),
        Some(Delivery::Poll(_)) => ("poll", None),
        _ => ("other", None),
    };
    json!({
        "delivery": method,
        "endpoint_url": endpoint,
        "events_requested": config.events_requested,
        "events_delivered": config.events_delivered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_is_the_ordered_intersection_d_01() {
        let s = |v: &[&str]| v.iter().map(|x| EventTypeUri::new(*x)).collect::<Vec<_>>();
        let supported = s(&["urn:1", "urn:2", "urn:3"]);
        assert_eq!(
            delivered(&supported, Some(&s(&["urn:3", "urn:4", "urn:2", "urn:3"]))),
            s(&["urn:3", "urn:2"])
        );
        assert_eq!(delivered(&supported, None), s(&[]));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate(Some("héllo".to_owned()), 2), Some("h".to_owned()));
        assert_eq!(truncate(Some("abc".to_owned()), 5), Some("abc".to_owned()));
    }
}
