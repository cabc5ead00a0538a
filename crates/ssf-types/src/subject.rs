//! Subject identifiers: every [RFC 9493] format, the SSF formats and Complex Subjects
//! ([SSF 1.0 §3](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-3)).
//!
//! - [`SubjectId`] is one subject: a simple identifier, a [`ComplexSubject`], or a proprietary
//!   format kept verbatim ([`SubjectId::Other`]).
//! - Parsing ([`SubjectId::from_json`], and serde `Deserialize`, which is the strict mode) checks
//!   what a receiver must refuse ([`SubjectId::validate_structure`]). Members a format does not
//!   describe are kept, not refused (SSF-RXV-15), and serialized back unchanged.
//! - [`SubjectId::validate`] adds the transmitter rule that no undescribed member is present
//!   (SSF-SUB-02); emit only subjects that pass it.
//! - Matching ([`SubjectId::matches`]) follows SSF 1.0 §8.1.3.1; see its doc for the rule between a
//!   simple and a complex subject (SSF-SUB-43, our decision).
//! - [`canonicalize_email`] is the receiver-side email canonicalization (SSF-SUB-22).
//!
//! [RFC 9493]: https://www.rfc-editor.org/rfc/rfc9493

mod email;
mod matching;
mod parse;
mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub use self::email::{LocalPartRule, canonicalize_email};
use crate::{error::SubjectError, ids::StreamId, mode::ParseMode};

/// Members of a JSON object that this version does not model, kept verbatim.
pub type Extra = BTreeMap<String, Value>;

crate::open_enum! {
    /// A Subject Identifier Format name (`format`): RFC 9493 §3.2 and SSF 1.0 §3.5, §3.3.
    pub enum SubjectFormat {
        /// `account`: an `acct:` URI (RFC 9493 §3.2.1, SSF-SUB-10).
        Account = "account",
        /// `email` (RFC 9493 §3.2.2, SSF-SUB-11).
        Email = "email",
        /// `iss_sub` (RFC 9493 §3.2.3, SSF-SUB-12).
        IssSub = "iss_sub",
        /// `opaque` (RFC 9493 §3.2.4, SSF-SUB-13).
        Opaque = "opaque",
        /// `phone_number`: E.164 (RFC 9493 §3.2.5, SSF-SUB-14).
        PhoneNumber = "phone_number",
        /// `did` (RFC 9493 §3.2.6, SSF-SUB-15).
        Did = "did",
        /// `uri` (RFC 9493 §3.2.7, SSF-SUB-16).
        Uri = "uri",
        /// `aliases` (RFC 9493 §3.2.8, SSF-SUB-17).
        Aliases = "aliases",
        /// `jwt_id` (SSF 1.0 §3.5.1, SSF-SUB-18).
        JwtId = "jwt_id",
        /// `saml_assertion_id` (SSF 1.0 §3.5.2, SSF-SUB-19).
        SamlAssertionId = "saml_assertion_id",
        /// `ip-addresses` (SSF 1.0 §3.5.3, SSF-SUB-20).
        IpAddresses = "ip-addresses",
        /// `complex` (SSF 1.0 §3.3, SSF-SUB-21).
        Complex = "complex",
    }
}

crate::open_enum! {
    /// A Complex Subject member name (SSF 1.0 §3.3, SSF-SUB-31). Other names are allowed.
    pub enum MemberName {
        /// The user.
        User = "user",
        /// The device.
        Device = "device",
        /// The session.
        Session = "session",
        /// The application.
        Application = "application",
        /// The tenant.
        Tenant = "tenant",
        /// The organizational unit.
        OrgUnit = "org_unit",
        /// The group.
        Group = "group",
    }
}

