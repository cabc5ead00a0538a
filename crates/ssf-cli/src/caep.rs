//! Builds CAEP event and subject JSON from command-line flags.
//!
//! Kept apart and small on purpose: once `ssf_types` exposes typed subjects and events, this
//! module is replaced by calls to it (same inputs, same JSON). Shapes follow
//! [CAEP 1.0 §3](https://openid.net/specs/openid-caep-1_0.html#section-3) and
//! [RFC 9493 §3](https://www.rfc-editor.org/rfc/rfc9493#section-3).

use serde_json::{Map, Value, json};

use crate::{
    cli::InitiatingEntity,
    input::{Failure, usage},
};

const CAEP_BASE: &str = "https://schemas.openid.net/secevent/caep/event-type/";

/// CAEP 1.0 event types and their REQUIRED event members (checklist CAEP-10..17).
const CAEP_EVENTS: [(&str, &[&str]); 8] = [
    ("session-revoked", &[]),
    ("token-claims-change", &["claims"]),
    ("credential-change", &["credential_type", "change_type"]),
    ("assurance-level-change", &["namespace", "current_level"]),
    (
        "device-compliance-change",
        &["previous_status", "current_status"],
    ),
    ("session-established", &[]),
    ("session-presented", &[]),
    ("risk-level-change", &["principal", "current_level"]),
];

/// The members common to CAEP events (CAEP 1.0 §2) plus free-form ones.
#[derive(Debug, Default)]
pub(crate) struct EventFields {
    pub(crate) reason_admin: Option<String>,
    pub(crate) reason_user: Option<String>,
    pub(crate) initiating_entity: Option<InitiatingEntity>,
    pub(crate) event_timestamp: i64,
    /// `NAME=VALUE` pairs; VALUE is JSON if it parses, else a string.
    pub(crate) fields: Vec<String>,
}

/// `(event-type URI, event object)` for a CAEP event name or any event-type URI.
pub(crate) fn event(name: &str, fields: &EventFields) -> Result<(String, Value), Failure> {
    let (uri, required): (String, &[&str]) = if name.contains(':') {
        let known = CAEP_EVENTS
            .iter()
            .find(|(n, _)| name.strip_prefix(CAEP_BASE) == Some(n));
        (name.to_owned(), known.map_or(&[], |(_, r)| *r))
    } else {
        let (n, r) = CAEP_EVENTS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| {
                let names: Vec<&str> = CAEP_EVENTS.iter().map(|(n, _)| *n).collect();
                usage(format!(
                    "unknown event {name:?}; use one of {} or a URI",
                    names.join(", ")
                ))
            })?;
        (format!("{CAEP_BASE}{n}"), *r)
    };
    let mut event = Map::new();
    event.insert("event_timestamp".into(), json!(fields.event_timestamp));
    if let Some(entity) = fields.initiating_entity {
        let value = match entity {
            InitiatingEntity::Admin => "admin",
            InitiatingEntity::User => "user",
            InitiatingEntity::Policy => "policy",
            InitiatingEntity::System => "system",
        };
        event.insert("initiating_entity".into(), json!(value));
    }
    if let Some(text) = &fields.reason_admin {
        event.insert("reason_admin".into(), json!({ "en": text }));
    }
    if let Some(text) = &fields.reason_user {
        event.insert("reason_user".into(), json!({ "en": text }));
    }
    for field in &fields.fields {
        let (key, raw) = field
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| usage(format!("--field {field:?} is not NAME=VALUE")))?;
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
        event.insert(key.to_owned(), value);
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|r| !event.contains_key(*r))
        .collect();
    if !missing.is_empty() {
        return Err(usage(format!(
            "event {name} requires {}; add --field NAME=VALUE for each",
            missing.join(", ")
        )));
    }
    Ok((uri, Value::Object(event)))
}

/// The event-type URI of a name: the last segment of any standard CAEP/RISC/SSF type
/// (`session-revoked`, `account-disabled`), or a URI as it is
/// ([`ssf_types::EventType::from_name`], the alias table the transmitter's configuration uses too).
pub(crate) fn event_uri(name: &str) -> Result<String, Failure> {
    ssf_types::EventType::from_name(name)
        .map(|t| t.as_str().to_owned())
        .ok_or_else(|| {
            let names: Vec<&str> = CAEP_EVENTS.iter().map(|(n, _)| *n).collect();
            usage(format!(
                "unknown event {name:?}; use one of {}, a RISC name (e.g. account-disabled) or a URI",
                names.join(", ")
            ))
        })
}

