//! Errors of this crate: one umbrella [`Error`] with a precise sub-enum per concern.
//!
//! Every error here means "the peer sent something the spec does not allow". The mapping to wire
//! codes lives in exactly one place per wire: [`SetShapeError::err_code`] for SETs (always
//! `invalid_request`, RFC 8935 §2.4); management and poll bodies answer HTTP `400`.

use std::{fmt, sync::Arc};

use crate::error_code::SetErrorCode;

/// A JSON parser's error kept as the source of [`SetShapeError::InvalidJson`] and
/// [`BodyError::InvalidJson`]: cheap to clone, and compared by its text (so the error enums
/// stay `PartialEq`). [`JsonError::get`] gives the parser's error (line, column, category).
#[derive(Debug, Clone)]
pub struct JsonError(Arc<serde_json::Error>);

impl JsonError {
    /// The parser's error.
    pub fn get(&self) -> &serde_json::Error {
        &self.0
    }
}

impl From<serde_json::Error> for JsonError {
    fn from(err: serde_json::Error) -> Self {
        Self(Arc::new(err))
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for JsonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The parser's error itself is what this wrapper displays; its own cause comes next.
        self.0.source()
    }
}

impl PartialEq for JsonError {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for JsonError {}

/// Why a Subject Identifier or Complex Subject is invalid
/// ([RFC 9493 §3](https://www.rfc-editor.org/rfc/rfc9493#section-3),
/// [SSF 1.0 §3](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-3)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubjectError {
    /// The subject is not a JSON object (SSF-SUB-01).
    #[error("a subject identifier must be a JSON object")]
    NotAnObject,
    /// There is no `format` member (SSF-SUB-01).
    #[error("the subject identifier has no `format` member")]
    MissingFormat,
    /// `format` is not a string.
    #[error("the subject `format` member must be a string")]
    FormatNotString,
    /// Google's legacy `subject_type` instead of `format` (SSF-SUB-23/24, RISC §3.1, TV-NEG-20);
    /// accepted only in legacy mode.
    #[error(
        "`subject_type` is the legacy RISC name of `format`; it is accepted only in legacy mode"
    )]
    LegacySubjectType,
    /// A draft format name (`jwt-id`, `saml-assertion-id`, `phone`); accepted only in legacy mode.
    #[error(
        "subject format `{format}` is a draft name of `{replacement}`; it is accepted only in legacy mode"
    )]
    LegacyFormat {
        /// The draft name received.
        format: String,
        /// The final name.
        replacement: &'static str,
    },
    /// A member the format requires is absent (SSF-SUB-02, TV-NEG-18).
    #[error("a `{format}` subject requires the member `{member}`")]
    MissingMember {
        /// The subject format.
        format: String,
        /// The missing member.
        member: &'static str,
    },
    /// A member has the wrong JSON type.
    #[error("member `{member}` of a `{format}` subject must be {expected}")]
    WrongType {
        /// The subject format.
        format: String,
        /// The member.
        member: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A required member is empty (SSF-SUB-03, TV-NEG-19).
    #[error("member `{member}` of a `{format}` subject must not be empty")]
    EmptyMember {
        /// The subject format.
        format: String,
        /// The member.
        member: &'static str,
    },
    /// A member's value does not have the syntax its format requires (an `acct:` URI, an E.164
    /// number, a DID, an IP address, …).
    #[error("member `{member}` of a `{format}` subject is not {expected}")]
    InvalidValue {
        /// The subject format.
        format: String,
        /// The member.
        member: &'static str,
        /// The syntax expected.
        expected: &'static str,
    },
    /// A member the format does not describe (SSF-SUB-02). Only [`SubjectId::validate`] reports
    /// it: receivers ignore unknown members (SSF-RXV-15).
    ///
    /// [`SubjectId::validate`]: crate::subject::SubjectId::validate
    #[error("member `{member}` is not described by the `{format}` format")]
    UnexpectedMember {
        /// The subject format.
        format: String,
        /// The extra member.
        member: String,
    },
    /// `aliases` with an empty `identifiers` array (SSF-SUB-17).
    #[error("an `aliases` subject needs at least one identifier")]
    EmptyAliases,
    /// `aliases` inside `aliases` (SSF-SUB-17, TV-NEG-16).
    #[error("an `aliases` subject must not contain another `aliases` subject")]
    NestedAliases,
    /// A complex subject inside `aliases` (whose members are Subject Identifiers, RFC 9493 §3.2.8).
    #[error("an `aliases` subject must not contain a `complex` subject")]
    ComplexInAliases,
    /// A complex subject without members (SSF-SUB-30).
    #[error("a `complex` subject needs at least one member")]
    EmptyComplex,
    /// A complex subject nested in a complex subject (SSF-SUB-33, TV-NEG-17).
    #[error("member `{0}` of a complex subject is itself complex; members must be simple subjects")]
    NestedComplex(String),
    /// A member of a complex subject is invalid.
    #[error("member `{member}` of the complex subject: {source}")]
    ComplexMember {
        /// The member name.
        member: String,
        /// What is wrong with it.
        source: Box<Self>,
    },
    /// An identifier of an `aliases` subject is invalid.
    #[error("identifier {index} of the `aliases` subject: {source}")]
    Alias {
        /// Its index in `identifiers`.
        index: usize,
        /// What is wrong with it.
        source: Box<Self>,
    },
}

