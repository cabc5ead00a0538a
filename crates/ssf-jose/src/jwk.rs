//! JSON Web Keys ([RFC 7517](https://www.rfc-editor.org/rfc/rfc7517)) as published at an SSF
//! transmitter's `jwks_uri` ([SSF 1.0 §7.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-7.1)).
//!
//! Only public members are ever produced here (checklist SSF-SIG-03, SSF-SEC-13); a JWK that
//! carries private members is refused when turned into a verifying key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ssf_types::KeyId;

use crate::{Algorithm, JoseError, encoding::b64url_encode};

/// JWK members that hold private or secret key material
/// ([RFC 7518 §6.3.2, §6.4](https://www.rfc-editor.org/rfc/rfc7518#section-6.3.2), RFC 8037 §2).
pub const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// One JSON Web Key. Members this crate does not model are kept in [`Jwk::other`], so a key
/// round-trips unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC`, `OKP` or `oct` (RFC 7517 §4.1).
    pub kty: String,
    /// Intended use; `sig` for SET signing keys (RFC 7517 §4.2).
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// Permitted operations (RFC 7517 §4.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// The one algorithm this key is for (RFC 7517 §4.4). Always set on keys this crate
    /// publishes, so a receiver can refuse any other `alg` with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<Algorithm>,
    /// Key id, matched against the SET header's `kid` (RFC 7517 §4.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<KeyId>,
    /// Curve for `EC` and `OKP` keys: `P-256`, `Ed25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// RSA modulus, base64url big-endian.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url big-endian.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// EC x coordinate, or the Ed25519 public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Every other member, kept verbatim.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl Jwk {
    /// A public RSA JWK from big-endian modulus and exponent.
    pub(crate) fn rsa(n: &[u8], e: &[u8]) -> Self {
        Self {
            n: Some(b64url_encode(n)),
            e: Some(b64url_encode(e)),
            ..Self::empty("RSA")
        }
    }

    /// A public P-256 JWK from the uncompressed point `0x04 || x || y`.
    pub(crate) fn p256(point: &[u8]) -> Result<Self, JoseError> {
        let coords = point
            .strip_prefix(&[0x04])
            .filter(|c| c.len() == 64)
            .ok_or(JoseError::invalid_key("not an uncompressed P-256 point"))?;
        let (x, y) = coords.split_at(32);
        Ok(Self {
            crv: Some("P-256".to_owned()),
            x: Some(b64url_encode(x)),
            y: Some(b64url_encode(y)),
            ..Self::empty("EC")
        })
    }

    /// A public Ed25519 JWK ([RFC 8037 §2](https://www.rfc-editor.org/rfc/rfc8037#section-2)).
    pub(crate) fn ed25519(public: &[u8]) -> Self {
        Self {
            crv: Some("Ed25519".to_owned()),
            x: Some(b64url_encode(public)),
            ..Self::empty("OKP")
        }
    }

    fn empty(kty: &str) -> Self {
        Self {
            kty: kty.to_owned(),
            key_use: None,
            key_ops: None,
            alg: None,
            kid: None,
            crv: None,
            n: None,
            e: None,
            x: None,
            y: None,
            other: BTreeMap::new(),
        }
    }

    /// The names of private or secret members this JWK carries (empty for a public key).
    pub fn private_members(&self) -> Vec<&str> {
        let mut found: Vec<&str> = PRIVATE_MEMBERS
            .iter()
            .copied()
            .filter(|m| self.other.contains_key(*m))
            .collect();
        if self.kty == "oct" && !found.contains(&"k") {
            found.push("k"); // a symmetric JWK is secret whatever it carries
        }
        found
    }

    /// Whether this JWK holds only public material.
    pub fn is_public(&self) -> bool {
        self.private_members().is_empty()
    }

    /// The RFC 7638 thumbprint: base64url SHA-256 of the required members in lexicographic
    /// order ([RFC 7638 §3](https://www.rfc-editor.org/rfc/rfc7638#section-3)). Used as the
    /// default `kid` of generated keys.
    pub fn thumbprint(&self) -> Result<String, JoseError> {
        let missing = || JoseError::invalid_key("JWK lacks a member its thumbprint needs");
        let canonical = match self.kty.as_str() {
            "RSA" => serde_json::json!({
                "e": self.e.as_ref().ok_or_else(missing)?,
                "kty": "RSA",
                "n": self.n.as_ref().ok_or_else(missing)?,
            }),
            "EC" => serde_json::json!({
                "crv": self.crv.as_ref().ok_or_else(missing)?,
                "kty": "EC",
                "x": self.x.as_ref().ok_or_else(missing)?,
                "y": self.y.as_ref().ok_or_else(missing)?,
            }),
            "OKP" => serde_json::json!({
                "crv": self.crv.as_ref().ok_or_else(missing)?,
                "kty": "OKP",
                "x": self.x.as_ref().ok_or_else(missing)?,
            }),
            _ => return Err(JoseError::invalid_key("no thumbprint for this key type")),
        };
        // serde_json's default map is ordered by key, which is what RFC 7638 asks for.
        let bytes = serde_json::to_vec(&canonical).map_err(JoseError::Json)?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        Ok(b64url_encode(digest.as_ref()))
    }
}

/// A JWK Set document (`{"keys": [...]}`, [RFC 7517 §5](https://www.rfc-editor.org/rfc/rfc7517#section-5)).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys, in publication order.
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// The first key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys
            .iter()
            .find(|k| k.kid.as_ref().is_some_and(|id| id.as_str() == kid))
    }

    /// Parses a JWKS document.
    pub fn from_json(bytes: &[u8]) -> Result<Self, JoseError> {
        serde_json::from_slice(bytes).map_err(JoseError::Json)
    }

    /// The document as pretty JSON.
    pub fn to_json_pretty(&self) -> Result<String, JoseError> {
        serde_json::to_string_pretty(self).map_err(JoseError::Json)
    }

    /// Whether every key holds only public material (checklist SSF-SIG-03).
    pub fn is_public(&self) -> bool {
        self.keys.iter().all(Jwk::is_public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1 example key and thumbprint.
    #[test]
    fn rfc7638_thumbprint_example() {
        let jwk: Jwk = serde_json::from_str(
            r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .unwrap();
        assert_eq!(
            jwk.thumbprint().unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert!(jwk.is_public());
        assert_eq!(jwk.alg, Some(Algorithm::Rs256));
    }

    #[test]
    fn private_members_are_detected_and_unknown_members_kept() {
        let jwk: Jwk = serde_json::from_str(
            r#"{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"s","ext":true}"#,
        )
        .unwrap();
        assert_eq!(jwk.private_members(), vec!["d"]);
        assert_eq!(jwk.other.get("ext"), Some(&Value::Bool(true)));
        let back = serde_json::to_value(&jwk).unwrap();
        assert_eq!(back["ext"], Value::Bool(true));
        let oct: Jwk = serde_json::from_str(r#"{"kty":"oct"}"#).unwrap();
        assert!(!oct.is_public());
    }
}
