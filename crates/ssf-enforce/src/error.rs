//! The one error enum of this crate.
//!
//! Planning never fails (a malformed event yields a [`Plan`](crate::Plan) without effects whose
//! audit entry says why); these errors come from parsing inputs, rows and configuration.

use crate::row::RowKind;

/// What went wrong while reading a subject, an event, a state row or the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnforceError {
    /// A Subject Identifier lacks a member its format requires, or is not a JSON object
    /// ([RFC 9493 §3](https://www.rfc-editor.org/rfc/rfc9493#section-3),
    /// [SSF 1.0 §3.3](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-3.3)).
    #[error("invalid subject identifier: {0}")]
    InvalidSubject(&'static str),
    /// A SET payload or event body lacks a member the engine needs (`iss`, `jti`, `events`, ...).
    #[error("invalid event: {0}")]
    InvalidEvent(&'static str),
    /// A stored state row does not have the shape its kind needs; it is skipped on load.
    #[error("invalid state row {kind}/{key}: {reason}")]
    InvalidRow {
        /// The row's kind.
        kind: RowKind,
        /// The row's key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The engine configuration is inconsistent (e.g. an unknown access level in a permission).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The receiver store could not be read (e.g. while looking up the audit entry behind a
    /// decision, [`crate::explain`]).
    #[error("the receiver store could not be read: {0}")]
    Store(String),
}
