//! Status, subject and verification bodies
//! ([SSF 1.0 §8.1.2–§8.1.4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.2)).

use serde::Serialize;
use serde_json::{Map, Value};

use super::StreamStatus;
use crate::{
    body::{self, deserialize_via_from_json},
    error::BodyError,
    ids::StreamId,
    mode::ParseMode,
    subject::{Extra, SubjectId},
};

/// Body of `POST {status_endpoint}` ([SSF 1.0 §8.1.2.2](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.2.2),
/// SSF-STATUS-07).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StatusRequest {
    /// `stream_id` (REQUIRED).
    pub stream_id: StreamId,
    /// `status` (REQUIRED): `enabled`, `paused` or `disabled`.
    pub status: StreamStatus,
    /// `reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_via_from_json!(StatusRequest);

impl StatusRequest {
    /// A request to set `status`.
    pub fn new(stream_id: StreamId, status: StreamStatus, reason: Option<String>) -> Self {
        Self {
            stream_id,
            status,
            reason,
            extra: Extra::new(),
        }
    }

    /// Parses the body; a status other than the three defined ones is refused (D-18,
    /// SSF-STATUS-09).
    pub fn from_json(value: &Value, _mode: ParseMode) -> Result<Self, BodyError> {
        let mut map = body::object(value, "status request")?;
        let status: StreamStatus = body::require::<String>(&mut map, "status")?.into();
        if !status.is_known() {
            return Err(BodyError::UnknownStatus(status.as_str().to_owned()));
        }
        Ok(Self {
            stream_id: body::require(&mut map, "stream_id")?,
            status,
            reason: body::take(&mut map, "reason")?,
            extra: body::rest(map),
        })
    }
}

/// Body of a status answer: `GET {status_endpoint}` and `POST` (SSF 1.0 §8.1.2.1–2,
/// SSF-STATUS-01). `stream_id` is optional on read because pre-ID3 transmitters left it out; an
/// unknown `status` is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StatusResponse {
    /// `stream_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<StreamId>,
    /// `status`.
    pub status: StreamStatus,
    /// `reason` (SSF-STATUS-03).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_via_from_json!(StatusResponse);

impl StatusResponse {
    /// The answer for `stream_id`.
    pub fn new(stream_id: StreamId, status: StreamStatus, reason: Option<String>) -> Self {
        Self {
            stream_id: Some(stream_id),
            status,
            reason,
            extra: Extra::new(),
        }
    }

    /// Parses the body.
    pub fn from_json(value: &Value, _mode: ParseMode) -> Result<Self, BodyError> {
        let mut map = body::object(value, "status response")?;
        Ok(Self {
            stream_id: body::take(&mut map, "stream_id")?,
            status: body::require::<String>(&mut map, "status")?.into(),
            reason: body::take(&mut map, "reason")?,
            extra: body::rest(map),
        })
    }
}

/// Body of `POST {add_subject_endpoint}` ([SSF 1.0 §8.1.3.2](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.3.2),
/// SSF-SUBJ-01).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AddSubjectRequest {
    /// `stream_id` (REQUIRED).
    pub stream_id: StreamId,
    /// `subject` (REQUIRED): a Subject Identifier or Complex Subject.
    pub subject: SubjectId,
    /// `verified`: whether the receiver verified the subject; see [`Self::is_verified`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_via_from_json!(AddSubjectRequest);

impl AddSubjectRequest {
    /// A request to add `subject`.
    pub fn new(stream_id: StreamId, subject: SubjectId, verified: Option<bool>) -> Self {
        Self {
            stream_id,
            subject,
            verified,
            extra: Extra::new(),
        }
    }

    /// `verified`, where absent means `true` (SSF-SUBJ-02).
    pub fn is_verified(&self) -> bool {
        self.verified.unwrap_or(true)
    }

    /// Parses the body; an invalid subject is refused (D-04). `mode` applies to the subject.
    pub fn from_json(value: &Value, mode: ParseMode) -> Result<Self, BodyError> {
        let mut map = body::object(value, "add subject request")?;
        Ok(Self {
            stream_id: body::require(&mut map, "stream_id")?,
            subject: take_subject(&mut map, mode)?,
            verified: body::take(&mut map, "verified")?,
            extra: body::rest(map),
        })
    }
}

