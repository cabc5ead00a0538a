//! Receiver-side email canonicalization (SSF-SUB-22,
//! [RFC 9493 §3.2.2.1](https://www.rfc-editor.org/rfc/rfc9493#section-3.2.2)).

/// What [`canonicalize_email`] does to the local part (before the last `@`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LocalPartRule {
    /// Keep it byte for byte (default): RFC 5321 §2.4 lets the mail host treat the local part as
    /// case-sensitive, so `John@x` and `john@x` may be two mailboxes.
    #[default]
    Preserve,
    /// Lower-case it, for a receiver whose own directory is case-insensitive (most are).
    LowerCase,
}

/// Canonicalizes an email address before a receiver looks it up (SSF-SUB-22).
///
/// The domain (after the last `@`) is always lower-cased: DNS names are case-insensitive. The
/// local part follows `local`. Nothing else changes: no `+tag` stripping (RFC 9493's own
/// `aliases` example lists `user@` and `user+qualifier@` as different addresses), no dot removal,
/// no trimming. A string without `@` is returned unchanged apart from `local`.
pub fn canonicalize_email(email: &str, local: LocalPartRule) -> String {
    let (local_part, domain) = match email.rfind('@') {
        Some(at) => (&email[..at], Some(&email[at + 1..])),
        None => (email, None),
    };
    let mut out = match local {
        LocalPartRule::Preserve => local_part.to_owned(),
        LocalPartRule::LowerCase => local_part.to_lowercase(),
    };
    if let Some(domain) = domain {
        out.push('@');
        out.push_str(&domain.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_is_lower_cased_local_part_kept_ssf_sub_22() {
        assert_eq!(
            canonicalize_email("John.Doe+X@Example.COM", LocalPartRule::Preserve),
            "John.Doe+X@example.com"
        );
        assert_eq!(
            canonicalize_email("John.Doe+X@Example.COM", LocalPartRule::LowerCase),
            "john.doe+x@example.com"
        );
        assert_eq!(
            canonicalize_email("\"a@b\"@EX.org", LocalPartRule::Preserve),
            "\"a@b\"@ex.org"
        );
        assert_eq!(canonicalize_email("NoAt", LocalPartRule::Preserve), "NoAt");
    }
}
