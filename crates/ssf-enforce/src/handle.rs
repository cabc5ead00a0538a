//! Subject handles: one string key per thing a SET subject or an access token can name.
//!
//! A [`HandleKey`] is `member|format|part[|part]`, e.g. `user|email|jane@example.com` or
//! `session|opaque|dMTlD%7C1600802906337.16`. Parts escape `%`, `|`, `,`, `&` and `#` as `%XX`, so
//! keys and [`SubjectPattern::canonical`] strings split without ambiguity. Emails are lower-cased
//! and phone numbers lose spaces and punctuation before they become keys
//! ([RFC 9493 §3.2.2.1](https://www.rfc-editor.org/rfc/rfc9493#section-3.2.2.1), checklist B-03).
//!
//! A [`SubjectPattern`] is what a SET `sub_id` becomes: an AND of clauses, each an OR of keys.
//! A complex subject gives one clause per member, and members it leaves out are wildcards
//! ([SSF 1.0 §3.3.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-3.3.1));
//! an `aliases` subject gives one clause holding every alias
//! ([RFC 9493 §3.2.8](https://www.rfc-editor.org/rfc/rfc9493#section-3.2.8)).

use std::{
    cmp::Ordering,
    collections::HashMap,
    fmt,
    hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState},
    sync::OnceLock,
};

use serde::{Deserialize, Serialize};
use ssf_types::subject::{LocalPartRule, canonicalize_email};

mod parse;

pub use self::parse::subject_pattern;

/// Member names: the complex-subject members of
/// [SSF 1.0 §3.3](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-3.3)
/// plus `token` (for `jwt_id` / `saml_assertion_id` subjects) and `ip`.
pub mod member {
    /// The user (account) the subject is about.
    pub const USER: &str = "user";
    /// A session.
    pub const SESSION: &str = "session";
    /// A device.
    pub const DEVICE: &str = "device";
    /// A tenant.
    pub const TENANT: &str = "tenant";
    /// An application.
    pub const APPLICATION: &str = "application";
    /// An organisational unit.
    pub const ORG_UNIT: &str = "org_unit";
    /// A group.
    pub const GROUP: &str = "group";
    /// One token: `jwt_id` or `saml_assertion_id` subjects (SSF 1.0 §3.5.1, §3.5.2).
    pub const TOKEN: &str = "token";
    /// IP addresses (`ip-addresses`, SSF 1.0 §3.5.3).
    pub const IP: &str = "ip";
}

/// One handle, e.g. `user|iss_sub|https://idp.example.com/|jane`. See the module docs.
///
/// It carries the hash of its text, computed once with a per-process random key, so the
/// decision path looks handles up without hashing them again (the index uses a pass-through
/// hasher). Serialized as the plain string.
#[derive(Clone)]
pub struct HandleKey {
    key: String,
    hash: u64,
}

fn text_hash(s: &str) -> u64 {
    static STATE: OnceLock<RandomState> = OnceLock::new();
    STATE.get_or_init(RandomState::new).hash_one(s)
}

impl PartialEq for HandleKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl Eq for HandleKey {}

impl PartialOrd for HandleKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for HandleKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl Hash for HandleKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl fmt::Debug for HandleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HandleKey").field(&self.key).finish()
    }
}

impl Serialize for HandleKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.key)
    }
}

impl<'de> Deserialize<'de> for HandleKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::from_raw)
    }
}

/// A hasher that passes [`HandleKey`]'s precomputed hash through.
#[derive(Debug, Default)]
pub(crate) struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for HandleKey; a plain FNV-1a keeps other uses correct.
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by handles that does not hash on lookup.
pub(crate) type HandleMap<V> = HashMap<HandleKey, V, BuildHasherDefault<PreHashed>>;

