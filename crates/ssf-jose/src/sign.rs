//! Signing SETs ([RFC 8417 §2](https://www.rfc-editor.org/rfc/rfc8417#section-2) as profiled by
//! [SSF 1.0 §4.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4.1)).

use std::{fmt, sync::Arc};

use serde::Serialize;
use ssf_types::Clock;

use crate::{
    JoseError, KeyPair, KeyStore, MemoryKeyStore, SigningKey, encoding::b64url_encode_into,
};

/// The JOSE `typ` this crate writes: the short form (checklist SSF-SET-01, SSF-SET-02).
pub const SET_TYP: &str = "secevent+jwt";

/// Signs SETs with the current key of a [`KeyStore`].
///
/// Each SET gets the header `{"typ":"secevent+jwt","alg":..,"kid":..}` (checklist SSF-SET-01,
/// SSF-SIG-03, TV-HDR-01). The key is fetched from the store per call (so a promotion takes
/// effect at once) but never re-parsed: stores hand out parsed keys.
#[derive(Clone)]
pub struct SetSigner {
    store: Arc<dyn KeyStore>,
}

impl fmt::Debug for SetSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetSigner")
            .field("store", &self.store)
            .finish()
    }
}

#[derive(Serialize)]
struct Header<'a> {
    typ: &'a str,
    alg: &'a str,
    kid: &'a str,
}

impl SetSigner {
    /// A signer using `store`'s current key.
    pub fn new(store: Arc<dyn KeyStore>) -> Self {
        Self { store }
    }

    /// A signer with one fixed key (e.g. `ssf set sign --key k.pem`).
    pub fn with_key(key: KeyPair, clock: Arc<dyn Clock>) -> Self {
        Self::new(Arc::new(MemoryKeyStore::with_current(clock, key)))
    }

    /// The key store.
    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.store
    }

    /// Signs `claims` and returns the compact SET.
    ///
    /// `claims` must serialize to a JSON object: normally `ssf_types`' SET claims, which carry
    /// `iss`, `iat`, `jti`, `aud`, `sub_id` and `events` and never `sub` or `exp` (checklist
    /// SSF-SET-03..15). The signer does not re-check them, to keep signing cheap.
    pub fn sign<T: Serialize + ?Sized>(&self, claims: &T) -> Result<String, JoseError> {
        let key = self.store.current()?;
        sign_with(key.as_ref(), claims)
    }
}

/// Signs `claims` with one key; see [`SetSigner::sign`].
pub fn sign_with<T: Serialize + ?Sized>(
    key: &dyn SigningKey,
    claims: &T,
) -> Result<String, JoseError> {
    let payload = serde_json::to_vec(claims).map_err(JoseError::Json)?;
    if payload.first() != Some(&b'{') {
        return Err(JoseError::ClaimsNotObject);
    }
    let header = serde_json::to_vec(&Header {
        typ: SET_TYP,
        alg: key.alg().as_str(),
        kid: key.kid().as_str(),
    })
    .map_err(JoseError::Json)?;
    // header + payload + a 2048-bit RSA signature, in base64url
    let mut out = String::with_capacity((header.len() + payload.len() + 256) * 4 / 3 + 8);
    b64url_encode_into(&header, &mut out);
    out.push('.');
    b64url_encode_into(&payload, &mut out);
    let signature = key.sign(out.as_bytes())?;
    out.push('.');
    b64url_encode_into(&signature, &mut out);
    Ok(out)
}