/// Body of `POST {remove_subject_endpoint}` ([SSF 1.0 §8.1.3.3](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.3.3),
/// SSF-SUBJ-06). Removing the stream's own subject is refused by the transmitter (SSF-SUBJ-09);
/// see [`Self::removes_stream_subject`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RemoveSubjectRequest {
    /// `stream_id` (REQUIRED).
    pub stream_id: StreamId,
    /// `subject` (REQUIRED).
    pub subject: SubjectId,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_via_from_json!(RemoveSubjectRequest);

impl RemoveSubjectRequest {
    /// A request to remove `subject`.
    pub fn new(stream_id: StreamId, subject: SubjectId) -> Self {
        Self {
            stream_id,
            subject,
            extra: Extra::new(),
        }
    }

    /// Whether this asks to remove the stream's own `{"format":"opaque","id":<stream_id>}`
    /// subject, which cannot be removed (SSF-SUBJ-09: `400`).
    pub fn removes_stream_subject(&self) -> bool {
        self.subject.is_stream(&self.stream_id)
    }

    /// Parses the body; an invalid subject is refused. `mode` applies to the subject.
    pub fn from_json(value: &Value, mode: ParseMode) -> Result<Self, BodyError> {
        let mut map = body::object(value, "remove subject request")?;
        Ok(Self {
            stream_id: body::require(&mut map, "stream_id")?,
            subject: take_subject(&mut map, mode)?,
            extra: body::rest(map),
        })
    }
}

/// Body of `POST {verification_endpoint}` ([SSF 1.0 §8.1.4.2](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.4.2),
/// SSF-VERIFY-01).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerificationRequest {
    /// `stream_id` (REQUIRED).
    pub stream_id: StreamId,
    /// `state`, echoed in the verification event (SSF-VERIFY-04).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_via_from_json!(VerificationRequest);

impl VerificationRequest {
    /// A request to verify `stream_id`.
    pub fn new(stream_id: StreamId, state: Option<String>) -> Self {
        Self {
            stream_id,
            state,
            extra: Extra::new(),
        }
    }

    /// Parses the body.
    pub fn from_json(value: &Value, _mode: ParseMode) -> Result<Self, BodyError> {
        let mut map = body::object(value, "verification request")?;
        Ok(Self {
            stream_id: body::require(&mut map, "stream_id")?,
            state: body::take(&mut map, "state")?,
            extra: body::rest(map),
        })
    }
}

fn take_subject(map: &mut Map<String, Value>, mode: ParseMode) -> Result<SubjectId, BodyError> {
    let value = map
        .remove("subject")
        .ok_or(BodyError::MissingField("subject"))?;
    SubjectId::from_json(&value, mode).map_err(BodyError::Subject)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_status_is_refused_in_requests_d_18() {
        let v = json!({"stream_id": "s", "status": "stopped"});
        assert_eq!(
            StatusRequest::from_json(&v, ParseMode::Strict),
            Err(BodyError::UnknownStatus("stopped".into()))
        );
        let r = StatusResponse::from_json(&v, ParseMode::Strict).unwrap();
        assert_eq!(r.status, StreamStatus::from("stopped"));
        assert!(StatusRequest::from_json(&json!({"status": "paused"}), ParseMode::Strict).is_err());
    }

    #[test]
    fn subject_requests_ssf_subj_01_02_09() {
        let add = AddSubjectRequest::from_json(
            &json!({"stream_id": "s", "subject": {"format": "opaque", "id": "u"}}),
            ParseMode::Strict,
        )
        .unwrap();
        assert!(add.is_verified());
        let bad = json!({"stream_id": "s", "subject": {"format": "email", "email": ""}});
        assert!(matches!(
            AddSubjectRequest::from_json(&bad, ParseMode::Strict),
            Err(BodyError::Subject(_))
        ));
        assert_eq!(
            AddSubjectRequest::from_json(&json!({"stream_id": "s"}), ParseMode::Strict),
            Err(BodyError::MissingField("subject"))
        );
        let own = RemoveSubjectRequest::new(StreamId::new("s"), SubjectId::opaque("s"));
        assert!(own.removes_stream_subject());
    }

    #[test]
    fn legacy_subject_type_in_add_subject_only_in_legacy_mode() {
        let v = json!({"stream_id": "s", "subject": {"subject_type": "email", "email": "a@example.com"}});
        assert!(AddSubjectRequest::from_json(&v, ParseMode::Strict).is_err());
        assert!(AddSubjectRequest::from_json(&v, ParseMode::Legacy).is_ok());
    }
}