/// Why an event object does not conform to its definition (SSF-RXV-09, CAEP-05): answered
/// with `invalid_request` ([`SetShapeError::err_code`] via [`SetShapeError::Event`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The event value is not a JSON object (SSF-RXV-06).
    #[error("the event must be a JSON object")]
    NotAnObject,
    /// A required field is absent (TV-NEG-06, TV-NEG-15).
    #[error("the event requires the field `{0}`")]
    MissingField(&'static str),
    /// A field has the wrong JSON type (TV-NEG-09).
    #[error("the event field `{field}` must be {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A value outside a closed enumeration (CAEP-05, TV-NEG-07/08/13/14/23).
    #[error("`{value}` is not an allowed value of the event field `{field}`")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value received.
        value: String,
    },
    /// An object or array that must have at least one member is empty (CAEP-03, CAEP-11).
    #[error("the event field `{0}` must not be empty")]
    Empty(&'static str),
    /// A key of `reason_admin`/`reason_user` is not a BCP 47 language tag (CAEP-03).
    #[error("`{tag}` in the event field `{field}` is not a language tag")]
    InvalidLanguageTag {
        /// The field.
        field: &'static str,
        /// The key received.
        tag: String,
    },
}

/// Why a SET's claims do not have the shape a receiver accepts
/// ([RFC 8417 §2.2](https://www.rfc-editor.org/rfc/rfc8417#section-2.2),
/// [SSF 1.0 §4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4)).
/// Every variant is answered with `invalid_request` ([`SetShapeError::err_code`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SetShapeError {
    /// The payload is not valid JSON (SSF-RXV-01).
    #[error("the SET payload is not valid JSON: {0}")]
    InvalidJson(#[source] JsonError),
    /// The payload is not a JSON object (SSF-RXV-01).
    #[error("the SET payload is not a JSON object")]
    NotAnObject,
    /// A required claim (`iss`, `jti`, `iat`) is absent (SSF-SET-03..05).
    #[error("the SET has no `{0}` claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type.
    #[error("the SET claim `{claim}` must be {expected}")]
    WrongClaimType {
        /// The claim.
        claim: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// `events` is absent (SSF-RXV-06, SSF-SET-15).
    #[error("the SET has no `events` claim")]
    MissingEvents,
    /// `events` is not a JSON object (SSF-RXV-06).
    #[error("the SET `events` claim must be a JSON object")]
    EventsNotObject,
    /// `events` is an empty object (SSF-SET-15).
    #[error("the SET `events` claim holds no event")]
    NoEvents,
    /// An event's value is not a JSON object (SSF-RXV-06, TV-NEG-05).
    #[error("the value of event `{0}` must be a JSON object")]
    EventNotObject(String),
    /// More than one event (SSF-SET-16/17, CAEPIOP §2.8.1, TV-NEG-04).
    #[error("the SET carries {0} events; exactly one is allowed")]
    MultipleEvents(usize),
    /// `sub_id` is absent (SSF-SET-12, SSF-RXV-07, TV-NEG-01).
    #[error("the SET has no `sub_id` claim")]
    MissingSubId,
    /// `sub_id` is absent and the event carries a draft `subject` instead (TV-NEG-12, D-19);
    /// accepted only in legacy mode.
    #[error(
        "the SET has no `sub_id` claim; a `subject` inside the event is accepted only in legacy mode"
    )]
    LegacyEventSubject,
    /// `sub_id` is invalid (SSF-RXV-07).
    #[error("the SET `sub_id` is invalid: {0}")]
    SubId(SubjectError),
    /// The legacy `subject` inside the event is invalid (legacy mode).
    #[error("the `subject` inside the event is invalid: {0}")]
    EventSubject(SubjectError),
    /// The event does not conform to its definition (SSF-RXV-09).
    #[error("the event `{uri}` is invalid: {source}")]
    Event {
        /// The event-type URI.
        uri: String,
        /// What is wrong.
        source: EventError,
    },
    /// A transmitter tried to emit a claim SSF forbids (`sub`, `exp`; SSF-SET-13/14) or one that
    /// collides with a typed claim.
    #[error("the claim `{0}` must not be set this way in an SSF SET")]
    ForbiddenClaim(String),
}