/// A subject: a Subject Identifier (RFC 9493, SSF 1.0 §3.5), a Complex Subject (SSF 1.0 §3.3), or
/// a proprietary format ([SSF 1.0 §3.4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-3.4)).
///
/// Each simple variant keeps the members its format does not describe in `extra` (receivers
/// ignore them, SSF-RXV-15; transmitters must not send them, SSF-SUB-02 — see [`Self::validate`]).
/// Build values with the constructors ([`SubjectId::email`], …), which leave `extra` empty.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubjectId {
    /// `account`: `uri` is an `acct:` URI (RFC 9493 §3.2.1).
    Account {
        /// The `acct:` URI.
        uri: String,
        /// Undescribed members, kept.
        extra: Extra,
    },
    /// `email`: an RFC 5322 addr-spec (RFC 9493 §3.2.2).
    Email {
        /// The address.
        email: String,
        /// Undescribed members, kept.
        extra: Extra,
    },
    /// `iss_sub`: issuer and subject of a JWT (RFC 9493 §3.2.3).
    IssSub {
        /// The issuer (may differ from the SET `iss`).
        iss: String,
        /// The subject.
        sub: String,
        /// Undescribed members, kept.
        extra: Extra,
    },
    /// `opaque` (RFC 9493 §3.2.4).
    Opaque {
        /// The identifier.
        id: String,
        /// Undescribed members, kept.
        extra: Extra,
    },
    /// `phone_number`: E.164 with the `+` prefix (RFC 9493 §3.2.5).
    PhoneNumber {
        /// The number, e.g. `+12065550100`.
        phone_number: String,
        /// Undescribed members, kept.
        extra: Extra,
    },
    /// `did`: a DID or DID URL (RFC 9493 §3.2.6).
    Did {
        /// The DID URL.
        url: String,
        /// Undescribed members, kept.
        extra: Extra,
    },
    /// `uri` (RFC 9493 §3.2.7).
    Uri {
        /// The URI.
        uri: String,
        /// Undescribed members, kept.
        extra: Extra,
    },
    /// `aliases`: several identifiers of one entity (RFC 9493 §3.2.8).
    Aliases {
        /// The identifiers: non-empty, none of them `aliases` (SSF-SUB-17).
        identifiers: Vec<Self>,
        /// Undescribed members, kept.
        extra: Extra,
    },
    /// `jwt_id`: one JWT (SSF 1.0 §3.5.1).
    JwtId {
        /// The JWT's issuer.
        iss: String,
        /// The JWT's `jti`.
        jti: String,
        /// Undescribed members, kept.
        extra: Extra,
    },
    /// `saml_assertion_id`: one SAML assertion (SSF 1.0 §3.5.2).
    SamlAssertionId {
        /// The assertion's issuer.
        issuer: String,
        /// The assertion's ID.
        assertion_id: String,
        /// Undescribed members, kept.
        extra: Extra,
    },
    /// `ip-addresses`: IPv4 or IPv6 address strings (SSF 1.0 §3.5.3).
    IpAddresses {
        /// The addresses, as sent.
        ip_addresses: Vec<String>,
        /// Undescribed members, kept.
        extra: Extra,
    },
    /// `complex` (SSF 1.0 §3.3).
    Complex(ComplexSubject),
    /// A format this version does not know (proprietary by bilateral agreement, SSF 1.0 §3.4),
    /// kept verbatim.
    Other {
        /// The `format` value.
        format: String,
        /// Every other member.
        members: Extra,
    },
}

/// A Complex Subject: `"format": "complex"` plus named members, each a simple subject
/// ([SSF 1.0 §3.3](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-3.3)).
/// A JSON object cannot repeat a member name, so SSF-SUB-32 holds by construction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ComplexSubject {
    /// The members by name (`user`, `device`, … or any other name, SSF-SUB-31).
    pub members: BTreeMap<String, SubjectId>,
}

impl ComplexSubject {
    /// An empty complex subject; add members with [`Self::with`] (one is required to be valid).
    pub fn new() -> Self {
        Self::default()
    }

    /// This subject with `member` set to `subject`.
    #[must_use]
    pub fn with(mut self, member: impl Into<String>, subject: SubjectId) -> Self {
        self.members.insert(member.into(), subject);
        self
    }

    /// The member called `name`.
    pub fn get(&self, name: &str) -> Option<&SubjectId> {
        self.members.get(name)
    }

    /// The member with a well-known name.
    pub fn member(&self, name: &MemberName) -> Option<&SubjectId> {
        self.members.get(name.as_str())
    }

    /// The `user` member, the one a simple subject is compared with
    /// (see [`SubjectId::matches`]).
    pub fn user(&self) -> Option<&SubjectId> {
        self.member(&MemberName::User)
    }
}

impl SubjectId {
    /// `{"format":"account","uri":…}`.
    pub fn account(uri: impl Into<String>) -> Self {
        Self::Account {
            uri: uri.into(),
            extra: Extra::new(),
        }
    }

    /// `{"format":"email","email":…}`.
    pub fn email(email: impl Into<String>) -> Self {
        Self::Email {
            email: email.into(),
            extra: Extra::new(),
        }
    }

    /// `{"format":"iss_sub","iss":…,"sub":…}`.
    pub fn iss_sub(iss: impl Into<String>, sub: impl Into<String>) -> Self {
        Self::IssSub {
            iss: iss.into(),
            sub: sub.into(),
            extra: Extra::new(),
        }
    }

