//! Minting one SET: claims in the final SSF 1.0 format, signed with the current key.
//!
//! Every SET this transmitter emits goes through [`sign_set`]: `iss` from the configuration
//! (SSF-SET-03), `iat` from the injected clock in whole seconds (SSF-SET-04), a fresh `jti`
//! (SSF-SET-05), the stream's `aud` (SSF-SET-07), a string `txn` (SSF-SET-10/11), `sub_id`
//! (SSF-SET-12), exactly one event (SSF-SET-17) and never `sub` or `exp` (SSF-SET-13/14) —
//! the last three enforced by [`SetClaims::builder`]
//! ([SSF 1.0 §4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4)).

use ssf_types::{Audience, Event, Issuer, Jti, SetClaims, SubjectId, UnixMillis};
use uuid::{NoContext, Timestamp, Uuid};

use crate::{error::ApiError, state::AppState};

/// A UUIDv7 stamped with `now` (74 random bits: collisions are negligible, SSF-SET-05).
fn uuid_v7(now: UnixMillis) -> Uuid {
    let millis = u64::try_from(now.0).unwrap_or(0);
    let nanos = u32::try_from((millis % 1000) * 1_000_000).unwrap_or(0);
    Uuid::new_v7(Timestamp::from_unix(NoContext, millis / 1000, nanos))
}

/// A fresh `jti` (SSF-SET-05): a UUIDv7 from the injected clock, so ids sort by creation.
pub fn new_jti(now: UnixMillis) -> Jti {
    Jti::new(uuid_v7(now).to_string())
}

/// A fresh `txn` for an event whose producer gave none (SSF-SET-10/11): unique per cause, shared
/// by every SET minted for that event.
pub fn new_txn(now: UnixMillis) -> String {
    uuid_v7(now).to_string()
}

/// What one SET says, before signing.
#[derive(Debug, Clone, Copy)]
pub struct SetParts<'a> {
    /// The stream's `aud` (SSF-SET-07).
    pub aud: &'a Audience,
    /// The subject (`sub_id`, SSF-SET-12).
    pub sub_id: &'a SubjectId,
    /// The one event (SSF-SET-17).
    pub event: &'a Event,
    /// The `txn` (SSF-SET-10/11).
    pub txn: &'a str,
    /// `iat` (SSF-SET-04), from the clock.
    pub now: UnixMillis,
}

/// Builds and signs one SET; returns its `jti` and compact serialization.
pub fn sign_set(state: &AppState, parts: SetParts<'_>) -> Result<(Jti, String), ApiError> {
    let jti = new_jti(parts.now);
    let claims = SetClaims::builder(
        Issuer::new(state.config.issuer.as_str()),
        jti.clone(),
        parts.now.as_secs(),
        parts.sub_id.clone(),
    )
    .aud(parts.aud.clone())
    .txn(parts.txn)
    .event(parts.event)
    .build()
    .map_err(|e| ApiError::BadRequest(format!("the event cannot be sent as a SET: {e}")))?;
    let jwt = state
        .signer
        .sign(&claims)
        .map_err(|e| ApiError::Internal(format!("signing a SET failed: {e}")))?;
    Ok((jti, jwt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jtis_are_unique_and_sort_by_time() {
        let now = UnixMillis(1_700_000_000_123);
        let a = new_jti(now);
        let b = new_jti(now);
        assert_ne!(a, b);
        let later = new_jti(now.plus_millis(1));
        assert!(later.as_str() > a.as_str());
        assert_eq!(Uuid::parse_str(a.as_str()).unwrap().get_version_num(), 7);
    }
}
