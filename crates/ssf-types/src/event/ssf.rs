//! The events SSF defines itself: verification and stream-updated
//! ([SSF 1.0 §8.1.4, §8.1.5](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.4)).
//! Their `sub_id` is always the stream's own subject
//! ([`SubjectId::for_stream`](crate::subject::SubjectId::for_stream), SSF-EVT-03/12).

use serde_json::{Map, Value};

use super::common::{Fields, Writer, closed};
use crate::{error::EventError, stream::StreamStatus, subject::Extra};

/// SSF verification ([SSF 1.0 §8.1.4.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.4.1),
/// SSF-EVT-01/02): `state` echoes the receiver's request, and is absent when the transmitter
/// verifies on its own (SSF-VERIFY-05, SSF-RXV-17).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Verification {
    /// `state`.
    pub state: Option<String>,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl Verification {
    /// A verification event echoing `state` (`None` for a transmitter-initiated one).
    pub fn new(state: Option<String>) -> Self {
        Self {
            state,
            extra: Extra::new(),
        }
    }

    /// Whether this event answers a request that sent `expected` (SSF-RXV-10, SSF-VERIFY-10):
    /// the states must be byte-identical, or both absent. A mismatch is answered `invalid_state`
    /// ([`SetErrorCode::InvalidState`](crate::SetErrorCode::InvalidState), TV-NEG-22).
    pub fn state_matches(&self, expected: Option<&str>) -> bool {
        self.state.as_deref() == expected
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, EventError> {
        let mut f = Fields::new(value)?;
        Ok(Self {
            state: f.opt_string("state")?,
            extra: f.rest(),
        })
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut w = Writer::new(&self.extra);
        w.opt("state", self.state.as_deref());
        w.finish()
    }
}

/// SSF stream-updated ([SSF 1.0 §8.1.5](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.5),
/// SSF-EVT-10/11).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamUpdated {
    /// `status` (REQUIRED): the new status; `enabled`, `paused` or `disabled` (TV-NEG-23).
    pub status: StreamStatus,
    /// `reason`.
    pub reason: Option<String>,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl StreamUpdated {
    /// An event announcing `status`.
    pub fn new(status: StreamStatus, reason: Option<String>) -> Self {
        Self {
            status,
            reason,
            extra: Extra::new(),
        }
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, EventError> {
        let mut f = Fields::new(value)?;
        let status: StreamStatus = f.enum_("status")?;
        closed("status", status.is_known(), status.as_str())?;
        Ok(Self {
            status,
            reason: f.opt_string("reason")?,
            extra: f.rest(),
        })
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut w = Writer::new(&self.extra);
        w.put("status", self.status.as_str());
        w.opt("reason", self.reason.as_deref());
        w.finish()
    }
}
