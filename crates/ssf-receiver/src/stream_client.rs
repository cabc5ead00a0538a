//! A typed client for any SSF 1.0 transmitter's stream management API
//! ([SSF 1.0 §8.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1)):
//! create, read, list, update (PATCH), replace (PUT), delete, status, verification and
//! subjects. `ssf stream …` uses it with just an issuer URL and a token ([`StreamClient::connect`]).
//!
//! Rules it enforces on the receiver's side:
//! - a create or replace body holds only receiver-supplied properties (SSF-STREAM-23, CONF);
//!   a PATCH or PUT body carries `stream_id` (SSF-STREAM-33/40); `events_requested` is never
//!   an empty array (SSF-STREAM-35); DELETE and status reads pass `stream_id` in the query
//!   (SSF-STREAM-45);
//! - every configuration returned by create, read, update or replace has its `iss` checked
//!   against the discovered issuer (SSF-AUTH-14) and its `aud` against the agreed audience when
//!   one is configured (SSF-STREAM-30); a stream that fails is remembered and no verify, status,
//!   update or subject call is made for it afterwards (SSF-AUTH-15; CONF
//!   `receiver-stream-issuer-mismatch`);
//! - every error carries the HTTP status and the transmitter's error body
//!   ([`ReceiverError::Transmitter`]);
//! - in legacy mode, a draft-era transmitter's single stream without `stream_id` gets the local
//!   id [`LEGACY_STREAM_ID`], never sent, and is updated by POSTing the whole configuration; a
//!   transmitter that advertises only the draft delivery URIs is sent the draft `delivery`
//!   shape.

mod legacy;

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex, PoisonError},
};

use serde::Serialize;
use serde_json::Value;
use ssf_http::{
    GuardedClient, Url,
    reqwest::{
        Method, Response,
        header::{ACCEPT, CONTENT_TYPE, HeaderValue},
    },
};
use ssf_types::{
    Clock, Issuer, ParseMode, StreamConfiguration, StreamId, StreamStatus, SubjectId,
    TransmitterMetadata,
    stream::{
        AddSubjectRequest, RemoveSubjectRequest, StatusRequest, StatusResponse, VerificationRequest,
    },
};

pub use self::legacy::{LEGACY_STREAM_ID, is_legacy_stream};
use crate::{
    discovery::discover,
    error::ReceiverError,
    token::TokenSource,
    wire::{ACCEPT_JSON, MAX_JSON_BODY, error_from, parse_url, read_json, status_in},
};

/// The answer to a create request (SSF 1.0 §8.1.1.1).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CreateOutcome {
    /// `201 Created` with the new, checked configuration.
    Created(Box<StreamConfiguration>),
    /// `409 Conflict`: the transmitter keeps one stream per receiver and one exists
    /// (SSF-STREAM-27). Read it and reuse it (SSF-STREAM-28, D-13).
    Conflict,
}

/// The answer to an update or replace (SSF 1.0 §8.1.1.3–4).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum UpdateOutcome {
    /// `200 OK` with the whole, checked configuration.
    Updated(Box<StreamConfiguration>),
    /// `202 Accepted`: accepted but not processed yet (SSF-STREAM-38); read it again later.
    Accepted,
}

/// The answer to a status update (SSF 1.0 §8.1.2.2).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StatusOutcome {
    /// `200 OK` with the status now in force.
    Updated(StatusResponse),
    /// `202 Accepted`: the transmitter has not decided yet (SSF-STATUS-08).
    Accepted,
}

/// A client for one transmitter's stream management API. Cheap to clone; clones share the
/// token cache and the list of refused streams.
#[derive(Debug, Clone)]
pub struct StreamClient {
    http: GuardedClient,
    tokens: TokenSource,
    metadata: Arc<TransmitterMetadata>,
    mode: ParseMode,
    audience: Option<String>,
    clock: Arc<dyn Clock>,
    refused: Arc<Mutex<BTreeSet<StreamId>>>,
}

