//! Sender verification of webhooks: HMAC-SHA256 of the raw body, a shared token, or HTTP Basic
//! credentials, compared in constant time, and the timestamp window.

use std::time::Duration;

use axum::http::HeaderMap;
use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use ssf_types::{
    UnixMillis,
    secret::{ExposeSecret, SecretString, constant_time_eq},
};

use crate::{
    config::{SystemConfig, WebhookAuth},
    error::JitError,
    store::Intake,
};

/// Checks the signature or token of a webhook of `system`. `Err` means `401`; the reason goes to
/// the log only.
pub fn verify(system: &SystemConfig, headers: &HeaderMap, body: &[u8]) -> Result<(), JitError> {
    let header = system.auth_header();
    let values: Vec<&str> = headers
        .get_all(header.as_str())
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let [value] = values.as_slice() else {
        return Err(JitError::Unauthenticated(if values.is_empty() {
            "the signature or token header is missing"
        } else {
            "the signature or token header is repeated"
        }));
    };
    match system.auth_mode() {
        WebhookAuth::Hmac => verify_hmac(&system.secret, value, body),
        WebhookAuth::Token => verify_token(&system.secret, value),
        WebhookAuth::Basic => verify_basic(
            system.username.as_deref().unwrap_or_default(),
            &system.secret,
            value,
        ),
    }
}

/// The HMAC-SHA256 of `body` with `secret`, as lowercase hex (what Jira sends after `sha256=`).
pub fn sign_hex(secret: &str, body: &[u8]) -> String {
    hex::encode(mac(secret.as_bytes(), body))
}

fn mac(key: &[u8], body: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return [0; 32];
    };
    m.update(body);
    m.finalize().into_bytes().into()
}

/// Accepts `sha256=<hex>`, `<hex>`, `sha256=<base64>` or `<base64>` (ServiceNow's
/// `GlideCertificateEncoder.getMacSignature` gives base64).
fn verify_hmac(secret: &SecretString, value: &str, body: &[u8]) -> Result<(), JitError> {
    let value = value.trim();
    let sig = value
        .strip_prefix("sha256=")
        .or_else(|| value.strip_prefix("SHA256="))
        .unwrap_or(value);
    let given: Vec<u8> = if sig.len() == 64 && sig.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(sig).map_err(|_| JitError::Unauthenticated("the signature is not hex"))?
    } else {
        STANDARD
            .decode(sig)
            .map_err(|_| JitError::Unauthenticated("the signature is neither hex nor base64"))?
    };
    let expected = mac(secret.expose_secret().as_bytes(), body);
    if given.len() == expected.len() && constant_time_eq(&given, &expected) {
        Ok(())
    } else {
        Err(JitError::Unauthenticated(
            "the signature does not match the body",
        ))
    }
}

/// Accepts the secret itself, with or without a `Bearer ` scheme.
fn verify_token(secret: &SecretString, value: &str) -> Result<(), JitError> {
    let value = value.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    };
    // Digests first, so neither the length nor a prefix of the secret leaks through timing.
    let given: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let expected: [u8; 32] = Sha256::digest(secret.expose_secret().as_bytes()).into();
    if constant_time_eq(&given, &expected) {
        Ok(())
    } else {
        Err(JitError::Unauthenticated("the token does not match"))
    }
}

/// Accepts `Basic base64(<username>:<secret>)` ([RFC 7617](https://www.rfc-editor.org/rfc/rfc7617)):
/// the user name and the password are both compared, through digests and in constant time,
/// whichever of them is wrong.
fn verify_basic(username: &str, secret: &SecretString, value: &str) -> Result<(), JitError> {
    let value = value.trim();
    let encoded = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") => rest.trim(),
        _ => return Err(JitError::Unauthenticated("not Basic credentials")),
    };
    let decoded = STANDARD
        .decode(encoded)
        .map_err(|_| JitError::Unauthenticated("the Basic credentials are not base64"))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| JitError::Unauthenticated("the Basic credentials are not UTF-8"))?;
    let (user, password) = text.split_once(':').ok_or(JitError::Unauthenticated(
        "the Basic credentials have no ':'",
    ))?;
    let digest = |s: &str| -> [u8; 32] { Sha256::digest(s.as_bytes()).into() };
    let user_ok = constant_time_eq(&digest(user), &digest(username));
    let password_ok = constant_time_eq(&digest(password), &digest(secret.expose_secret()));
    if user_ok & password_ok {
        Ok(())
    } else {
        Err(JitError::Unauthenticated(
            "the Basic credentials do not match",
        ))
    }
}

