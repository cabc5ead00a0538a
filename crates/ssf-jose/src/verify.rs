//! Verifying SETs the way a receiver must ([RFC 8935 §2](https://www.rfc-editor.org/rfc/rfc8935#section-2),
//! [SSF 1.0 §4.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4.1),
//! checklist §1.3 SSF-RXV-01..08).
//!
//! Order of checks: size, compact form, header (`alg` against the allow-list, `typ`, `crit`,
//! `kid`), key lookup and key/alg fit, signature, and only then the claims. Claims are parsed
//! only after the signature verified, so unauthenticated JSON never reaches the claim checks.
//! Last, the claims are parsed into the typed [`SetClaims`] and [`Event`] of `ssf_types` (SET
//! shape, the event's definition), so a [`VerifiedSet`] (which only [`SetVerifier::verify`]
//! constructs) is the one way to typed claims that passed every check.

mod claims;

use std::{fmt, sync::Arc, time::Duration};

use serde_json::{Map, Value};
use ssf_types::{Clock, Event, Issuer, ParseMode, SetClaims};

use crate::{
    Algorithm, JoseError, KeyResolver,
    encoding::{b64url_decode, parse_unique_object},
};

/// Whether a JOSE `typ` value names a SET: `secevent+jwt`, compared case-insensitively with the
/// `application/` prefix optional ([RFC 7515 §4.1.9](https://www.rfc-editor.org/rfc/rfc7515#section-4.1.9),
/// [RFC 8417 §2.3](https://www.rfc-editor.org/rfc/rfc8417#section-2.3); checklist TV-HDR-01/02,
/// TV-NEG-24). Media type parameters are not accepted.
pub fn is_set_typ(typ: &str) -> bool {
    let subtype = match typ.split_once('/') {
        Some((top, rest)) if top.eq_ignore_ascii_case("application") => rest,
        Some(_) => return false,
        None => typ,
    };
    subtype.eq_ignore_ascii_case("secevent+jwt")
}

/// What a [`SetVerifier`] accepts. Built with [`VerifyOptions::new`] and adjusted with the
/// builder methods; the defaults are the secure ones of DESIGN §7.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    issuer: Issuer,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    clock_skew_secs: i64,
    max_age_secs: Option<i64>,
    allow_sub: bool,
    allow_exp: bool,
    allow_missing_kid: bool,
    max_token_len: usize,
    parse_mode: ParseMode,
}

impl VerifyOptions {
    /// Largest accepted token by default: 256 KiB.
    pub const DEFAULT_MAX_TOKEN_LEN: usize = 256 * 1024;
    /// The clock skew allowed by default: 60 s.
    pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);

    /// Accept SETs from `issuer` (compared byte for byte, SSF 1.0 §4.1.6) addressed to
    /// `audience`; RS256 only, 60 s of clock skew, no maximum age, `sub` and `exp` refused,
    /// claims parsed in [`ParseMode::Strict`].
    pub fn new(issuer: impl Into<Issuer>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            algorithms: vec![Algorithm::Rs256],
            clock_skew_secs: 60,
            max_age_secs: None,
            allow_sub: false,
            allow_exp: false,
            allow_missing_kid: false,
            max_token_len: Self::DEFAULT_MAX_TOKEN_LEN,
            parse_mode: ParseMode::Strict,
        }
    }

    /// Also accept SETs addressed to `audience`.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Replaces the algorithm allow-list (checklist SSF-SIG-05). Listing `HS256` or `none` is
    /// the explicit configuration that lets them through; neither is ever allowed by default.
    #[must_use]
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How far `iat` may lie in the future, and how late `exp`/max age are still accepted.
    #[must_use]
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew_secs = i64::try_from(skew.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// Refuse SETs whose `iat` is older than this (plus the clock skew), with
    /// [`JoseError::TooOld`] (`invalid_request`).
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age_secs = Some(i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
        self
    }

    /// Accept a `sub` claim (decision D-07 compatibility flag for legacy peers).
    #[must_use]
    pub fn allow_sub(mut self, allow: bool) -> Self {
        self.allow_sub = allow;
        self
    }

    /// Accept an `exp` claim, which is then enforced (decision D-07 compatibility flag).
    #[must_use]
    pub fn allow_exp(mut self, allow: bool) -> Self {
        self.allow_exp = allow;
        self
    }

    /// Accept a SET whose header has no `kid` when the key set holds exactly one key that fits
    /// its `alg` ([`KeyResolver::only_key`]); with none or several such keys it fails as an
    /// unknown `kid` (`invalid_key`). For draft-era peers only: `kid` is required otherwise
    /// (checklist SSF-SIG-03, DESIGN §7; decision D-RX-10).
    #[must_use]
    pub fn allow_missing_kid(mut self, allow: bool) -> Self {
        self.allow_missing_kid = allow;
        self
    }

    /// Whether a SET without `kid` may be verified with the only fitting key.
    pub fn allows_missing_kid(&self) -> bool {
        self.allow_missing_kid
    }

    /// The largest token accepted, in bytes.
    #[must_use]
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.max_token_len = len;
        self
    }

    /// How the claims and the event are parsed once everything else passed
    /// ([`SetClaims::from_json`], [`SetClaims::event`]): strict (the default) or legacy formats
    /// of draft-era peers (decision D-19).
    #[must_use]
    pub fn parse_mode(mut self, mode: ParseMode) -> Self {
        self.parse_mode = mode;
        self
    }

    /// The parse mode of the claims and the event.
    pub fn mode(&self) -> ParseMode {
        self.parse_mode
    }

    /// The expected issuer.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// The accepted audiences.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The algorithm allow-list.
    pub fn allowed_algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }
}

