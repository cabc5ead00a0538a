//! Subject validation: SSF-SUB-01..03, 10..21, 30..33.

use std::net::IpAddr;

use super::{Extra, SubjectId};
use crate::error::SubjectError;

impl SubjectId {
    /// Every rule a transmitter must follow before it emits this subject: those of
    /// [`Self::validate_structure`], plus no member the format does not describe (SSF-SUB-02).
    /// Proprietary formats ([`SubjectId::Other`]) are not checked beyond a non-empty `format`.
    pub fn validate(&self) -> Result<(), SubjectError> {
        self.check(true)
    }

    /// The rules a receiver enforces on a subject it gets (SSF-RXV-07: structurally invalid ->
    /// `invalid_request`):
    /// - required members present, strings non-empty (SSF-SUB-02, SSF-SUB-03);
    /// - `account.uri` an `acct:` URI, `email.email` an addr-spec with `@`, `phone_number` strict
    ///   E.164 (`+`, 2 to 15 digits, no spaces; SSF-SUB-14, B-03), `did.url` a `did:` URL,
    ///   `uri.uri` with a scheme, every `ip-addresses` entry an IPv4 or IPv6 address (SSF-SUB-20);
    /// - `aliases` non-empty, with no `aliases` or `complex` inside (SSF-SUB-17);
    /// - `complex` with at least one member, each a valid simple subject (SSF-SUB-30..33).
    ///
    /// Undescribed members are allowed here (SSF-RXV-15: ignored, never rejected).
    pub fn validate_structure(&self) -> Result<(), SubjectError> {
        self.check(false)
    }

    fn check(&self, no_extra: bool) -> Result<(), SubjectError> {
        let format = self.format();
        let f = format.as_str();
        let extra: &Extra = match self {
            Self::Account { uri, extra } => {
                non_empty(f, "uri", uri)?;
                syntax(
                    f,
                    "uri",
                    "an `acct:` URI",
                    uri.starts_with("acct:") && uri.len() > 5,
                )?;
                extra
            }
            Self::Email { email, extra } => {
                non_empty(f, "email", email)?;
                let ok = email
                    .rfind('@')
                    .is_some_and(|at| at > 0 && at + 1 < email.len());
                syntax(f, "email", "an addr-spec (`local@domain`)", ok)?;
                extra
            }
            Self::IssSub { iss, sub, extra } => {
                non_empty(f, "iss", iss)?;
                non_empty(f, "sub", sub)?;
                extra
            }
            Self::Opaque { id, extra } => {
                non_empty(f, "id", id)?;
                extra
            }
            Self::PhoneNumber {
                phone_number,
                extra,
            } => {
                non_empty(f, "phone_number", phone_number)?;
                syntax(
                    f,
                    "phone_number",
                    "an E.164 number like +12065550100",
                    is_e164(phone_number),
                )?;
                extra
            }
            Self::Did { url, extra } => {
                non_empty(f, "url", url)?;
                syntax(f, "url", "a DID URL (`did:method:id`)", is_did(url))?;
                extra
            }
            Self::Uri { uri, extra } => {
                non_empty(f, "uri", uri)?;
                syntax(f, "uri", "a URI with a scheme", has_uri_scheme(uri))?;
                extra
            }
            Self::Aliases { identifiers, extra } => {
                if identifiers.is_empty() {
                    return Err(SubjectError::EmptyAliases);
                }
                for (index, id) in identifiers.iter().enumerate() {
                    match id {
                        Self::Aliases { .. } => return Err(SubjectError::NestedAliases),
                        Self::Complex(_) => return Err(SubjectError::ComplexInAliases),
                        _ => id.check(no_extra).map_err(|e| SubjectError::Alias {
                            index,
                            source: Box::new(e),
                        })?,
                    }
                }
                extra
            }
            Self::JwtId { iss, jti, extra } => {
                non_empty(f, "iss", iss)?;
                non_empty(f, "jti", jti)?;
                extra
            }
            Self::SamlAssertionId {
                issuer,
                assertion_id,
                extra,
            } => {
                non_empty(f, "issuer", issuer)?;
                non_empty(f, "assertion_id", assertion_id)?;
                extra
            }
            Self::IpAddresses {
                ip_addresses,
                extra,
            } => {
                if ip_addresses.is_empty() {
                    return Err(SubjectError::EmptyMember {
                        format: f.to_owned(),
                        member: "ip-addresses",
                    });
                }
                let ok = ip_addresses.iter().all(|a| a.parse::<IpAddr>().is_ok());
                syntax(f, "ip-addresses", "a list of IPv4/IPv6 addresses", ok)?;
                extra
            }
            Self::Complex(c) => {
                if c.members.is_empty() {
                    return Err(SubjectError::EmptyComplex);
                }
                for (name, member) in &c.members {
                    if !member.is_simple() {
                        return Err(SubjectError::NestedComplex(name.clone()));
                    }
                    member
                        .check(no_extra)
                        .map_err(|e| SubjectError::ComplexMember {
                            member: name.clone(),
                            source: Box::new(e),
                        })?;
                }
                return Ok(());
            }
            Self::Other { format, .. } => {
                if format.is_empty() {
                    return Err(SubjectError::MissingFormat);
                }
                return Ok(());
            }
        };
        if no_extra && let Some(member) = extra.keys().next() {
            return Err(SubjectError::UnexpectedMember {
                format: f.to_owned(),
                member: member.clone(),
            });
        }
        Ok(())
    }
}

