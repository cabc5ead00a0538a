//! Client secrets: generated, hashed for the configuration, and checked in constant time.
//!
//! Client secrets are high-entropy random strings made by [`generate_secret`] (256 bits), not
//! passwords a person chose, so a single SHA-256 is an adequate one-way hash: no dictionary or
//! brute-force attack on 2^256 inputs is feasible, and a slow password hash (argon2) would only
//! cost CPU on every token request. See `docs/decisions.md` ("Client secrets").

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use ssf_types::secret::constant_time_eq;

/// The prefix of a hash made by [`hash_secret`].
pub(crate) const SECRET_HASH_PREFIX: &str = "sha256:";

/// A new random client secret: 32 random bytes, base64url without padding (43 characters).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The value to put in a client's `secret_hash` setting: `sha256:<lowercase hex>`.
pub fn hash_secret(secret: &str) -> String {
    format!(
        "{SECRET_HASH_PREFIX}{}",
        hex::encode(Sha256::digest(secret.as_bytes()))
    )
}

/// Whether `secret` matches `stored` (a [`hash_secret`] value), comparing the digests in
/// constant time. A malformed `stored` value never matches.
pub fn verify_secret(stored: &str, secret: &str) -> bool {
    let Some(expected) = stored
        .strip_prefix(SECRET_HASH_PREFIX)
        .and_then(|h| hex::decode(h.trim()).ok())
        .filter(|d| d.len() == 32)
    else {
        return false;
    };
    let actual = Sha256::digest(secret.as_bytes());
    constant_time_eq(&expected, &actual)
}

/// Whether a stored hash has the format [`verify_secret`] understands.
pub fn is_valid_hash(stored: &str) -> bool {
    stored
        .strip_prefix(SECRET_HASH_PREFIX)
        .and_then(|h| hex::decode(h.trim()).ok())
        .is_some_and(|d| d.len() == 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify_round_trip() {
        let secret = generate_secret();
        assert_eq!(secret.len(), 43);
        let hash = hash_secret(&secret);
        assert!(hash.starts_with("sha256:"));
        assert!(is_valid_hash(&hash));
        assert!(verify_secret(&hash, &secret));
        assert!(!verify_secret(&hash, "wrong"));
    }

    #[test]
    fn known_vector() {
        assert_eq!(
            hash_secret("test"),
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }

    #[test]
    fn malformed_hashes_never_match() {
        for stored in ["", "test", "sha256:zz", "sha256:abcd", "$argon2id$v=19$..."] {
            assert!(!verify_secret(stored, "test"), "{stored}");
            assert!(!is_valid_hash(stored));
        }
    }
}