fn escape_into(out: &mut String, part: &str) {
    for c in part.chars() {
        match c {
            '%' => out.push_str("%25"),
            '|' => out.push_str("%7C"),
            ',' => out.push_str("%2C"),
            '&' => out.push_str("%26"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
}

/// Trims an email address and lower-cases all of it: this receiver's canonicalisation
/// (SSF-SUB-22; [`canonicalize_email`] with [`LocalPartRule::LowerCase`], for directories whose
/// local parts are case-insensitive, as most are).
pub fn canonical_email(email: &str) -> String {
    canonicalize_email(email.trim(), LocalPartRule::LowerCase)
}

/// Drops spaces and `-().` from a phone number, keeping the leading `+` (checklist B-03).
pub fn canonical_phone(phone: &str) -> String {
    phone
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '(' | ')' | '.'))
        .collect()
}

impl HandleKey {
    /// A key from a member name, a format name and the format's parts, escaped.
    pub fn new(member: &str, format: &str, parts: &[&str]) -> Self {
        let mut s = String::with_capacity(
            member.len() + format.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>() + 1,
        );
        escape_into(&mut s, member);
        s.push('|');
        escape_into(&mut s, format);
        for p in parts {
            s.push('|');
            escape_into(&mut s, p);
        }
        Self::from_raw(s)
    }

    /// `member|email|<canonical email>`.
    pub fn email(member: &str, email: &str) -> Self {
        Self::new(member, "email", &[&canonical_email(email)])
    }

    /// `member|iss_sub|<iss>|<sub>`.
    pub fn iss_sub(member: &str, iss: &str, sub: &str) -> Self {
        Self::new(member, "iss_sub", &[iss, sub])
    }

    /// `member|opaque|<id>`.
    pub fn opaque(member: &str, id: &str) -> Self {
        Self::new(member, "opaque", &[id])
    }

    /// `member|phone_number|<canonical phone>`.
    pub fn phone(member: &str, phone: &str) -> Self {
        Self::new(member, "phone_number", &[&canonical_phone(phone)])
    }

    /// `token|jwt_id|<iss>|<jti>`: one JWT (SSF 1.0 §3.5.1).
    pub fn jwt_id(iss: &str, jti: &str) -> Self {
        Self::new(member::TOKEN, "jwt_id", &[iss, jti])
    }

    /// Wraps a string that already is a key (e.g. read back from a state row).
    pub fn from_raw(raw: impl Into<String>) -> Self {
        let key = raw.into();
        Self {
            hash: text_hash(&key),
            key,
        }
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The member part (before the first `|`), still escaped.
    pub fn member(&self) -> &str {
        self.key.split('|').next().unwrap_or("")
    }

    /// The format part, still escaped.
    pub fn format(&self) -> &str {
        self.key.split('|').nth(1).unwrap_or("")
    }
}

impl fmt::Display for HandleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

impl AsRef<str> for HandleKey {
    fn as_ref(&self) -> &str {
        &self.key
    }
}

/// A subject as a match rule: every clause must be met by some handle of the request, and a
/// clause is met when the request has any of its keys. Sorted and de-duplicated, so equal
/// subjects give equal patterns and equal [`canonical`](Self::canonical) strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SubjectPattern {
    clauses: Vec<Vec<HandleKey>>,
}

/// How selective a member is: the index uses the most selective clause of a pattern.
fn member_rank(member: &str) -> u8 {
    match member {
        member::TOKEN => 0,
        member::SESSION => 1,
        member::DEVICE => 2,
        member::USER => 3,
        member::IP => 4,
        member::APPLICATION => 5,
        member::TENANT => 7,
        member::ORG_UNIT => 8,
        member::GROUP => 9,
        _ => 6,
    }
}

impl SubjectPattern {
    /// Normalises clauses (sorted, de-duplicated, empty ones dropped); `None` if none is left.
    pub fn new(clauses: Vec<Vec<HandleKey>>) -> Option<Self> {
        let mut clauses: Vec<Vec<HandleKey>> = clauses
            .into_iter()
            .filter_map(|mut c| {
                c.sort();
                c.dedup();
                (!c.is_empty()).then_some(c)
            })
            .collect();
        clauses.sort();
        clauses.dedup();
        (!clauses.is_empty()).then_some(Self { clauses })
    }

    /// A pattern of one key.
    pub fn single(key: HandleKey) -> Self {
        Self {
            clauses: vec![vec![key]],
        }
    }

    /// The clauses (AND), each a list of keys (OR).
    pub fn clauses(&self) -> &[Vec<HandleKey>] {
        &self.clauses
    }

    /// Clauses joined by `&`, keys by `,`: the pattern part of row keys.
    pub fn canonical(&self) -> String {
        let mut s = String::new();
        for (i, clause) in self.clauses.iter().enumerate() {
            if i > 0 {
                s.push('&');
            }
            for (j, k) in clause.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                s.push_str(k.as_str());
            }
        }
        s
    }

    /// Whether a request with these handles is covered: every clause has a key among them.
    /// Members the subject does not name are wildcards (SSF 1.0 §3.3.1).
    pub fn matches(&self, handles: &[HandleKey]) -> bool {
        self.clauses
            .iter()
            .all(|clause| clause.iter().any(|k| handles.iter().any(|h| h == k)))
    }

    /// Like [`matches`](Self::matches), but a clause whose members the request has no handle
    /// for at all (e.g. a token without a tenant claim) counts as met: the request cannot show it
    /// is outside the subject. Used for rows that deny (revocations, disabled accounts,
    /// non-compliant devices, risk), so that missing token claims never lift a denial.
    pub fn covers(&self, handles: &[HandleKey]) -> bool {
        self.clauses.iter().all(|clause| {
            clause.iter().any(|k| handles.iter().any(|h| h == k))
                || !clause
                    .iter()
                    .any(|k| handles.iter().any(|h| h.member() == k.member()))
        })
    }

    /// The clause whose keys index this pattern: the most selective member.
    pub(crate) fn index_clause(&self) -> &[HandleKey] {
        self.clauses
            .iter()
            .min_by_key(|c| {
                let rank = c
                    .iter()
                    .map(|k| member_rank(k.member()))
                    .max()
                    .unwrap_or(u8::MAX);
                (rank, c.len())
            })
            .map_or(&[], Vec::as_slice)
    }

    /// Every key of every clause.
    pub fn keys(&self) -> impl Iterator<Item = &HandleKey> {
        self.clauses.iter().flatten()
    }

    /// The keys naming `member` (e.g. all `user` keys).
    pub fn keys_of<'a>(&'a self, member: &'a str) -> impl Iterator<Item = &'a HandleKey> + 'a {
        self.keys().filter(move |k| k.member() == member)
    }

    /// This pattern with `old` replaced by `new` (RISC `identifier-changed`).
    #[must_use]
    pub fn replace_key(&self, old: &HandleKey, new: &HandleKey) -> Self {
        let clauses = self
            .clauses
            .iter()
            .map(|c| {
                c.iter()
                    .map(|k| if k == old { new.clone() } else { k.clone() })
                    .collect()
            })
            .collect();
        Self::new(clauses).unwrap_or_else(|| self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_escape_separators() {
        let k = HandleKey::opaque("session", "dMTlD|1600802906337.16|16008.16");
        assert_eq!(
            k.as_str(),
            "session|opaque|dMTlD%7C1600802906337.16%7C16008.16"
        );
        assert_eq!(k.member(), "session");
        assert_eq!(
            HandleKey::opaque("x", "a,b&c#d%").as_str(),
            "x|opaque|a%2Cb%26c%23d%25"
        );
    }

    #[test]
    fn email_and_phone_are_canonicalised() {
        // SSF-SUB-22, B-03
        assert_eq!(
            HandleKey::email("user", " Jane.Smith@Example.COM ").as_str(),
            "user|email|jane.smith@example.com"
        );
        assert_eq!(
            HandleKey::phone("user", "+1 206 555 0123").as_str(),
            "user|phone_number|+12065550123"
        );
    }

    #[test]
    fn replace_key_rewrites_the_pattern() {
        let old = HandleKey::email("user", "a@x");
        let new = HandleKey::email("user", "b@x");
        let p = SubjectPattern::single(old.clone()).replace_key(&old, &new);
        assert_eq!(p.canonical(), "user|email|b@x");
    }
}