fn non_empty(format: &str, member: &'static str, value: &str) -> Result<(), SubjectError> {
    if value.is_empty() {
        return Err(SubjectError::EmptyMember {
            format: format.to_owned(),
            member,
        });
    }
    Ok(())
}

fn syntax(
    format: &str,
    member: &'static str,
    expected: &'static str,
    ok: bool,
) -> Result<(), SubjectError> {
    if ok {
        Ok(())
    } else {
        Err(SubjectError::InvalidValue {
            format: format.to_owned(),
            member,
            expected,
        })
    }
}

/// `+` then 2 to 15 digits, the first not `0` (ITU-T E.164; SSF-SUB-14).
pub(crate) fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// `did:<method>:<id>` where the method is lower-case letters and digits (W3C DID Core §3.1).
fn is_did(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("did:") else {
        return false;
    };
    match rest.split_once(':') {
        Some((method, id)) => {
            !method.is_empty()
                && method
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && !id.is_empty()
        }
        None => false,
    }
}

/// RFC 3986 §3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"`.
fn has_uri_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{mode::ParseMode, subject::ComplexSubject};

    fn parse(v: serde_json::Value) -> Result<SubjectId, SubjectError> {
        SubjectId::from_json(&v, ParseMode::Strict)
    }

    #[test]
    fn e164_ssf_sub_14() {
        assert!(is_e164("+12065550100"));
        assert!(!is_e164("+1 206 555 0123"));
        assert!(!is_e164("12065550100"));
        assert!(!is_e164("+0123"));
        assert!(!is_e164("+1234567890123456"));
        assert!(matches!(
            parse(json!({"format":"phone_number","phone_number":"+1 206 555 0123"})),
            Err(SubjectError::InvalidValue {
                member: "phone_number",
                ..
            })
        ));
    }

    #[test]
    fn legacy_mode_removes_spaces_from_phone_numbers_b_03() {
        let v = json!({"format":"phone_number","phone_number":"+1 206 555 0123"});
        let s = SubjectId::from_json(&v, ParseMode::Legacy).unwrap();
        assert_eq!(s, SubjectId::phone_number("+12065550123"));
    }

    #[test]
    fn value_syntax_checks() {
        assert!(parse(json!({"format":"account","uri":"mailto:a@b"})).is_err());
        assert!(parse(json!({"format":"email","email":"no-at"})).is_err());
        assert!(parse(json!({"format":"did","url":"example:123"})).is_err());
        assert!(parse(json!({"format":"uri","uri":"no scheme"})).is_err());
        assert!(parse(json!({"format":"ip-addresses","ip-addresses":["300.1.1.1"]})).is_err());
        assert!(parse(json!({"format":"ip-addresses","ip-addresses":[]})).is_err());
        assert!(parse(json!({"format":"ip-addresses","ip-addresses":[1]})).is_err());
        assert!(parse(json!({"format":"opaque","id":7})).is_err());
        assert!(parse(json!({"format":7,"id":"x"})).is_err());
        assert!(parse(json!("opaque")).is_err());
    }

    #[test]
    fn undescribed_members_are_kept_on_receive_and_refused_on_emit_ssf_sub_02_rxv_15() {
        let v = json!({"format":"email","email":"a@example.com","display":"A"});
        let s = parse(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&s).unwrap(), v);
        assert_eq!(
            s.validate(),
            Err(SubjectError::UnexpectedMember {
                format: "email".into(),
                member: "display".into()
            })
        );
    }

    #[test]
    fn aliases_rules_ssf_sub_17() {
        assert_eq!(
            parse(json!({"format":"aliases","identifiers":[]})),
            Err(SubjectError::EmptyAliases)
        );
        let complex = json!({"format":"complex","user":{"format":"opaque","id":"u"}});
        assert_eq!(
            parse(json!({"format":"aliases","identifiers":[complex]})),
            Err(SubjectError::ComplexInAliases)
        );
        assert!(matches!(
            parse(json!({"format":"aliases","identifiers":[{"format":"email","email":""}]})),
            Err(SubjectError::Alias { index: 0, .. })
        ));
    }

    #[test]
    fn complex_rules_ssf_sub_30_33() {
        assert_eq!(
            parse(json!({"format":"complex"})),
            Err(SubjectError::EmptyComplex)
        );
        assert!(matches!(
            parse(json!({"format":"complex","user":"alice"})),
            Err(SubjectError::ComplexMember { .. })
        ));
        let ok = ComplexSubject::new()
            .with("user", SubjectId::email("a@example.com"))
            .with("custom_member", SubjectId::opaque("x"));
        assert_eq!(SubjectId::Complex(ok).validate(), Ok(()));
    }

    #[test]
    fn legacy_shapes_only_in_legacy_mode() {
        let jwt = json!({"format":"jwt-id","iss":"https://i/","jti":"j"});
        assert!(matches!(
            parse(jwt.clone()),
            Err(SubjectError::LegacyFormat { .. })
        ));
        assert_eq!(
            SubjectId::from_json(&jwt, ParseMode::Legacy).unwrap(),
            SubjectId::jwt_id("https://i/", "j")
        );
        let saml = json!({"format":"saml-assertion-id","issuer":"https://i/","assertion_id":"a"});
        assert!(parse(saml.clone()).is_err());
        assert_eq!(
            SubjectId::from_json(&saml, ParseMode::Legacy).unwrap(),
            SubjectId::saml_assertion_id("https://i/", "a")
        );
        let phone = json!({"format":"phone","phone":"+12065550123"});
        assert!(parse(phone.clone()).is_err());
        assert_eq!(
            SubjectId::from_json(&phone, ParseMode::Legacy).unwrap(),
            SubjectId::phone_number("+12065550123")
        );
        let id1_complex = json!({"user":{"format":"email","email":"a@example.com"}});
        assert_eq!(parse(id1_complex.clone()), Err(SubjectError::MissingFormat));
        let c = SubjectId::from_json(&id1_complex, ParseMode::Legacy).unwrap();
        assert_eq!(
            c.as_complex().and_then(|c| c.user()),
            Some(&SubjectId::email("a@example.com"))
        );
    }

    #[test]
    fn subject_type_with_format_keeps_working_ssf_sub_24() {
        // Once Google sends `format` too, strict parsing works and `subject_type` is just kept.
        let v = json!({"format":"iss_sub","subject_type":"iss_sub","iss":"https://g/","sub":"1"});
        let s = parse(v.clone()).unwrap();
        assert!(matches!(&s, SubjectId::IssSub { sub, .. } if sub == "1"));
        assert_eq!(serde_json::to_value(&s).unwrap(), v);
    }
}
