//! What one producer may publish through `POST /events` (issue 11, decision D-TX-15): the event
//! types of its `events` list and, in a CAEP `token-claims-change`
//! ([CAEP 1.0 §3.2](https://openid.net/specs/openid-caep-1_0.html#section-3.2)), only the claim
//! names of its `claims` list. Absent lists allow anything (the behaviour before these settings
//! existed); production configurations set both, so that only the ticket bridge can grant.

use std::collections::BTreeSet;

use ssf_types::{Event, EventType};

/// A producer's allow lists, resolved from its `events` and `claims` settings
/// ([`ClientSettings`](crate::config::ClientSettings), [`ExternalIssuerSettings`](crate::config::ExternalIssuerSettings)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PublishRights {
    /// The event types it may publish; `None`: any.
    events: Option<BTreeSet<EventType>>,
    /// The claim names it may set in a `token-claims-change`; `None`: any.
    claims: Option<BTreeSet<String>>,
}

/// Why an event was refused: the `reason` label of the refusal metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefusalReason {
    /// The event type is not in the producer's `events`.
    EventType,
    /// A `token-claims-change` sets a claim not in the producer's `claims`.
    Claims,
}

impl RefusalReason {
    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::EventType => "event_type",
            Self::Claims => "claims",
        }
    }
}

/// One refused event: why, and the text for the producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// Which list refused it.
    pub reason: RefusalReason,
    /// `client `x` may not publish ...`, naming what is allowed.
    pub description: String,
}

impl PublishRights {
    /// No restriction: every event type, every claim.
    #[cfg(test)]
    pub(crate) fn unrestricted() -> Self {
        Self::default()
    }

    /// The rights of `events` and `claims` settings. Names resolve with
    /// [`EventType::from_name`]; a name that does not resolve (refused by
    /// [`AuthSettings::validate`](crate::config::AuthSettings::validate)) allows nothing, so a list
    /// that was not validated still only narrows.
    pub(crate) fn from_settings(events: Option<&[String]>, claims: Option<&[String]>) -> Self {
        Self {
            events: events.map(|names| {
                names
                    .iter()
                    .filter_map(|n| EventType::from_name(n))
                    .collect()
            }),
            claims: claims.map(|names| names.iter().cloned().collect()),
        }
    }

    /// Whether the lists restrict anything.
    #[cfg(test)]
    fn is_restricted(&self) -> bool {
        self.events.is_some() || self.claims.is_some()
    }

    /// Whether `client_id` may publish `event`.
    pub(crate) fn check(&self, client_id: &str, event: &Event) -> Result<(), Refusal> {
        let event_type = event.event_type();
        if let Some(allowed) = &self.events
            && !allowed.contains(&event_type)
        {
            let list: Vec<&str> = allowed.iter().map(EventType::as_str).collect();
            return Err(Refusal {
                reason: RefusalReason::EventType,
                description: format!(
                    "client `{client_id}` may not publish event type `{event_type}` (allowed: {})",
                    or_none(&list)
                ),
            });
        }
        if let (Some(allowed), Event::TokenClaimsChange(change)) = (&self.claims, event) {
            let refused: Vec<&str> = change
                .claims
                .keys()
                .filter(|name| !allowed.contains(*name))
                .map(String::as_str)
                .collect();
            if !refused.is_empty() {
                let list: Vec<&str> = allowed.iter().map(String::as_str).collect();
                return Err(Refusal {
                    reason: RefusalReason::Claims,
                    description: format!(
                        "client `{client_id}` may not set the claims {} in `{event_type}` \
                         (allowed: {})",
                        refused
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        or_none(&list)
                    ),
                });
            }
        }
        Ok(())
    }
}