/// A subject identifier (RFC 9493) from `FORMAT:VALUE` or a JSON object.
pub(crate) fn subject(spec: &str) -> Result<Value, Failure> {
    if spec.trim_start().starts_with('{') {
        let value: Value = serde_json::from_str(spec)
            .map_err(|e| usage(format!("--subject is not valid JSON: {e}")))?;
        if value.get("format").and_then(Value::as_str).is_none() {
            return Err(usage("a JSON --subject needs a \"format\" member"));
        }
        return Ok(value);
    }
    let (format, value) = spec
        .split_once(':')
        .filter(|(_, v)| !v.is_empty())
        .ok_or_else(|| {
            usage(format!(
                "--subject {spec:?} is not FORMAT:VALUE (e.g. email:jane@example.com)"
            ))
        })?;
    Ok(match format {
        "email" => json!({"format": "email", "email": value}),
        "phone_number" | "phone" => json!({"format": "phone_number", "phone_number": value}),
        "opaque" => json!({"format": "opaque", "id": value}),
        "account" => json!({"format": "account", "uri": value}),
        "uri" => json!({"format": "uri", "uri": value}),
        "did" => json!({"format": "did", "url": spec}),
        "iss_sub" => {
            let (iss, sub) = value
                .split_once('|')
                .ok_or_else(|| usage("an iss_sub subject is iss_sub:ISSUER|SUBJECT"))?;
            json!({"format": "iss_sub", "iss": iss, "sub": sub})
        }
        _ => {
            return Err(usage(format!(
                "unknown subject format {format:?}; use email, phone_number, opaque, account, \
                 uri, did, iss_sub, or a JSON object"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        assert_eq!(
            subject("email:jane@example.com").unwrap(),
            json!({"format":"email","email":"jane@example.com"})
        );
        assert_eq!(
            subject("did:example:123").unwrap(),
            json!({"format":"did","url":"did:example:123"})
        );
        assert_eq!(
            subject("iss_sub:https://idp.example.com/|u|1").unwrap(),
            json!({"format":"iss_sub","iss":"https://idp.example.com/","sub":"u|1"})
        );
        assert_eq!(
            subject("account:acct:jane@example.com").unwrap()["uri"],
            "acct:jane@example.com"
        );
        assert!(subject("jane@example.com").is_err());
        assert!(subject("fax:123").is_err());
        assert!(subject(r#"{"email":"x"}"#).is_err());
    }

    #[test]
    fn events_check_required_members() {
        let fields = EventFields {
            event_timestamp: 5,
            ..Default::default()
        };
        let (uri, body) = event("session-revoked", &fields).unwrap();
        assert_eq!(
            uri,
            "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
        );
        assert_eq!(body, json!({"event_timestamp": 5}));
        assert!(event("token-claims-change", &fields).is_err());
        let with_claims = EventFields {
            fields: vec![
                r#"claims={"role":"ro-admin"}"#.into(),
                "note=plain text".into(),
            ],
            ..fields
        };
        let (_, body) = event("token-claims-change", &with_claims).unwrap();
        assert_eq!(body["claims"], json!({"role": "ro-admin"}));
        assert_eq!(body["note"], json!("plain text"));
        assert!(event(&format!("{CAEP_BASE}credential-change"), &with_claims).is_err());
        assert!(event("https://example.com/event/custom", &with_claims).is_ok());
        assert!(event("no-such-event", &with_claims).is_err());
    }

    #[test]
    fn event_names_resolve_to_uris() {
        assert_eq!(
            event_uri("session-revoked").unwrap(),
            format!("{CAEP_BASE}session-revoked")
        );
        assert!(
            event_uri("account-disabled")
                .unwrap()
                .ends_with("/risc/event-type/account-disabled")
        );
        assert_eq!(
            event_uri("https://e.example/x").unwrap(),
            "https://e.example/x"
        );
        assert!(event_uri("no-such-event").is_err());
    }
}
