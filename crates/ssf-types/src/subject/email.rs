//! Receiver-side email canonicalization (SSF-SUB-22,
//! [RFC 9493 §3.2.2.1](https://www.rfc-editor.org/rfc/rfc9493#section-3.2.2)).

use unicode_normalization::UnicodeNormalization as _;

/// What [`canonicalize_email`] does to the local part (before the last `@`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LocalPartRule {
    /// Keep its case (default): RFC 5321 §2.4 lets the mail host treat the local part as
    /// case-sensitive, so `John@x` and `john@x` may be two mailboxes. It is still brought to
    /// Unicode NFC, like the whole address.
    #[default]
    Preserve,
    /// Lower-case it, for a receiver whose own directory is case-insensitive (most are).
    LowerCase,
}

/// Canonicalizes an email address before a receiver looks it up (SSF-SUB-22).
///
/// The whole address is first brought to Unicode Normalization Form C
/// ([RFC 6532 §3.1](https://www.rfc-editor.org/rfc/rfc6532#section-3.1)), so `José` typed with
/// a combining accent (`Jose\u{301}`) and with the precomposed `é` are one address. The domain
/// (after the last `@`) is always lower-cased: DNS names are case-insensitive. The local part
/// follows `local`. Nothing else changes: no `+tag` stripping (RFC 9493's own `aliases`
/// example lists `user@` and `user+qualifier@` as different addresses), no dot removal, no
/// trimming. A string without `@` is returned unchanged apart from NFC and `local`.
///
/// Every place that turns an e-mail into a lookup key (the ticket bridge's subjects, the
/// enforcement side's handles for event subjects and token `email` claims) goes through this one
/// function, so both sides agree on the key.
pub fn canonicalize_email(email: &str, local: LocalPartRule) -> String {
    let email: String = email.nfc().collect();
    let (local_part, domain) = match email.rfind('@') {
        Some(at) => (&email[..at], Some(&email[at + 1..])),
        None => (email.as_str(), None),
    };
    let mut out = match local {
        LocalPartRule::Preserve => local_part.to_owned(),
        LocalPartRule::LowerCase => local_part.to_lowercase(),
    };
    if let Some(domain) = domain {
        out.push('@');
        out.push_str(&domain.to_lowercase());
    }
    // Lower-casing can leave a combining sequence (`İ` -> `i` + U+0307); compose it again.
    out.nfc().collect()
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

    #[test]
    fn composed_and_decomposed_forms_are_one_address() {
        let decomposed = "Jose\u{301}@Example.com";
        let composed = "Jos\u{e9}@example.com";
        assert_ne!(decomposed.to_lowercase(), composed);
        assert_eq!(
            canonicalize_email(decomposed, LocalPartRule::LowerCase),
            canonicalize_email(composed, LocalPartRule::LowerCase)
        );
        assert_eq!(
            canonicalize_email(decomposed, LocalPartRule::LowerCase),
            "jos\u{e9}@example.com"
        );
        assert_eq!(
            canonicalize_email("Jose\u{301}@B\u{fc}cher.EXAMPLE", LocalPartRule::Preserve),
            "Jos\u{e9}@b\u{fc}cher.example"
        );
        assert_eq!(
            canonicalize_email("Jose\u{301}@Bu\u{308}cher.example", LocalPartRule::Preserve),
            "Jos\u{e9}@b\u{fc}cher.example",
            "the domain too"
        );
    }
}
