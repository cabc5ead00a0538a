//! The fourteen RISC 1.0 events ([RISC §2](https://openid.net/specs/openid-risc-1_0.html#section-2)).

use serde_json::{Map, Value};

use super::{
    caep::CredentialType,
    common::{Fields, ReasonMap, Writer, closed},
};
use crate::{error::EventError, subject::Extra};

crate::open_enum! {
    /// `reason` of account-disabled (RISC §2.3). Closed (CAEP-05 applied to RISC).
    pub enum AccountDisabledReason {
        /// The account was hijacked.
        Hijacking = "hijacking",
        /// The account is one of many created in bulk (abuse).
        BulkAccount = "bulk-account",
    }
}

/// A RISC event with no attributes of its own (RISC §2.1, 2.2, 2.4, 2.6, 2.8.x, 2.9, 2.10, 2.11;
/// checklist RISC-01/02/04/06/08..14). Which one it is, is the [`Event`](super::Event) variant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RiscSimpleEvent {
    /// Unknown members, kept (an `event_timestamp`, a legacy `subject`, …).
    pub extra: Extra,
}

impl RiscSimpleEvent {
    /// An empty event object, `{}`.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, EventError> {
        Ok(Self {
            extra: Fields::new(value)?.rest(),
        })
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        Writer::new(&self.extra).finish()
    }
}

/// RISC `account-disabled` ([RISC §2.3](https://openid.net/specs/openid-risc-1_0.html#section-2.3),
/// RISC-03).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AccountDisabled {
    /// `reason` (closed).
    pub reason: Option<AccountDisabledReason>,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl AccountDisabled {
    /// An event with an optional reason.
    pub fn new(reason: Option<AccountDisabledReason>) -> Self {
        Self {
            reason,
            extra: Extra::new(),
        }
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, EventError> {
        let mut f = Fields::new(value)?;
        let reason: Option<AccountDisabledReason> = f.opt_enum("reason")?;
        if let Some(r) = &reason {
            closed("reason", r.is_known(), r.as_str())?;
        }
        Ok(Self {
            reason,
            extra: f.rest(),
        })
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut w = Writer::new(&self.extra);
        w.opt("reason", self.reason.as_ref().map(|r| r.as_str()));
        w.finish()
    }
}

/// RISC `identifier-changed` ([RISC §2.5](https://openid.net/specs/openid-risc-1_0.html#section-2.5),
/// RISC-05). The subject (an `email` or `phone_number`) carries the **old** value. A subject of
/// another format is accepted (D-21); the receiver does not act on it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IdentifierChanged {
    /// `new-value` (with a hyphen): the new identifier.
    pub new_value: Option<String>,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl IdentifierChanged {
    /// An event with an optional new value.
    pub fn new(new_value: Option<String>) -> Self {
        Self {
            new_value,
            extra: Extra::new(),
        }
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, EventError> {
        let mut f = Fields::new(value)?;
        Ok(Self {
            new_value: f.opt_string("new-value")?,
            extra: f.rest(),
        })
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut w = Writer::new(&self.extra);
        w.opt("new-value", self.new_value.as_deref());
        w.finish()
    }
}

/// RISC `credential-compromise` ([RISC §2.7](https://openid.net/specs/openid-risc-1_0.html#section-2.7),
/// RISC-07).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CredentialCompromise {
    /// `credential_type` (REQUIRED; the CAEP credential-change values, open).
    pub credential_type: CredentialType,
    /// `event_timestamp`: when the transmitter discovered the compromise (seconds).
    pub event_timestamp: Option<i64>,
    /// `reason_admin` (CAEP language-map shape).
    pub reason_admin: Option<ReasonMap>,
    /// `reason_user` (CAEP language-map shape).
    pub reason_user: Option<ReasonMap>,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl CredentialCompromise {
    /// An event with the required field.
    pub fn new(credential_type: CredentialType) -> Self {
        Self {
            credential_type,
            event_timestamp: None,
            reason_admin: None,
            reason_user: None,
            extra: Extra::new(),
        }
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, EventError> {
        let mut f = Fields::new(value)?;
        Ok(Self {
            credential_type: f.enum_("credential_type")?,
            event_timestamp: f.opt_i64("event_timestamp")?,
            reason_admin: f.opt_reason("reason_admin")?,
            reason_user: f.opt_reason("reason_user")?,
            extra: f.rest(),
        })
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut w = Writer::new(&self.extra);
        w.put("credential_type", self.credential_type.as_str());
        w.opt("event_timestamp", self.event_timestamp);
        w.opt_json("reason_admin", self.reason_admin.as_ref());
        w.opt_json("reason_user", self.reason_user.as_ref());
        w.finish()
    }
}