/// Judges a webhook's own time `sent_at`: further than `max_skew` in the future is refused
/// (`401`); older than `max_age` is [`Intake::Late`] (it may take access away, not grant it);
/// anything else is [`Intake::Fresh`].
pub fn check_window(
    sent_at: UnixMillis,
    now: UnixMillis,
    max_age: Option<Duration>,
    max_skew: Duration,
) -> Result<Intake, JitError> {
    let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    if sent_at.0.saturating_sub(now.0) > millis(max_skew) {
        return Err(JitError::Stale(format!(
            "sent at {}, in the future",
            crate::time::format_rfc3339(sent_at)
        )));
    }
    let late = max_age.is_some_and(|age| now.0.saturating_sub(sent_at.0) > millis(age));
    Ok(if late { Intake::Late } else { Intake::Fresh })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::config::SystemKind;

    fn system(kind: SystemKind, auth: Option<WebhookAuth>) -> SystemConfig {
        let mut s = SystemConfig::new(kind, "0123456789abcdef-secret");
        s.auth = auth;
        s
    }

    fn headers(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    #[test]
    fn jira_signature_in_hex_and_base64() {
        let s = system(SystemKind::Jira, None);
        let body = br#"{"webhookEvent":"jira:issue_updated"}"#;
        let sig = sign_hex("0123456789abcdef-secret", body);
        assert!(
            verify(
                &s,
                &headers("X-Hub-Signature", &format!("sha256={sig}")),
                body
            )
            .is_ok()
        );
        assert!(verify(&s, &headers("x-hub-signature", &sig), body).is_ok());
        let b64 = STANDARD.encode(hex::decode(&sig).unwrap());
        assert!(verify(&s, &headers("X-Hub-Signature", &b64), body).is_ok());
        assert!(
            verify(
                &s,
                &headers("X-Hub-Signature", &format!("sha256={sig}")),
                b"{}"
            )
            .is_err()
        );
        assert!(verify(&s, &HeaderMap::new(), body).is_err());
        assert!(verify(&s, &headers("X-Hub-Signature", "sha256=zz"), body).is_err());
        let other = sign_hex("another-secret-0123456789", body);
        assert!(verify(&s, &headers("X-Hub-Signature", &other), body).is_err());
    }

    #[test]
    fn servicenow_token_with_or_without_bearer() {
        let s = system(SystemKind::ServiceNow, None);
        assert!(
            verify(
                &s,
                &headers("Authorization", "Bearer 0123456789abcdef-secret"),
                b"{}"
            )
            .is_ok()
        );
        assert!(
            verify(
                &s,
                &headers("Authorization", "0123456789abcdef-secret"),
                b"{}"
            )
            .is_ok()
        );
        assert!(
            verify(
                &s,
                &headers("Authorization", "Bearer 0123456789abcdef-secre"),
                b"{}"
            )
            .is_err()
        );
        assert!(verify(&s, &headers("Authorization", "Basic abc"), b"{}").is_err());
        let mut h = headers("Authorization", "Bearer 0123456789abcdef-secret");
        h.append("Authorization", HeaderValue::from_static("Bearer x"));
        assert!(
            verify(&s, &h, b"{}").is_err(),
            "a repeated header is refused"
        );
    }

    #[test]
    fn servicenow_hmac_mode_uses_its_header() {
        let s = system(SystemKind::ServiceNow, Some(WebhookAuth::Hmac));
        let sig = sign_hex("0123456789abcdef-secret", b"{}");
        assert!(verify(&s, &headers("X-ServiceNow-Signature", &sig), b"{}").is_ok());
        assert!(verify(&s, &headers("Authorization", &sig), b"{}").is_err());
    }

    #[test]
    fn basic_credentials() {
        let mut s = system(SystemKind::ServiceNow, Some(WebhookAuth::Basic));
        s.username = Some("snow.integration".into());
        let basic = |creds: &str| format!("Basic {}", STANDARD.encode(creds));
        let ok = basic("snow.integration:0123456789abcdef-secret");
        assert!(verify(&s, &headers("Authorization", &ok), b"{}").is_ok());
        assert!(
            verify(
                &s,
                &headers("Authorization", &ok.replace("Basic", "basic")),
                b"{}"
            )
            .is_ok()
        );
        for bad in [
            basic("someone.else:0123456789abcdef-secret"),
            basic("snow.integration:0123456789abcdef-secreT"),
            basic("snow.integration"),
            "Basic %%%not-base64%%%".to_owned(),
            "Bearer 0123456789abcdef-secret".to_owned(),
            format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', b'x'])),
        ] {
            assert!(
                verify(&s, &headers("Authorization", &bad), b"{}").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn window() {
        let now = UnixMillis::from_secs(1_000_000);
        let hour = Some(Duration::from_secs(3600));
        let skew = Duration::from_secs(300);
        let at = |ms: i64, age| check_window(now.plus_millis(ms), now, age, skew).ok();
        assert_eq!(at(-3_600_000, hour), Some(Intake::Fresh));
        assert_eq!(at(-3_600_001, hour), Some(Intake::Late));
        assert_eq!(at(-9_999_999, None), Some(Intake::Fresh));
        assert_eq!(at(300_000, hour), Some(Intake::Fresh));
        assert_eq!(at(300_001, hour), None, "too far in the future");
    }
}
