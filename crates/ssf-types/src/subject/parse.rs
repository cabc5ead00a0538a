//! JSON -> [`SubjectId`]: structure only; value rules are in `validate.rs`.

use serde_json::Value;

use super::{ComplexSubject, Extra, SubjectFormat, SubjectId};
use crate::{error::SubjectError, mode::ParseMode};

/// Draft format names and their final names (checklist section 13, B-02).
const LEGACY_FORMATS: &[(&str, &str)] = &[
    ("jwt-id", "jwt_id"),
    ("saml-assertion-id", "saml_assertion_id"),
    ("phone", "phone_number"),
];

pub(super) fn parse(value: &Value, mode: ParseMode) -> Result<SubjectId, SubjectError> {
    let obj = value.as_object().ok_or(SubjectError::NotAnObject)?;
    let mut members: Extra = obj.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let format = take_format(&mut members, mode)?;
    let format = match LEGACY_FORMATS.iter().find(|(old, _)| *old == format) {
        Some((_, new)) if mode.is_legacy() => {
            if *new == "phone_number"
                && !members.contains_key("phone_number")
                && let Some(v) = members.remove("phone")
            {
                members.insert("phone_number".to_owned(), v);
            }
            (*new).to_owned()
        }
        Some((_, new)) => {
            return Err(SubjectError::LegacyFormat {
                format,
                replacement: new,
            });
        }
        None => format,
    };
    let mut m = Members {
        format: &format,
        members,
    };
    let subject = match SubjectFormat::from(format.as_str()) {
        SubjectFormat::Account => SubjectId::Account {
            uri: m.string("uri")?,
            extra: m.rest(),
        },
        SubjectFormat::Email => SubjectId::Email {
            email: m.string("email")?,
            extra: m.rest(),
        },
        SubjectFormat::IssSub => SubjectId::IssSub {
            iss: m.string("iss")?,
            sub: m.string("sub")?,
            extra: m.rest(),
        },
        SubjectFormat::Opaque => SubjectId::Opaque {
            id: m.string("id")?,
            extra: m.rest(),
        },
        SubjectFormat::PhoneNumber => {
            let mut phone_number = m.string("phone_number")?;
            if mode.is_legacy() {
                // B-03: drafts' examples wrote "+1 206 555 0123".
                phone_number.retain(|c| c != ' ');
            }
            SubjectId::PhoneNumber {
                phone_number,
                extra: m.rest(),
            }
        }
        SubjectFormat::Did => SubjectId::Did {
            url: m.string("url")?,
            extra: m.rest(),
        },
        SubjectFormat::Uri => SubjectId::Uri {
            uri: m.string("uri")?,
            extra: m.rest(),
        },
        SubjectFormat::Aliases => {
            let items = m.array("identifiers")?;
            let mut identifiers = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let id = parse(item, mode).map_err(|e| SubjectError::Alias {
                    index,
                    source: Box::new(e),
                })?;
                identifiers.push(id);
            }
            SubjectId::Aliases {
                identifiers,
                extra: m.rest(),
            }
        }
        SubjectFormat::JwtId => SubjectId::JwtId {
            iss: m.string("iss")?,
            jti: m.string("jti")?,
            extra: m.rest(),
        },
        SubjectFormat::SamlAssertionId => SubjectId::SamlAssertionId {
            issuer: m.string("issuer")?,
            assertion_id: m.string("assertion_id")?,
            extra: m.rest(),
        },
        SubjectFormat::IpAddresses => {
            let items = m.array("ip-addresses")?;
            let mut ip_addresses = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => ip_addresses.push(s),
                    _ => return Err(m.wrong_type("ip-addresses", "an array of strings")),
                }
            }
            SubjectId::IpAddresses {
                ip_addresses,
                extra: m.rest(),
            }
        }
        SubjectFormat::Complex => {
            let mut complex = ComplexSubject::new();
            for (name, member) in m.rest() {
                let subject = parse(&member, mode).map_err(|e| SubjectError::ComplexMember {
                    member: name.clone(),
                    source: Box::new(e),
                })?;
                complex.members.insert(name, subject);
            }
            SubjectId::Complex(complex)
        }
        SubjectFormat::Other(_) => SubjectId::Other {
            format: format.clone(),
            members: m.rest(),
        },
    };
    Ok(subject)
}

/// Takes `format` out of `members`, or its legacy stand-ins in legacy mode.
fn take_format(members: &mut Extra, mode: ParseMode) -> Result<String, SubjectError> {
    match members.remove("format") {
        Some(Value::String(s)) => return Ok(s),
        Some(_) => return Err(SubjectError::FormatNotString),
        None => {}
    }
    if members.contains_key("subject_type") {
        if !mode.is_legacy() {
            return Err(SubjectError::LegacySubjectType);
        }
        return match members.remove("subject_type") {
            Some(Value::String(s)) => Ok(s),
            _ => Err(SubjectError::FormatNotString),
        };
    }
    // ID1 complex subjects had no `format`: only named members that are themselves subjects.
    if mode.is_legacy() && !members.is_empty() && members.values().all(Value::is_object) {
        return Ok(SubjectFormat::Complex.as_str().to_owned());
    }
    Err(SubjectError::MissingFormat)
}

struct Members<'a> {
    format: &'a str,
    members: Extra,
}

impl Members<'_> {
    fn string(&mut self, member: &'static str) -> Result<String, SubjectError> {
        match self.members.remove(member) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(self.wrong_type(member, "a string")),
            None => Err(self.missing(member)),
        }
    }

    fn array(&mut self, member: &'static str) -> Result<Vec<Value>, SubjectError> {
        match self.members.remove(member) {
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(self.wrong_type(member, "an array")),
            None => Err(self.missing(member)),
        }
    }

    fn missing(&self, member: &'static str) -> SubjectError {
        SubjectError::MissingMember {
            format: self.format.to_owned(),
            member,
        }
    }

    fn wrong_type(&self, member: &str, expected: &'static str) -> SubjectError {
        SubjectError::WrongType {
            format: self.format.to_owned(),
            member: member.to_owned(),
            expected,
        }
    }

    fn rest(&mut self) -> Extra {
        std::mem::take(&mut self.members)
    }
}
