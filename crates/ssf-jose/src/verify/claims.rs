//! Checks of the JWT claims every SET carries ([RFC 8417 §2.2](https://www.rfc-editor.org/rfc/rfc8417#section-2.2),
//! [SSF 1.0 §4.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4.1)).
//! The SET shape itself (`events`, `sub_id`) is left to `ssf_types`.

use serde_json::{Map, Value};

use super::VerifyOptions;
use crate::JoseError;

/// Runs every claim check, in the order: `iss`, `aud`, `sub`, `exp`, `iat`, `nbf`, `jti`.
pub(super) fn check(
    claims: &Map<String, Value>,
    opts: &VerifyOptions,
    now: i64,
) -> Result<(), JoseError> {
    check_issuer(claims, opts)?;
    check_audience(claims, opts)?;
    let skew = opts.clock_skew_secs;
    if claims.contains_key("sub") && !opts.allow_sub {
        return Err(JoseError::SubPresent);
    }
    if let Some(exp) = claims.get("exp") {
        if !opts.allow_exp {
            return Err(JoseError::ExpPresent);
        }
        let exp = exp
            .as_i64()
            .ok_or(JoseError::InvalidClaim { claim: "exp" })?;
        if now.saturating_sub(skew) >= exp {
            return Err(JoseError::Expired);
        }
    }
    // SSF-SET-04: integer seconds, not in the future beyond the skew.
    let iat = claims
        .get("iat")
        .ok_or(JoseError::MissingClaim { claim: "iat" })?;
    let iat = iat
        .as_i64()
        .ok_or(JoseError::InvalidClaim { claim: "iat" })?;
    if iat > now.saturating_add(skew) {
        return Err(JoseError::IssuedInFuture);
    }
    if let Some(max_age) = opts.max_age_secs
        && now.saturating_sub(iat) > max_age.saturating_add(skew)
    {
        return Err(JoseError::TooOld);
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf
            .as_i64()
            .ok_or(JoseError::InvalidClaim { claim: "nbf" })?;
        if nbf > now.saturating_add(skew) {
            return Err(JoseError::NotYetValid);
        }
    }
    // SSF-SET-05: a non-empty, case-sensitive string.
    match claims.get("jti") {
        None => Err(JoseError::MissingClaim { claim: "jti" }),
        Some(Value::String(jti)) if !jti.is_empty() => Ok(()),
        Some(_) => Err(JoseError::InvalidClaim { claim: "jti" }),
    }
}

/// SSF 1.0 §4.1.6 / checklist SSF-RXV-03: `iss` equals the expected issuer byte for byte.
fn check_issuer(claims: &Map<String, Value>, opts: &VerifyOptions) -> Result<(), JoseError> {
    match claims.get("iss") {
        None => Err(JoseError::MissingClaim { claim: "iss" }),
        Some(Value::String(iss)) if iss == opts.issuer.as_str() => Ok(()),
        Some(Value::String(_)) => Err(JoseError::IssuerMismatch),
        Some(_) => Err(JoseError::InvalidClaim { claim: "iss" }),
    }
}