/// A SET whose signature, header and claims passed every check, with its claims and its event
/// typed. Only [`SetVerifier::verify`] constructs one (its fields are private), so holding one
/// proves the checks ran: a receiver builds what it acts on from it, never from raw JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedSet {
    header: Map<String, Value>,
    claims: SetClaims,
    event: Event,
    compact: String,
}

impl VerifiedSet {
    /// The JOSE header.
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The claims, parsed and shape-checked ([`SetClaims::from_json`] in the verifier's
    /// [`ParseMode`]).
    pub fn claims(&self) -> &SetClaims {
        &self.claims
    }

    /// The (single) event, typed and checked against its definition ([`SetClaims::event`]).
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The token as received (for storage, audit, or redelivery).
    pub fn compact(&self) -> &str {
        &self.compact
    }

    /// The claims, the event and the token, taken apart (for a receiver that moves them into
    /// its own record of the SET).
    pub fn into_parts(self) -> (SetClaims, Event, String) {
        (self.claims, self.event, self.compact)
    }

    /// The `jti` claim (checked to be a non-empty string).
    pub fn jti(&self) -> &str {
        self.claims.jti.as_str()
    }

    /// The `iss` claim (checked to equal the expected issuer).
    pub fn issuer(&self) -> &str {
        self.claims.iss.as_str()
    }

    /// The header's `kid` (empty for an explicitly allowed unsecured SET).
    pub fn kid(&self) -> &str {
        self.header
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The header's `alg`.
    pub fn alg(&self) -> Algorithm {
        Algorithm::from(
            self.header
                .get("alg")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
    }
}

/// Verifies SETs from one issuer with keys from a [`KeyResolver`].
#[derive(Clone)]
pub struct SetVerifier {
    options: VerifyOptions,
    resolver: Arc<dyn KeyResolver>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for SetVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetVerifier")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

struct Parts<'a> {
    header: &'a [u8],
    payload: &'a [u8],
    signature: &'a [u8],
    signing_input: &'a [u8],
}

fn split_compact(token: &[u8]) -> Result<Parts<'_>, JoseError> {
    let mut dots = token
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'.')
        .map(|(i, _)| i);
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
        return Err(JoseError::MalformedToken);
    };
    let parts = Parts {
        header: &token[..first],
        payload: &token[first + 1..second],
        signature: &token[second + 1..],
        signing_input: &token[..second],
    };
    if parts.header.is_empty() || parts.payload.is_empty() {
        return Err(JoseError::MalformedToken);
    }
    Ok(parts)
}

fn decode_object(part: &[u8], err: JoseError) -> Result<Map<String, Value>, JoseError> {
    match b64url_decode(part).as_deref().and_then(parse_unique_object) {
        Some(map) => Ok(map),
        None => Err(err),
    }
}