impl SetShapeError {
    /// The RFC 8935 §2.4 / RFC 8936 `err` code for this error: always `invalid_request`
    /// (checklist SSF-RXV-01, 06, 07, 09). The one place this mapping is made.
    pub fn err_code(&self) -> SetErrorCode {
        SetErrorCode::InvalidRequest
    }
}

/// Why a management, metadata or poll body is invalid (SSF 1.0 §7, §8; RFC 8936 §2.2). A server
/// answers every variant with HTTP `400` ([`BodyError::http_status`]); a poll endpoint puts
/// [`BodyError::err_code`] in its JSON error body (POLL-03).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is not valid JSON.
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(#[source] JsonError),
    /// The body (or a member that must be an object) is not a JSON object.
    #[error("`{0}` must be a JSON object")]
    NotAnObject(&'static str),
    /// A required member is absent (SSF-STREAM-20, 33, SSF-STATUS-07, SSF-SUBJ-01, …).
    #[error("the body requires the member `{0}`")]
    MissingField(&'static str),
    /// A member has the wrong JSON type or an invalid value.
    #[error("the member `{field}` is invalid: {reason}")]
    InvalidField {
        /// The member.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A draft-only member name (`delivery_method`, `url`, `acks`, …); accepted only in legacy
    /// mode (TV-NEG-26, TV-NEG-27).
    #[error(
        "`{member}` is a legacy member name (use `{replacement}`); it is accepted only in legacy mode"
    )]
    LegacyMember {
        /// The legacy name received.
        member: &'static str,
        /// The final name.
        replacement: &'static str,
    },
    /// A legacy RISC delivery-method URI; accepted only in legacy mode (checklist section 13).
    #[error("delivery method `{0}` is a legacy RISC URI; it is accepted only in legacy mode")]
    LegacyDeliveryMethod(String),
    /// An invalid subject in an add/remove-subject body (D-04).
    #[error("invalid subject: {0}")]
    Subject(SubjectError),
    /// A status other than `enabled`, `paused`, `disabled` (D-18, SSF-STATUS-09).
    #[error("`{0}` is not a stream status")]
    UnknownStatus(String),
    /// A transmitter-supplied property in a PATCH/PUT body differs from its current value
    /// (SSF-STREAM-36/42, TV-STREAM-09).
    #[error("the transmitter-supplied property `{0}` does not match its current value")]
    TransmitterFieldMismatch(&'static str),
    /// The metadata `issuer` differs from the issuer used for discovery (SSF-META-07).
    #[error("the metadata `issuer` does not match the expected issuer")]
    IssuerMismatch,
    /// A metadata endpoint or issuer is not an `https` URL without query and fragment
    /// (SSF-META-11, SSF-META-24).
    #[error("`{0}` must be an https URL")]
    NotHttps(&'static str),
}

impl BodyError {
    /// The HTTP status a server answers: always `400 Bad Request` (SSF 1.0 §8 error tables,
    /// POLL-03). The one place this mapping is made.
    pub fn http_status(&self) -> u16 {
        400
    }

    /// The `err` code of a poll endpoint's error body (POLL-03): always `invalid_request`.
    pub fn err_code(&self) -> SetErrorCode {
        SetErrorCode::InvalidRequest
    }
}

/// Every error of this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An invalid subject.
    #[error(transparent)]
    Subject(#[from] SubjectError),
    /// A SET of the wrong shape.
    #[error(transparent)]
    SetShape(#[from] SetShapeError),
    /// An invalid event.
    #[error(transparent)]
    Event(#[from] EventError),
    /// An invalid management, metadata or poll body.
    #[error(transparent)]
    Body(#[from] BodyError),
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_json_error_keeps_the_parser_error() {
        let parsed: Result<serde_json::Value, _> = serde_json::from_slice(b"{nope");
        let Err(parser) = parsed else {
            panic!("parsed");
        };
        let err = BodyError::InvalidJson(parser.into());
        let BodyError::InvalidJson(json) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(json.get().line(), 1);
        assert!(err.source().is_some());
        assert_eq!(err.clone(), err);
        assert!(err.to_string().starts_with("the body is not valid JSON: "));
    }
}
