//! Who is calling, and what they may do.
//!
//! Every management, poll and ingest request is authenticated by a bearer access token in the
//! `Authorization` header only (SSF-AUTH-08/09; never the query string). The token endpoint, the
//! authorization-server metadata and token verification live in the submodules; handlers only
//! see a `Principal` and call `Principal::require`.

mod bearer;
mod external;
pub mod jwt;
pub(crate) mod publish;
mod secret;
mod server_metadata;
mod service;
pub(crate) mod token;

use std::collections::BTreeSet;

pub(crate) use self::{
    publish::PublishRights,
    server_metadata::{authorization_server_metadata, oauth_metadata_path},
    service::AuthService,
    token::token_endpoint,
};
pub use self::{
    secret::{generate_secret, hash_secret, is_valid_hash, verify_secret},
    service::AccessTokenClaims,
    token::issue_access_token,
};
use crate::error::ApiError;

/// An OAuth scope this transmitter understands (SSF-AUTH-12, CAEP interop §2.7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read stream configuration and status, and poll (`ssf.read`).
    Read,
    /// Every management operation (`ssf.manage`); implies [`Scope::Read`].
    Manage,
    /// Publish events through `POST /events` (`ssf.events.publish`).
    Publish,
}

impl Scope {
    /// The scope string on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Read => "ssf.read",
            Self::Manage => "ssf.manage",
            Self::Publish => "ssf.events.publish",
        }
    }

    /// Parses a scope string; unknown scopes are ignored by callers.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        match value {
            "ssf.read" => Some(Self::Read),
            "ssf.manage" => Some(Self::Manage),
            "ssf.events.publish" => Some(Self::Publish),
            _ => None,
        }
    }
}

/// An authenticated caller: an OAuth client of this transmitter (a receiver or an event
/// producer), or a client of a trusted external issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    /// The client id; streams are owned by it (SSF-AUTH-02).
    pub client_id: String,
    /// The scopes the token grants.
    pub scopes: BTreeSet<Scope>,
    /// The audience value SETs for this receiver carry (D-12): the client's configured audience,
    /// else its client id.
    pub audience: String,
    /// What it may publish through `POST /events` (D-TX-15): its client's, or its external
    /// issuer's, `events` and `claims` allow lists, looked up at every request.
    pub publish: PublishRights,
}

impl Principal {
    /// Succeeds if the token grants `scope` (`ssf.manage` implies `ssf.read`), else answers
    /// `403 insufficient_scope` (SSF-AUTH-11).
    pub(crate) fn require(&self, scope: Scope) -> Result<(), ApiError> {
        let granted = self.scopes.contains(&scope)
            || (scope == Scope::Read && self.scopes.contains(&Scope::Manage));
        if granted {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(scope.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(scopes: &[Scope]) -> Principal {
        Principal {
            client_id: "rx".into(),
            scopes: scopes.iter().copied().collect(),
            audience: "rx".into(),
            publish: PublishRights::unrestricted(),
        }
    }

    #[test]
    fn manage_implies_read_but_not_publish() {
        let p = principal(&[Scope::Manage]);
        assert!(p.require(Scope::Read).is_ok());
        assert!(p.require(Scope::Manage).is_ok());
        assert!(matches!(
            p.require(Scope::Publish),
            Err(ApiError::InsufficientScope(_))
        ));
    }

    #[test]
    fn read_does_not_imply_manage() {
        let p = principal(&[Scope::Read]);
        assert!(matches!(
            p.require(Scope::Manage),
            Err(ApiError::InsufficientScope("ssf.manage"))
        ));
    }

    #[test]
    fn scope_strings_round_trip() {
        for scope in [Scope::Read, Scope::Manage, Scope::Publish] {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("openid"), None);
    }
}