/// RFC 7519 §4.1.3 / checklist SSF-RXV-04: `aud` (a string or an array of strings) contains one
/// of the expected audiences. A SET without `aud` is not addressed to us.
fn check_audience(claims: &Map<String, Value>, opts: &VerifyOptions) -> Result<(), JoseError> {
    let ours = |aud: &str| opts.audiences.iter().any(|a| a == aud);
    match claims.get("aud") {
        None => Err(JoseError::AudienceMismatch),
        Some(Value::String(aud)) if ours(aud) => Ok(()),
        Some(Value::String(_)) => Err(JoseError::AudienceMismatch),
        Some(Value::Array(list)) => {
            let mut found = false;
            for item in list {
                let aud = item
                    .as_str()
                    .ok_or(JoseError::InvalidClaim { claim: "aud" })?;
                found |= ours(aud);
            }
            if found {
                Ok(())
            } else {
                Err(JoseError::AudienceMismatch)
            }
        }
        Some(_) => Err(JoseError::InvalidClaim { claim: "aud" }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn opts() -> VerifyOptions {
        VerifyOptions::new("https://tx.example", "https://rx.example")
    }

    fn run(claims: Value, opts: &VerifyOptions) -> Result<(), JoseError> {
        check(claims.as_object().unwrap(), opts, NOW)
    }

    fn base() -> Value {
        json!({"iss":"https://tx.example","aud":"https://rx.example","iat":NOW,"jti":"j1"})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = base();
        v[key] = value;
        v
    }

    fn without(key: &str) -> Value {
        let mut v = base();
        v.as_object_mut().unwrap().remove(key);
        v
    }

    #[test]
    fn claim_rules() {
        let o = opts();
        assert!(run(base(), &o).is_ok());
        assert!(matches!(
            run(without("iss"), &o),
            Err(JoseError::MissingClaim { claim: "iss" })
        ));
        assert!(matches!(
            run(with("iss", json!("https://tx.example/")), &o),
            Err(JoseError::IssuerMismatch)
        ));
        assert!(matches!(
            run(with("iss", json!(1)), &o),
            Err(JoseError::InvalidClaim { claim: "iss" })
        ));
        assert!(matches!(
            run(without("aud"), &o),
            Err(JoseError::AudienceMismatch)
        ));
        assert!(run(with("aud", json!(["x", "https://rx.example"])), &o).is_ok());
        assert!(matches!(
            run(with("aud", json!([])), &o),
            Err(JoseError::AudienceMismatch)
        ));
        assert!(matches!(
            run(with("aud", json!(["https://rx.example", 1])), &o),
            Err(JoseError::InvalidClaim { .. })
        ));
        assert!(matches!(
            run(with("iat", json!(NOW as f64 + 0.5)), &o),
            Err(JoseError::InvalidClaim { claim: "iat" })
        ));
        assert!(matches!(
            run(with("iat", json!(NOW.to_string())), &o),
            Err(JoseError::InvalidClaim { claim: "iat" })
        ));
        assert!(matches!(
            run(without("iat"), &o),
            Err(JoseError::MissingClaim { claim: "iat" })
        ));
        assert!(
            run(with("iat", json!(NOW + 60)), &o).is_ok(),
            "within the default 60 s skew"
        );
        assert!(matches!(
            run(with("iat", json!(NOW + 61)), &o),
            Err(JoseError::IssuedInFuture)
        ));
        assert!(matches!(
            run(with("jti", json!("")), &o),
            Err(JoseError::InvalidClaim { claim: "jti" })
        ));
        assert!(matches!(
            run(without("jti"), &o),
            Err(JoseError::MissingClaim { claim: "jti" })
        ));
        assert!(matches!(
            run(with("nbf", json!(NOW + 600)), &o),
            Err(JoseError::NotYetValid)
        ));
    }

    #[test]
    fn sub_exp_and_max_age_are_configurable() {
        let o = opts();
        assert!(matches!(
            run(with("sub", json!("x")), &o),
            Err(JoseError::SubPresent)
        ));
        assert!(matches!(
            run(with("exp", json!(NOW + 600)), &o),
            Err(JoseError::ExpPresent)
        ));
        let lax = opts().allow_sub(true).allow_exp(true);
        assert!(run(with("sub", json!("x")), &lax).is_ok());
        assert!(run(with("exp", json!(NOW + 600)), &lax).is_ok());
        assert!(matches!(
            run(with("exp", json!(NOW - 61)), &lax),
            Err(JoseError::Expired)
        ));
        let aged = opts().max_age(Duration::from_secs(300));
        assert!(run(with("iat", json!(NOW - 360)), &aged).is_ok());
        assert!(matches!(
            run(with("iat", json!(NOW - 361)), &aged),
            Err(JoseError::TooOld)
        ));
    }
}