    /// `{"format":"opaque","id":…}`.
    pub fn opaque(id: impl Into<String>) -> Self {
        Self::Opaque {
            id: id.into(),
            extra: Extra::new(),
        }
    }

    /// The subject of a stream's own verification and stream-updated events:
    /// `{"format":"opaque","id":"<stream_id>"}` (SSF 1.0 §8.1.4.1, SSF-EVT-03, SSF-EVT-12).
    pub fn for_stream(stream_id: &StreamId) -> Self {
        Self::opaque(stream_id.as_str())
    }

    /// Whether this is exactly [`Self::for_stream`] of `stream_id` (SSF-RXV-11, TV-NEG-21).
    pub fn is_stream(&self, stream_id: &StreamId) -> bool {
        matches!(self, Self::Opaque { id, extra } if id == stream_id.as_str() && extra.is_empty())
    }

    /// `{"format":"phone_number","phone_number":…}`.
    pub fn phone_number(phone_number: impl Into<String>) -> Self {
        Self::PhoneNumber {
            phone_number: phone_number.into(),
            extra: Extra::new(),
        }
    }

    /// `{"format":"did","url":…}`.
    pub fn did(url: impl Into<String>) -> Self {
        Self::Did {
            url: url.into(),
            extra: Extra::new(),
        }
    }

    /// `{"format":"uri","uri":…}`.
    pub fn uri(uri: impl Into<String>) -> Self {
        Self::Uri {
            uri: uri.into(),
            extra: Extra::new(),
        }
    }

    /// `{"format":"aliases","identifiers":[…]}`.
    pub fn aliases(identifiers: Vec<Self>) -> Self {
        Self::Aliases {
            identifiers,
            extra: Extra::new(),
        }
    }

    /// `{"format":"jwt_id","iss":…,"jti":…}`.
    pub fn jwt_id(iss: impl Into<String>, jti: impl Into<String>) -> Self {
        Self::JwtId {
            iss: iss.into(),
            jti: jti.into(),
            extra: Extra::new(),
        }
    }

    /// `{"format":"saml_assertion_id","issuer":…,"assertion_id":…}`.
    pub fn saml_assertion_id(issuer: impl Into<String>, assertion_id: impl Into<String>) -> Self {
        Self::SamlAssertionId {
            issuer: issuer.into(),
            assertion_id: assertion_id.into(),
            extra: Extra::new(),
        }
    }

    /// `{"format":"ip-addresses","ip-addresses":[…]}`.
    pub fn ip_addresses(addresses: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::IpAddresses {
            ip_addresses: addresses.into_iter().map(Into::into).collect(),
            extra: Extra::new(),
        }
    }

    /// A proprietary format, kept verbatim (SSF 1.0 §3.4).
    pub fn other(format: impl Into<String>, members: Extra) -> Self {
        Self::Other {
            format: format.into(),
            members,
        }
    }

    /// The `format` of this subject.
    pub fn format(&self) -> SubjectFormat {
        match self {
            Self::Account { .. } => SubjectFormat::Account,
            Self::Email { .. } => SubjectFormat::Email,
            Self::IssSub { .. } => SubjectFormat::IssSub,
            Self::Opaque { .. } => SubjectFormat::Opaque,
            Self::PhoneNumber { .. } => SubjectFormat::PhoneNumber,
            Self::Did { .. } => SubjectFormat::Did,
            Self::Uri { .. } => SubjectFormat::Uri,
            Self::Aliases { .. } => SubjectFormat::Aliases,
            Self::JwtId { .. } => SubjectFormat::JwtId,
            Self::SamlAssertionId { .. } => SubjectFormat::SamlAssertionId,
            Self::IpAddresses { .. } => SubjectFormat::IpAddresses,
            Self::Complex(_) => SubjectFormat::Complex,
            Self::Other { format, .. } => SubjectFormat::from(format.as_str()),
        }
    }

    /// Whether this is a simple subject (anything but `complex`).
    pub fn is_simple(&self) -> bool {
        !matches!(self, Self::Complex(_))
    }

    /// The complex subject, if this is one.
    pub fn as_complex(&self) -> Option<&ComplexSubject> {
        match self {
            Self::Complex(c) => Some(c),
            _ => None,
        }
    }