impl SetVerifier {
    /// A verifier for SETs matching `options`, with keys from `resolver` and time from `clock`.
    pub fn new(
        options: VerifyOptions,
        resolver: Arc<dyn KeyResolver>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            options,
            resolver,
            clock,
        }
    }

    /// The options.
    pub fn options(&self) -> &VerifyOptions {
        &self.options
    }

    /// Verifies a compact SET (e.g. a push request body, RFC 8935 §2) and parses its claims and
    /// event. On failure, the error's [`set_error_code`](JoseError::set_error_code) is the `err`
    /// to answer with; a SET that verified but has the wrong shape fails with
    /// [`JoseError::Shape`].
    pub fn verify(&self, token: impl AsRef<[u8]>) -> Result<VerifiedSet, JoseError> {
        let token = token.as_ref();
        if token.len() > self.options.max_token_len {
            return Err(JoseError::TokenTooLarge);
        }
        let parts = split_compact(token)?;
        let header = decode_object(parts.header, JoseError::MalformedHeader)?;
        let alg = self.check_header(&header)?;

        if alg == Algorithm::Unsecured {
            // Only reachable when `none` is explicitly allowed: the signature must be empty.
            if !parts.signature.is_empty() {
                return Err(JoseError::MalformedToken);
            }
        } else {
            let kid = match header.get("kid") {
                None => None,
                Some(Value::String(kid)) if !kid.is_empty() => Some(kid),
                Some(Value::String(_)) => None,
                Some(_) => return Err(JoseError::MalformedHeader),
            };
            let key = match kid {
                Some(kid) => self.resolver.key(kid),
                None if self.options.allow_missing_kid => self.resolver.only_key(&alg),
                None => return Err(JoseError::MissingKid),
            }
            .ok_or(JoseError::UnknownKid)?;
            // Never let the header alone decide how a key is used (RFC 8725 §3.1).
            if !key.fits(&alg) {
                return Err(JoseError::KeyAlgorithmMismatch);
            }
            let signature = b64url_decode(parts.signature).ok_or(JoseError::MalformedToken)?;
            key.verify(&alg, parts.signing_input, &signature)?;
        }

        let claims = decode_object(parts.payload, JoseError::MalformedClaims)?;
        claims::check(&claims, &self.options, self.clock.now().as_secs())?;
        // The token was split on ASCII dots and every part decoded as base64url: it is ASCII.
        let compact = String::from_utf8(token.to_vec()).map_err(|_| JoseError::MalformedToken)?;
        let mode = self.options.parse_mode;
        let claims =
            SetClaims::from_json(&Value::Object(claims), mode).map_err(JoseError::Shape)?;
        let event = claims.event(mode).map_err(JoseError::Shape)?;
        Ok(VerifiedSet {
            header,
            claims,
            event,
            compact,
        })
    }

    /// `alg` against the allow-list, then `typ` and `crit` (checklist SSF-SIG-05, SSF-RXV-05).
    fn check_header(&self, header: &Map<String, Value>) -> Result<Algorithm, JoseError> {
        let alg = match header.get("alg") {
            None => return Err(JoseError::MissingAlgorithm),
            Some(Value::String(alg)) => Algorithm::from(alg.as_str()),
            Some(_) => return Err(JoseError::MalformedHeader),
        };
        if !self.options.algorithms.contains(&alg) {
            return Err(if alg == Algorithm::Unsecured {
                JoseError::UnsecuredNotAllowed
            } else {
                JoseError::AlgorithmNotAllowed
            });
        }
        match header.get("typ") {
            None => return Err(JoseError::MissingTyp),
            Some(Value::String(typ)) if is_set_typ(typ) => {}
            Some(_) => return Err(JoseError::WrongTyp),
        }
        if header.contains_key("crit") {
            return Err(JoseError::CriticalHeader);
        }
        Ok(alg)
    }
}

/// A SET decoded WITHOUT any verification: for display and debugging only, never for decisions.
#[derive(Debug, Clone, PartialEq)]
pub struct UnverifiedSet {
    /// The JOSE header as sent.
    pub header: Map<String, Value>,
    /// The claims as sent.
    pub claims: Map<String, Value>,
}

/// Decodes a compact SET without checking its signature or anything else.
pub fn decode_unverified(token: impl AsRef<[u8]>) -> Result<UnverifiedSet, JoseError> {
    let parts = split_compact(token.as_ref())?;
    Ok(UnverifiedSet {
        header: decode_object(parts.header, JoseError::MalformedHeader)?,
        claims: decode_object(parts.payload, JoseError::MalformedClaims)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_comparison_follows_rfc7515() {
        for ok in [
            "secevent+jwt",
            "application/secevent+jwt",
            "SecEvent+JWT",
            "APPLICATION/secevent+JWT",
        ] {
            assert!(is_set_typ(ok), "{ok}");
        }
        for bad in [
            "JWT",
            "jwt",
            "application/jwt",
            "text/secevent+jwt",
            "application/secevent+jwt; charset=utf-8",
            " secevent+jwt",
            "secevent+jwt ",
            "application//secevent+jwt",
            "",
        ] {
            assert!(!is_set_typ(bad), "{bad}");
        }
    }

    #[test]
    fn compact_form_needs_exactly_three_parts() {
        assert!(split_compact(b"a.b.c").is_ok());
        assert!(
            split_compact(b"a.b.").is_ok(),
            "empty signature is a later decision"
        );
        for bad in [&b"a.b"[..], b"a.b.c.d", b".b.c", b"a..c", b"", b"abc"] {
            assert!(matches!(split_compact(bad), Err(JoseError::MalformedToken)));
        }
    }
}
