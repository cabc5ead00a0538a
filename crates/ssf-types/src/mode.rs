//! How tolerant a parser is of pre-1.0 formats.
//!
//! The final specs (SSF 1.0, CAEP 1.0, RISC 1.0, all 2025-08-29) are the default. Older peers still
//! send draft shapes (checklist section 13); a receiver or transmitter that must talk to them turns
//! on [`ParseMode::Legacy`] for that peer only (decision D-19). Our own output is always the final
//! format, whatever the mode.

/// Which wire formats a parser accepts.
///
/// - [`Strict`](ParseMode::Strict) (default): only the final 1.0 formats; draft-only shapes are
///   refused with an error that names them.
/// - [`Legacy`](ParseMode::Legacy): additionally accepts, and normalises to the final form:
///   Google's `subject_type` instead of `format` (RISC §3.1, SSF-SUB-24), the draft subject formats
///   `jwt-id`, `saml-assertion-id` and `phone`, a complex subject without `format`, a `subject`
///   inside the event instead of `sub_id` (SSF-RXV-19, TV-NEG-12), the ID1 `…/sse/event-type/…`
///   URIs, the RISC delivery-method URIs and `delivery_method`/`url` keys (TV-NEG-26), the poll
///   member `acks` (TV-NEG-27), ID1 verification and stream-updated events without any subject,
///   and an `initiating_entity` outside the CAEP enumeration (ignored, not refused).
///
/// Things every mode accepts because the checklist says a receiver accepts them (D-19): a numeric
/// `txn`, a millisecond `event_timestamp` (flagged, see
/// [`is_probably_millis`](crate::time::is_probably_millis)), unknown members anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ParseMode {
    /// Final 1.0 formats only.
    #[default]
    Strict,
    /// Final formats plus the draft formats listed on [`ParseMode`].
    Legacy,
}

impl ParseMode {
    /// Whether draft formats are accepted.
    pub fn is_legacy(self) -> bool {
        matches!(self, Self::Legacy)
    }
}
