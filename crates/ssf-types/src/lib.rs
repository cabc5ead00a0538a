//! Protocol types of the [OpenID Shared Signals Framework 1.0][ssf], [CAEP 1.0][caep] and
//! [RISC 1.0][risc], carried in Security Event Tokens ([RFC 8417]).
//!
//! Pure data: serde types, parsing and validation rules, no I/O. Unknown values round-trip;
//! unknown members are kept.
//!
//! | Module | What |
//! |---|---|
//! | [`subject`] | [`SubjectId`] (RFC 9493 + SSF formats, complex, proprietary), validation, matching, email canonicalization |
//! | [`set`] | [`SetClaims`] with the receiver's shape checks, [`set::SetBuilder`] for transmitters, [`Audience`], [`Txn`], `typ` helpers |
//! | [`event`] | [`EventType`] (every URI) and [`Event`] (every CAEP/RISC/SSF event typed, others kept) |
//! | [`stream`] | [`StreamConfiguration`], [`Delivery`], status, subject and verification bodies, PATCH/PUT rules |
//! | [`metadata`] | [`TransmitterMetadata`], [`discovery_url`] |
//! | [`delivery`] | [`PushErrorBody`], [`PollRequest`], [`PollResponse`] |
//! | [`error`] | [`Error`] and its sub-enums; the mapping to wire codes |
//!
//! Conventions every parser here follows:
//! - `from_json(&Value, ParseMode)` parses and checks what a receiver (or server) must refuse;
//!   serde `Deserialize` is the same parse in [`ParseMode::Strict`]. Draft-era shapes are accepted
//!   only in [`ParseMode::Legacy`], and normalised to the final format.
//! - In strict mode parse -> serialize gives back the same JSON value (unknown members kept,
//!   SSF-RXV-15). Exceptions: empty metadata arrays are omitted (SSF-META-22), and a `null` in an
//!   optional management or poll member reads as absent.
//! - What we emit is always the final 1.0 format (D-19).
//!
//! [ssf]: https://openid.net/specs/openid-sharedsignals-framework-1_0.html
//! [caep]: https://openid.net/specs/openid-caep-1_0.html
//! [risc]: https://openid.net/specs/openid-risc-1_0.html
//! [RFC 8417]: https://www.rfc-editor.org/rfc/rfc8417

#![warn(missing_docs)]

mod body;
pub mod delivery;
pub mod error;
pub mod error_code;
pub mod event;
pub mod ids;
pub mod metadata;
pub mod mode;
pub mod open_enum;
pub mod secret;
pub mod set;
pub mod stream;
pub mod subject;
pub mod time;

pub use delivery::{PollRequest, PollResponse, PushErrorBody};
pub use error::{BodyError, Error, EventError, JsonError, SetShapeError, SubjectError};
pub use error_code::SetErrorCode;
pub use event::{Event, EventType};
pub use ids::{EventTypeUri, Issuer, Jti, KeyId, StreamId};
pub use metadata::{DiscoveryFlavor, TransmitterMetadata, discovery_url};
pub use mode::ParseMode;
pub use set::{Audience, SetClaims, Txn};
pub use stream::{Delivery, StreamConfiguration, StreamStatus};
pub use subject::{ComplexSubject, SubjectId};
pub use time::{Clock, ManualClock, SystemClock, UnixMillis};
