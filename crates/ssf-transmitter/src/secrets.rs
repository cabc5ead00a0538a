//! Secrets at rest: the push `authorization_header` a receiver gives the transmitter is stored
//! encrypted (checklist SSF-SEC-14, decision D-TX-18) and decrypted only by the push worker.
//!
//! - XChaCha20-Poly1305 with a 256-bit key, a random 192-bit nonce per value, and the stream's
//!   `stream_id` as associated data: a value copied into another stream's row does not decrypt.
//! - Stored as `enc:v1:<base64url(nonce || ciphertext)>`; anything else is a plaintext value an
//!   older version wrote. Those keep working and are re-encrypted by [`reseal_stored`] (which
//!   `ssf serve` runs at start) or by the next change of the stream.
//! - A previous key ([`SecretsCipher::with_previous`]) is tried after the current one, for key
//!   rotation; [`reseal_stored`] moves its values to the current key.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    Key, KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use rand::RngCore as _;
use ssf_store::{DeliveryMethod, StreamUpdate};
use ssf_types::{Delivery, ParseMode, StreamConfiguration, StreamId, stream::AuthorizationHeader};

use crate::{error::ApiError, state::AppState};

/// The prefix of an encrypted value (format version 1).
pub(crate) const SEALED_PREFIX: &str = "enc:v1:";

const NONCE_LEN: usize = 24;

/// A 256-bit secrets key. Its `Debug` output shows nothing of it.
#[derive(Clone)]
pub struct SecretsKey([u8; 32]);

impl SecretsKey {
    /// A key from base64 (standard or URL-safe alphabet, padding optional, surrounding
    /// whitespace ignored) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let text = text.trim().trim_end_matches('=');
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| "the secrets key is not base64".to_owned())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "the secrets key must be 32 bytes (44 characters of base64), not {} bytes",
                b.len()
            )
        })?;
        Ok(Self(bytes))
    }

    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The key as standard base64 with padding (44 characters), e.g. for a key file.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&Key::from(self.0))
    }
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsKey([redacted])")
    }
}

/// Which key opened a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    /// Encrypted with the current key.
    Current,
    /// Encrypted with the previous key: re-encrypt it.
    Previous,
    /// Not encrypted (written by an older version): encrypt it.
    Plaintext,
}

/// Encrypts and decrypts stored secrets with the current key (and, for reading only, a
/// previous one).
#[derive(Debug, Clone)]
pub struct SecretsCipher {
    current: SecretsKey,
    previous: Option<SecretsKey>,
}

impl SecretsCipher {
    /// Encrypts with `current` and decrypts with it.
    pub fn new(current: SecretsKey) -> Self {
        Self {
            current,
            previous: None,
        }
    }

    /// Also decrypts values encrypted with `previous` (key rotation).
    #[must_use]
    pub fn with_previous(mut self, previous: Option<SecretsKey>) -> Self {
        self.previous = previous;
        self
    }

    /// A random key for this process only. What a store sealed with it cannot be read after a
    /// restart: use [`SecretsCipher::new`] with a kept key when the store outlives the process.
    pub fn ephemeral() -> Self {
        Self::new(SecretsKey::generate())
    }

    /// Whether `stored` is in the encrypted format.
    pub(crate) fn is_sealed(stored: &str) -> bool {
        stored.starts_with(SEALED_PREFIX)
    }

    /// `plaintext` encrypted for the stream `stream_id`: `enc:v1:<base64url(nonce||ct)>`.
    pub(crate) fn seal(&self, stream_id: &StreamId, plaintext: &str) -> Result<String, ApiError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .current
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: stream_id.as_str().as_bytes(),
                },
            )
            .map_err(|_| ApiError::Internal("encrypting a stored secret failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// The plaintext of `stored` for the stream `stream_id`, and which key opened it. A value
    /// without the `enc:v1:` prefix is returned as it is ([`Opened::Plaintext`]).
    pub(crate) fn open(
        &self,
        stream_id: &StreamId,
        stored: &str,
    ) -> Result<(String, Opened), ApiError> {
        let Some(encoded) = stored.strip_prefix(SEALED_PREFIX) else {
            return Ok((stored.to_owned(), Opened::Plaintext));
        };
        let fail = |why: &str| ApiError::SecretUnreadable {
            stream_id: stream_id.clone(),
            reason: why.to_owned(),
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| fail("the stored value is not valid base64url"))?;
        if bytes.len() < NONCE_LEN {
            return Err(fail("the stored value is too short"));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| fail("bad nonce"))?;
        let payload = || Payload {
            msg: sealed,
            aad: stream_id.as_str().as_bytes(),
        };
        let keys = [
            Some((&self.current, Opened::Current)),
            self.previous.as_ref().map(|k| (k, Opened::Previous)),
        ];
        for (key, which) in keys.into_iter().flatten() {
            if let Ok(plain) = key.cipher().decrypt(&nonce, payload()) {
                let text = String::from_utf8(plain).map_err(|_| fail("not UTF-8"))?;
                return Ok((text, which));
            }
        }
        Err(fail(
            "it does not decrypt with the configured secrets key (nor the previous one): the key \
             differs from the one it was written with, or the value belongs to another stream",
        ))
    }
}

/// The stored form of a push delivery's `authorization_header` in `config`: a plaintext value
/// (from a request, or left by an older version) is encrypted for `stream_id`; an encrypted
/// one is kept. Returns whether anything changed.
pub(crate) fn seal_config(
    cipher: &SecretsCipher,
    stream_id: &StreamId,
    config: &mut StreamConfiguration,
) -> Result<bool, ApiError> {
    if let Some(Delivery::Push(push)) = &mut config.delivery
        && let Some(header) = &push.authorization_header
        && !SecretsCipher::is_sealed(header.expose())
    {
        let sealed = cipher.seal(stream_id, header.expose())?;
        push.authorization_header = Some(AuthorizationHeader::new(sealed));
        return Ok(true);
    }
    Ok(false)
}

/// What a response shows of a stored configuration: everything but the push
/// `authorization_header` (never returned, not even encrypted; D-TX-18).
pub(crate) fn public_config(mut config: serde_json::Value) -> serde_json::Value {
    if let Some(delivery) = config
        .get_mut("delivery")
        .and_then(serde_json::Value::as_object_mut)
    {
        delivery.remove("authorization_header");
    }
    config
}

/// What [`reseal_stored`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResealReport {
    /// Push streams with an `authorization_header` looked at.
    pub checked: u64,
    /// Values re-encrypted: plaintext from an older version, or under the previous key.
    pub resealed: u64,
}

