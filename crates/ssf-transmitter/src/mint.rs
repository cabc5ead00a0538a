//! Minting one SET: claims in the final SSF 1.0 format, signed with the current key.
//!
//! Every SET this transmitter emits goes through [`Minter::sign`]: `iss` from the configuration
//! (SSF-SET-03), `iat` from the injected clock in whole seconds (SSF-SET-04), a fresh `jti`
//! (SSF-SET-05), the stream's `aud` (SSF-SET-07), a string `txn` (SSF-SET-10/11), `sub_id`
//! (SSF-SET-12), exactly one event (SSF-SET-17) and never `sub` or `exp` (SSF-SET-13/14) —
//! the last three enforced by [`SetClaims::builder`]
//! ([SSF 1.0 §4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4)).

use ssf_jose::{JoseError, SetSigner};
use ssf_types::{Audience, Event, Issuer, Jti, SetClaims, SetShapeError, SubjectId, UnixMillis};
use uuid::{NoContext, Timestamp, Uuid};

/// A UUIDv7 stamped with `now` (74 random bits: collisions are negligible, SSF-SET-05).
fn uuid_v7(now: UnixMillis) -> Uuid {
    let millis = u64::try_from(now.0).unwrap_or(0);
    let nanos = u32::try_from((millis % 1000) * 1_000_000).unwrap_or(0);
    Uuid::new_v7(Timestamp::from_unix(NoContext, millis / 1000, nanos))
}

/// A fresh `jti` (SSF-SET-05): a UUIDv7 from the injected clock, so ids sort by creation.
pub(crate) fn new_jti(now: UnixMillis) -> Jti {
    Jti::new(uuid_v7(now).to_string())
}

/// A fresh `txn` for an event whose producer gave none (SSF-SET-10/11): unique per cause, shared
/// by every SET minted for that event.
pub(crate) fn new_txn(now: UnixMillis) -> String {
    uuid_v7(now).to_string()
}

/// What one SET says, before signing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SetParts<'a> {
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

/// Why a SET could not be minted. Mapped to HTTP answers in `error.rs`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// The event and subject do not make a valid SSF SET (the producer's mistake).
    #[error("the event cannot be sent as a SET: {0}")]
    Shape(#[source] SetShapeError),
    /// The key store or the signature failed (the transmitter's problem).
    #[error("signing a SET failed: {0}")]
    Signing(#[source] JoseError),
}

/// What minting needs of the transmitter: its issuer and its signer, nothing of the HTTP layer.
/// Cheap to clone (into blocking signing tasks).
#[derive(Debug, Clone)]
pub(crate) struct Minter {
    issuer: Issuer,
    signer: SetSigner,
}

impl Minter {
    /// SETs with `iss` = `issuer`, signed by `signer`'s current key.
    pub(crate) fn new(issuer: Issuer, signer: SetSigner) -> Self {
        Self { issuer, signer }
    }

    /// Builds and signs one SET; returns its `jti` and compact serialization.
    pub(crate) fn sign(&self, parts: SetParts<'_>) -> Result<(Jti, String), MintError> {
        let jti = new_jti(parts.now);
        let claims = SetClaims::builder(
            self.issuer.clone(),
            jti.clone(),
            parts.now.as_secs(),
            parts.sub_id.clone(),
        )
        .aud(parts.aud.clone())
        .txn(parts.txn)
        .event(parts.event)
        .build()
        .map_err(MintError::Shape)?;
        let jwt = self.signer.sign(&claims).map_err(MintError::Signing)?;
        Ok((jti, jwt))
    }
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