fn or_none(list: &[&str]) -> String {
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// Checks one producer's `events` and `claims` settings; `at` names the entry in errors.
/// Unknown short names and unknown URIs under the CAEP/RISC/SSF namespaces (typos) are refused,
/// and so are the transmitter's own SSF events; `claims` needs `token-claims-change` allowed.
pub(crate) fn validate_settings(
    at: &str,
    events: Option<&[String]>,
    claims: Option<&[String]>,
) -> Result<(), String> {
    if let Some(events) = events {
        if events.is_empty() {
            return Err(format!(
                "{at}: events is empty; to forbid publishing, leave out the ssf.events.publish scope"
            ));
        }
        for name in events {
            let ty = EventType::from_name(name)
                .filter(|t| !t.is_unknown_standard_uri())
                .ok_or_else(|| {
                    format!(
                        "{at}: events: unknown event type `{name}`; use an event-type URI or the \
                         short name of a CAEP/RISC event (e.g. session-revoked, token-claims-change)"
                    )
                })?;
            if ty.is_ssf() {
                return Err(format!(
                    "{at}: events: `{name}` is sent by the transmitter itself, never by a producer"
                ));
            }
        }
    }
    if let Some(claims) = claims {
        if claims.is_empty() || claims.iter().any(String::is_empty) {
            return Err(format!(
                "{at}: claims must list claim names; leave token-claims-change out of events to \
                 forbid claims changes"
            ));
        }
        let grants = events.is_none_or(|list| {
            list.iter()
                .any(|n| EventType::from_name(n) == Some(EventType::TokenClaimsChange))
        });
        if !grants {
            return Err(format!(
                "{at}: claims is set but events does not allow token-claims-change; add \
                 `token-claims-change` to events or remove claims"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use ssf_types::ParseMode;

    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn event(ty: EventType, body: &serde_json::Value) -> Event {
        Event::parse(&ty.uri(), body, ParseMode::Strict).unwrap()
    }

    #[test]
    fn event_type_allow_list_by_short_name_or_uri() {
        let rights = PublishRights::from_settings(
            Some(&strings(&[
                "session-revoked",
                EventType::AccountDisabled.as_str(),
            ])),
            None,
        );
        let revoked = event(EventType::SessionRevoked, &json!({}));
        assert!(rights.check("risk", &revoked).is_ok());
        let claims = event(
            EventType::TokenClaimsChange,
            &json!({"claims": {"role": "admin"}}),
        );
        let refusal = rights.check("risk", &claims).unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::EventType);
        assert!(
            refusal
                .description
                .starts_with("client `risk` may not publish event type `https://schemas.openid.net/secevent/caep/event-type/token-claims-change` (allowed: "),
            "{}",
            refusal.description
        );
        assert!(refusal.description.contains("session-revoked"));
    }

    #[test]
    fn claim_allow_list_refuses_any_other_claim() {
        let rights = PublishRights::from_settings(
            Some(&strings(&["token-claims-change"])),
            Some(&strings(&["customer_id", "access_allowed", "expires_at"])),
        );
        let grant = event(
            EventType::TokenClaimsChange,
            &json!({"claims": {"customer_id": "C1", "access_allowed": "read_write", "expires_at": 1}}),
        );
        assert!(rights.check("bridge", &grant).is_ok());
        let extra = event(
            EventType::TokenClaimsChange,
            &json!({"claims": {"customer_id": "C1", "role": "admin"}}),
        );
        let refusal = rights.check("bridge", &extra).unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::Claims);
        assert!(refusal.description.contains("`role`"), "{refusal:?}");
        assert!(
            !refusal.description.contains("`customer_id`,"),
            "{refusal:?}"
        );
    }

    #[test]
    fn no_lists_allow_everything() {
        let rights = PublishRights::unrestricted();
        assert!(!rights.is_restricted());
        let claims = event(
            EventType::TokenClaimsChange,
            &json!({"claims": {"groups_add": ["admins"]}}),
        );
        assert!(rights.check("any", &claims).is_ok());
    }

    #[test]
    fn unresolvable_names_allow_nothing() {
        let rights = PublishRights::from_settings(Some(&strings(&["session-revokd"])), None);
        let revoked = event(EventType::SessionRevoked, &json!({}));
        let refusal = rights.check("x", &revoked).unwrap_err();
        assert!(
            refusal.description.ends_with("(allowed: none)"),
            "{refusal:?}"
        );
    }

    #[test]
    fn settings_validation() {
        let ok = |e: Option<&[&str]>, c: Option<&[&str]>| {
            let (e, c) = (e.map(strings), c.map(strings));
            validate_settings("auth.clients `p`", e.as_deref(), c.as_deref())
        };
        assert!(ok(None, None).is_ok());
        assert!(ok(Some(&["session-revoked", "urn:example:custom"]), None).is_ok());
        assert!(ok(None, Some(&["customer_id"])).is_ok());
        assert!(ok(Some(&["token-claims-change"]), Some(&["customer_id"])).is_ok());
        let e = ok(Some(&["session-revokd"]), None).unwrap_err();
        assert!(
            e.contains("auth.clients `p`: events: unknown event type `session-revokd`"),
            "{e}"
        );
        let e = ok(
            Some(&["https://schemas.openid.net/secevent/caep/event-type/session-revokd"]),
            None,
        )
        .unwrap_err();
        assert!(e.contains("unknown event type"), "{e}");
        let e = ok(Some(&["verification"]), None).unwrap_err();
        assert!(e.contains("transmitter itself"), "{e}");
        let e = ok(Some(&["session-revoked"]), Some(&["customer_id"])).unwrap_err();
        assert!(
            e.contains("claims is set but events does not allow token-claims-change"),
            "{e}"
        );
        assert!(ok(Some(&[]), None).is_err());
        assert!(ok(None, Some(&[])).is_err());
    }
}