/// Checks every stored push `authorization_header` against the state's keys and re-encrypts
/// plaintext values and values under the previous key with the current one. Fails, naming the
/// stream, when a value decrypts with neither key: a wrong key would otherwise only show when
/// that stream's next SET is pushed. A stream changed concurrently is left to that change.
pub async fn reseal_stored(state: &AppState) -> Result<ResealReport, ApiError> {
    let mut report = ResealReport::default();
    let mut after: Option<StreamId> = None;
    loop {
        let page = state.store.list_all_streams(after.as_ref(), 200).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.stream_id.clone());
        for record in page {
            if record.delivery != DeliveryMethod::Push {
                continue;
            }
            let mut config = StreamConfiguration::from_json(&record.config, ParseMode::Legacy)
                .map_err(|e| {
                    ApiError::Internal(
                        format!("stored configuration of {}: {e}", record.stream_id).into(),
                    )
                })?;
            let Some(Delivery::Push(push)) = &mut config.delivery else {
                continue;
            };
            let Some(header) = &push.authorization_header else {
                continue;
            };
            report.checked += 1;
            let (plain, opened) = state.secrets.open(&record.stream_id, header.expose())?;
            if opened == Opened::Current {
                continue;
            }
            push.authorization_header = Some(AuthorizationHeader::new(
                state.secrets.seal(&record.stream_id, &plain)?,
            ));
            let update = StreamUpdate {
                config: serde_json::to_value(&config).map_err(|e| ApiError::Internal(e.into()))?,
                delivery: record.delivery,
                inactivity_timeout_secs: record.inactivity_timeout_secs,
                min_verification_interval_secs: record.min_verification_interval_secs,
                expected_revision: Some(record.revision),
            };
            match state
                .store
                .update_stream(&record.client_id, &record.stream_id, update)
                .await
            {
                Ok(_) => report.resealed += 1,
                Err(ssf_store::StoreError::RevisionMismatch { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    if report.resealed > 0 {
        state.matcher.invalidate();
        tracing::info!(
            resealed = report.resealed,
            checked = report.checked,
            "re-encrypted stored push authorization_header values with the current secrets key"
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_only_for_their_stream_and_key() {
        let cipher = SecretsCipher::ephemeral();
        let a = StreamId::new("a");
        let sealed = cipher.seal(&a, "Bearer s3cret").unwrap();
        assert!(sealed.starts_with("enc:v1:") && !sealed.contains("s3cret"));
        assert_ne!(
            sealed,
            cipher.seal(&a, "Bearer s3cret").unwrap(),
            "random nonce"
        );
        assert_eq!(
            cipher.open(&a, &sealed).unwrap(),
            ("Bearer s3cret".to_owned(), Opened::Current)
        );
        let moved = cipher.open(&StreamId::new("b"), &sealed).unwrap_err();
        assert!(moved.to_string().contains("does not decrypt"), "{moved}");
        assert!(SecretsCipher::ephemeral().open(&a, &sealed).is_err());
        let rotated = SecretsCipher::ephemeral().with_previous(Some(cipher.current.clone()));
        assert_eq!(rotated.open(&a, &sealed).unwrap().1, Opened::Previous);
        assert_eq!(
            cipher.open(&a, "Bearer legacy").unwrap(),
            ("Bearer legacy".to_owned(), Opened::Plaintext)
        );
        assert!(cipher.open(&a, "enc:v1:!!").is_err());
    }

    #[test]
    fn keys_parse_from_base64_of_32_bytes() {
        let key = SecretsKey::generate();
        let text = key.to_base64();
        assert_eq!(text.len(), 44);
        assert_eq!(
            SecretsKey::from_base64(&format!(" {text}\n")).unwrap().0,
            key.0
        );
        assert_eq!(
            SecretsKey::from_base64(&URL_SAFE_NO_PAD.encode(key.0))
                .unwrap()
                .0,
            key.0
        );
        assert!(
            SecretsKey::from_base64("c2hvcnQ=")
                .unwrap_err()
                .contains("32 bytes")
        );
        assert!(SecretsKey::from_base64("not base64 at all!").is_err());
        assert_eq!(format!("{key:?}"), "SecretsKey([redacted])");
    }
}