impl StreamClient {
    /// A client for the transmitter described by `metadata`, which must come from
    /// [`discover`] (issuer and values checked).
    pub fn new(
        http: GuardedClient,
        metadata: TransmitterMetadata,
        tokens: TokenSource,
        mode: ParseMode,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            http,
            tokens,
            metadata: Arc::new(metadata),
            mode,
            audience: None,
            clock,
            refused: Arc::default(),
        }
    }

    /// Discovers `issuer` and makes a client for it: all the CLI needs.
    pub async fn connect(
        http: GuardedClient,
        issuer: &str,
        tokens: TokenSource,
        legacy: bool,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ReceiverError> {
        let found = discover(&http, issuer, legacy).await?;
        let mode = if legacy {
            ParseMode::Legacy
        } else {
            ParseMode::Strict
        };
        Ok(Self::new(http, found.metadata, tokens, mode, clock))
    }

    /// Also require `audience` in every stream's `aud` (SSF-STREAM-30, D-12).
    #[must_use]
    pub fn with_audience(mut self, audience: Option<String>) -> Self {
        self.audience = audience;
        self
    }

    /// The transmitter's metadata.
    pub fn metadata(&self) -> &TransmitterMetadata {
        &self.metadata
    }

    /// The transmitter's issuer: every stream's `iss` must equal it.
    pub fn issuer(&self) -> &Issuer {
        &self.metadata.issuer
    }

    /// The token source.
    pub fn tokens(&self) -> &TokenSource {
        &self.tokens
    }

    /// The parse mode for the transmitter's bodies.
    pub fn mode(&self) -> ParseMode {
        self.mode
    }

    /// Whether `stream_id` failed the `iss`/`aud` checks and is not used (SSF-AUTH-15).
    pub fn is_refused(&self, stream_id: &StreamId) -> bool {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(stream_id)
    }

    /// Creates a stream (`POST {configuration_endpoint}`, SSF 1.0 §8.1.1.1). Only the
    /// receiver-supplied properties of `request` are sent (SSF-STREAM-23).
    pub async fn create(
        &self,
        request: &StreamConfiguration,
    ) -> Result<CreateOutcome, ReceiverError> {
        const OP: &str = "create stream";
        check_events_requested(request)?;
        let body = self.outgoing(request.receiver_supplied())?;
        let url = self.endpoint(
            &self.metadata.configuration_endpoint,
            "configuration_endpoint",
        )?;
        let response = self.call(Method::POST, url, Some(&body)).await?;
        match response.status().as_u16() {
            // 200: a draft-era transmitter's update of its single stream.
            201 | 200 => Ok(CreateOutcome::Created(Box::new(
                self.config_from(response, OP).await?,
            ))),
            409 => Ok(CreateOutcome::Conflict),
            _ => Err(self.error(response, OP).await),
        }
    }

    /// Reads one stream (`GET {configuration_endpoint}?stream_id=…`, SSF 1.0 §8.1.1.2). Reading
    /// is allowed for a refused stream: if it now passes the checks, it is usable again.
    pub async fn get(&self, stream_id: &StreamId) -> Result<StreamConfiguration, ReceiverError> {
        const OP: &str = "read stream";
        let url = self.stream_url(
            &self.metadata.configuration_endpoint,
            "configuration_endpoint",
            stream_id,
        )?;
        let response = self.call::<()>(Method::GET, url, None).await?;
        if !response.status().is_success() {
            return Err(self.error(response, OP).await);
        }
        let body = read_json(response, MAX_JSON_BODY, OP).await?;
        // Some transmitters answer a single read with a one-element array.
        let body = match body {
            Value::Array(mut items) if items.len() == 1 => items.remove(0),
            other => other,
        };
        let config = self.parse_config(&body, OP)?;
        if config.stream_id.as_ref() != Some(stream_id) {
            return Err(ReceiverError::InvalidResponse {
                operation: OP,
                reason: "the answer is for another stream".to_owned(),
            });
        }
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(stream_id);
        Ok(config)
    }

    /// Lists this receiver's streams (`GET {configuration_endpoint}`, SSF-STREAM-31). Streams
    /// that fail the `iss`/`aud` checks are left out (and logged); they are never used.
    pub async fn list(&self) -> Result<Vec<StreamConfiguration>, ReceiverError> {
        const OP: &str = "list streams";
        let url = self.endpoint(
            &self.metadata.configuration_endpoint,
            "configuration_endpoint",
        )?;
        let response = self.call::<()>(Method::GET, url, None).await?;
        if !response.status().is_success() {
            return Err(self.error(response, OP).await);
        }
        let items = match read_json(response, MAX_JSON_BODY, OP).await? {
            Value::Array(items) => items,
            // ID1 transmitters kept one stream per receiver and answered with it alone.
            single @ Value::Object(_) if self.mode.is_legacy() => vec![single],
            _ => {
                return Err(ReceiverError::InvalidResponse {
                    operation: OP,
                    reason: "the body is not a JSON array".to_owned(),
                });
            }
        };
        let mut streams = Vec::with_capacity(items.len());
        for item in &items {
            match self.parse_config(item, OP) {
                Ok(config) => streams.push(config),
                Err(
                    e @ (ReceiverError::ForeignStream { .. }
                    | ReceiverError::AudienceMismatch { .. }),
                ) => {
                    tracing::warn!(error = %e, "ignoring a stream that is not ours to use");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(streams)
    }

    /// Updates the receiver-supplied properties present in `patch`
    /// (`PATCH {configuration_endpoint}`, SSF 1.0 §8.1.1.3). `patch.stream_id` is required.
    pub async fn update(
        &self,
        patch: &StreamConfiguration,
    ) -> Result<UpdateOutcome, ReceiverError> {
        self.modify(Method::PATCH, patch, "update stream").await
    }

    /// Replaces the receiver-supplied properties with those of `config`
    /// (`PUT {configuration_endpoint}`, SSF 1.0 §8.1.1.4): an absent one is deleted
    /// (SSF-STREAM-40/41). `config.stream_id` is required.
    pub async fn replace(
        &self,
        config: &StreamConfiguration,
    ) -> Result<UpdateOutcome, ReceiverError> {
        self.modify(Method::PUT, config, "replace stream").await
    }

    async fn modify(
        &self,
        method: Method,
        request: &StreamConfiguration,
        op: &'static str,
    ) -> Result<UpdateOutcome, ReceiverError> {
        let stream_id = request
            .require_stream_id()
            .map_err(|_| ReceiverError::InvalidRequest(format!("{op} needs a stream_id")))?;
        self.usable(stream_id)?;
        check_events_requested(request)?;
        let mut body = request.receiver_supplied();
        body.stream_id = Some(stream_id.clone());
        let body = legacy::without_stream_id(self.outgoing(body)?, stream_id);
        let url = self.endpoint(
            &self.metadata.configuration_endpoint,
            "configuration_endpoint",
        )?;
        // A draft-era stream is updated by POSTing the whole configuration.
        let method = if is_legacy_stream(stream_id) {
            Method::POST
        } else {
            method
        };
        let response = self.call(method, url, Some(&body)).await?;
        match response.status().as_u16() {
            200 | 201 => {
                let config = self.config_from(response, op).await?;
                if config.stream_id.as_ref() != Some(stream_id) {
                    return Err(ReceiverError::InvalidResponse {
                        operation: op,
                        reason: "the answer is for another stream".to_owned(),
                    });
                }
                Ok(UpdateOutcome::Updated(Box::new(config)))
            }
            202 | 204 => Ok(UpdateOutcome::Accepted),
            _ => Err(self.error(response, op).await),
        }
    }

    /// Deletes a stream (`DELETE {configuration_endpoint}?stream_id=…`, SSF 1.0 §8.1.1.5,
    /// SSF-STREAM-45). Allowed for a refused stream, so it can be cleaned up.
    pub async fn delete(&self, stream_id: &StreamId) -> Result<(), ReceiverError> {
        let url = self.stream_url(
            &self.metadata.configuration_endpoint,
            "configuration_endpoint",
            stream_id,
        )?;
        let response = self.call::<()>(Method::DELETE, url, None).await?;
        // 204 is the final answer (SSF-STREAM-46); ID1 transmitters answered 200.
        if status_in(response.status(), &[200, 202, 204]) {
            return Ok(());
        }
        Err(self.error(response, "delete stream").await)
    }

    /// Reads a stream's status (`GET {status_endpoint}?stream_id=…`, SSF 1.0 §8.1.2.1).
    pub async fn status(&self, stream_id: &StreamId) -> Result<StatusResponse, ReceiverError> {
        const OP: &str = "read stream status";
        self.usable(stream_id)?;
        let url = self.stream_url(&self.metadata.status_endpoint, "status_endpoint", stream_id)?;
        let response = self.call::<()>(Method::GET, url, None).await?;
        if !response.status().is_success() {
            return Err(self.error(response, OP).await);
        }
        self.status_from(response, stream_id, OP).await
    }

    /// Sets a stream's status (`POST {status_endpoint}`, SSF 1.0 §8.1.2.2).
    pub async fn set_status(
        &self,
        stream_id: &StreamId,
        status: StreamStatus,
        reason: Option<String>,
    ) -> Result<StatusOutcome, ReceiverError> {
        const OP: &str = "update stream status";
        self.usable(stream_id)?;
        let url = self.endpoint(&self.metadata.status_endpoint, "status_endpoint")?;
        let body = self.body_for(
            stream_id,
            StatusRequest::new(stream_id.clone(), status, reason),
        )?;
        let response = self.call(Method::POST, url, Some(&body)).await?;
        match response.status().as_u16() {
            200 => Ok(StatusOutcome::Updated(
                self.status_from(response, stream_id, OP).await?,
            )),
            202 | 204 => Ok(StatusOutcome::Accepted),
            _ => Err(self.error(response, OP).await),
        }
    }

    /// Asks for a verification event (`POST {verification_endpoint}`, SSF 1.0 §8.1.4.2,
    /// SSF-VERIFY-01). The event arrives later, over the stream's delivery method, in any order
    /// relative to queued events (SSF-VERIFY-09); record `state` before calling this.
    pub async fn verify(
        &self,
        stream_id: &StreamId,
        state: Option<String>,
    ) -> Result<(), ReceiverError> {
        self.usable(stream_id)?;
        let url = self.endpoint(
            &self.metadata.verification_endpoint,
            "verification_endpoint",
        )?;
        let body = self.body_for(
            stream_id,
            VerificationRequest::new(stream_id.clone(), state),
        )?;
        let response = self.call(Method::POST, url, Some(&body)).await?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(self.error(response, "request verification").await)
    }

    /// Adds a subject (`POST {add_subject_endpoint}`, SSF 1.0 §8.1.3.2, SSF-SUBJ-01). Success
    /// does not mean events will come (SSF-SUBJ-11).
    pub async fn add_subject(
        &self,
        stream_id: &StreamId,
        subject: SubjectId,
        verified: Option<bool>,
    ) -> Result<(), ReceiverError> {
        self.usable(stream_id)?;
        let url = self.endpoint(&self.metadata.add_subject_endpoint, "add_subject_endpoint")?;
        let body = self.body_for(
            stream_id,
            AddSubjectRequest::new(stream_id.clone(), subject, verified),
        )?;
        let response = self.call(Method::POST, url, Some(&body)).await?;
        // 200 (SSF-SUBJ-03); 204 per SSF §9.1 (B-01).
        if response.status().is_success() {
            return Ok(());
        }
        Err(self.error(response, "add subject").await)
    }

    /// Removes a subject (`POST {remove_subject_endpoint}`, SSF 1.0 §8.1.3.3, SSF-SUBJ-06).
    pub async fn remove_subject(
        &self,
        stream_id: &StreamId,
        subject: SubjectId,
    ) -> Result<(), ReceiverError> {
        self.usable(stream_id)?;
        let url = self.endpoint(
            &self.metadata.remove_subject_endpoint,
            "remove_subject_endpoint",
        )?;
        let body = self.body_for(
            stream_id,
            RemoveSubjectRequest::new(stream_id.clone(), subject),
        )?;
        let response = self.call(Method::POST, url, Some(&body)).await?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(self.error(response, "remove subject").await)
    }

    /// Checks a configuration the transmitter returned (SSF-AUTH-14, SSF-STREAM-30), for
    /// callers that got one another way. A failing stream is remembered as refused.
    pub fn check_config(&self, config: &StreamConfiguration) -> Result<(), ReceiverError> {
        let id = config.stream_id.clone();
        let refuse = |error: ReceiverError| {
            if let Some(id) = &id {
                self.refused
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(id.clone());
            }
            Err(error)
        };
        if config.iss.as_ref() != Some(self.issuer()) {
            return refuse(ReceiverError::ForeignStream {
                stream_id: id.as_ref().map_or("?", StreamId::as_str).to_owned(),
                found: config
                    .iss
                    .as_ref()
                    .map(|i| i.as_str().to_owned())
                    .unwrap_or_default(),
            });
        }
        let Some(stream_id) = id.clone() else {
            return Err(ReceiverError::InvalidResponse {
                operation: "check stream",
                reason: "the stream configuration has no stream_id".to_owned(),
            });
        };
        if let Some(expected) = &self.audience
            && !config
                .aud
                .as_ref()
                .is_some_and(|aud| aud.contains(expected))
        {
            return refuse(ReceiverError::AudienceMismatch { stream_id });
        }
        Ok(())
    }

    /// Refuses, without a request, any use of a stream that failed the checks (SSF-AUTH-15).
    fn usable(&self, stream_id: &StreamId) -> Result<(), ReceiverError> {
        if self.is_refused(stream_id) {
            return Err(ReceiverError::ForeignStream {
                stream_id: stream_id.as_str().to_owned(),
                found: "(refused earlier)".to_owned(),
            });
        }
        Ok(())
    }

    fn endpoint(&self, value: &Option<String>, what: &'static str) -> Result<Url, ReceiverError> {
        let value = value
            .as_deref()
            .ok_or(ReceiverError::MissingEndpoint(what))?;
        parse_url(value, what)
    }

    async fn call<B: Serialize>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<Response, ReceiverError> {
        self.tokens
            .send(|| {
                let mut request = self
                    .http
                    .request(method.clone(), url.clone())?
                    .header(ACCEPT, ACCEPT_JSON);
                if let Some(body) = body {
                    let bytes = serde_json::to_vec(body).map_err(|e| {
                        ReceiverError::InvalidRequest(format!("body does not serialize: {e}"))
                    })?;
                    request = request
                        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                        .body(bytes);
                }
                Ok(request)
            })
            .await
    }

    async fn config_from(
        &self,
        response: Response,
        op: &'static str,
    ) -> Result<StreamConfiguration, ReceiverError> {
        let body = read_json(response, MAX_JSON_BODY, op).await?;
        self.parse_config(&body, op)
    }

    fn parse_config(
        &self,
        body: &Value,
        op: &'static str,
    ) -> Result<StreamConfiguration, ReceiverError> {
        let mut config = StreamConfiguration::from_json(body, self.mode)
            .map_err(ReceiverError::body("stream configuration"))?;
        if self.mode.is_legacy() {
            legacy::fill_stream_id(&mut config);
        }
        if config.stream_id.is_none() {
            return Err(ReceiverError::InvalidResponse {
                operation: op,
                reason: "the stream configuration has no stream_id".to_owned(),
            });
        }
        self.check_config(&config)?;
        Ok(config)
    }

    async fn status_from(
        &self,
        response: Response,
        stream_id: &StreamId,
        op: &'static str,
    ) -> Result<StatusResponse, ReceiverError> {
        let body = read_json(response, MAX_JSON_BODY, op).await?;
        let status = StatusResponse::from_json(&body, self.mode)
            .map_err(ReceiverError::body("stream status"))?;
        if status.stream_id.as_ref().is_some_and(|id| id != stream_id) {
            return Err(ReceiverError::InvalidResponse {
                operation: op,
                reason: "the answer is for another stream".to_owned(),
            });
        }
        Ok(status)
    }

    async fn error(&self, response: Response, op: &'static str) -> ReceiverError {
        error_from(response, op, self.clock.now()).await
    }
}

/// SSF-STREAM-35: `events_requested` SHOULD NOT be an empty array.
fn check_events_requested(config: &StreamConfiguration) -> Result<(), ReceiverError> {
    if config.events_requested.as_ref().is_some_and(Vec::is_empty) {
        return Err(ReceiverError::InvalidRequest(
            "events_requested must not be an empty array (SSF-STREAM-35)".to_owned(),
        ));
    }
    Ok(())
}