    /// Parses a subject and checks what a receiver must refuse
    /// ([`Self::validate_structure`]). `mode` decides whether the draft shapes listed on
    /// [`ParseMode`] are accepted (and normalised) or refused.
    pub fn from_json(value: &Value, mode: ParseMode) -> Result<Self, SubjectError> {
        let subject = parse::parse(value, mode)?;
        subject.validate_structure()?;
        Ok(subject)
    }

    /// The subject as a JSON object, in the final format.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut map = Map::new();
        let mut put = |k: &str, v: Value| {
            map.insert(k.to_owned(), v);
        };
        let extra = match self {
            Self::Account { uri, extra } | Self::Uri { uri, extra } => {
                put("uri", uri.as_str().into());
                extra
            }
            Self::Email { email, extra } => {
                put("email", email.as_str().into());
                extra
            }
            Self::IssSub { iss, sub, extra } => {
                put("iss", iss.as_str().into());
                put("sub", sub.as_str().into());
                extra
            }
            Self::Opaque { id, extra } => {
                put("id", id.as_str().into());
                extra
            }
            Self::PhoneNumber {
                phone_number,
                extra,
            } => {
                put("phone_number", phone_number.as_str().into());
                extra
            }
            Self::Did { url, extra } => {
                put("url", url.as_str().into());
                extra
            }
            Self::Aliases { identifiers, extra } => {
                let ids = identifiers
                    .iter()
                    .map(|i| Value::Object(i.to_json()))
                    .collect();
                put("identifiers", Value::Array(ids));
                extra
            }
            Self::JwtId { iss, jti, extra } => {
                put("iss", iss.as_str().into());
                put("jti", jti.as_str().into());
                extra
            }
            Self::SamlAssertionId {
                issuer,
                assertion_id,
                extra,
            } => {
                put("issuer", issuer.as_str().into());
                put("assertion_id", assertion_id.as_str().into());
                extra
            }
            Self::IpAddresses {
                ip_addresses,
                extra,
            } => {
                put("ip-addresses", ip_addresses.clone().into());
                extra
            }
            Self::Complex(c) => {
                for (name, member) in &c.members {
                    put(name, Value::Object(member.to_json()));
                }
                &Extra::new()
            }
            Self::Other { members, .. } => members,
        };
        // Typed members win over a same-named entry someone put in `extra`.
        for (k, v) in extra {
            if !map.contains_key(k) && k != "format" {
                map.insert(k.clone(), v.clone());
            }
        }
        map.insert(
            "format".to_owned(),
            Value::String(self.format().as_str().to_owned()),
        );
        map
    }
}

impl Serialize for SubjectId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// Strict parsing ([`SubjectId::from_json`] with [`ParseMode::Strict`]).
impl<'de> Deserialize<'de> for SubjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Self::from_json(&value, ParseMode::Strict).map_err(serde::de::Error::custom)
    }
}

impl Serialize for ComplexSubject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SubjectId::Complex(self.clone()).serialize(s)
    }
}

impl From<ComplexSubject> for SubjectId {
    fn from(c: ComplexSubject) -> Self {
        Self::Complex(c)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn constructors_serialize_to_the_rfc_9493_shapes() {
        assert_eq!(
            serde_json::to_value(SubjectId::iss_sub("https://i/", "s")).unwrap(),
            json!({"format":"iss_sub","iss":"https://i/","sub":"s"})
        );
        assert_eq!(
            serde_json::to_value(SubjectId::ip_addresses(["10.0.0.1"])).unwrap(),
            json!({"format":"ip-addresses","ip-addresses":["10.0.0.1"]})
        );
        let c = ComplexSubject::new()
            .with("user", SubjectId::email("a@example.com"))
            .with("tenant", SubjectId::opaque("t"));
        assert_eq!(
            serde_json::to_value(SubjectId::from(c)).unwrap(),
            json!({"format":"complex","user":{"format":"email","email":"a@example.com"},
                   "tenant":{"format":"opaque","id":"t"}})
        );
    }

    #[test]
    fn stream_subject_ssf_evt_03() {
        let id = StreamId::new("abc");
        assert!(SubjectId::for_stream(&id).is_stream(&id));
        assert!(!SubjectId::opaque("other").is_stream(&id));
        assert!(!SubjectId::email("abc").is_stream(&id));
    }

    #[test]
    fn typed_members_win_over_extra_entries() {
        let mut extra = Extra::new();
        extra.insert("email".into(), json!("evil@example.com"));
        extra.insert("format".into(), json!("opaque"));
        extra.insert("note".into(), json!(1));
        let s = SubjectId::Email {
            email: "a@example.com".into(),
            extra,
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"format":"email","email":"a@example.com","note":1})
        );
    }
}
