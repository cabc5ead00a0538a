//! The one home for secrets: the [`SecretString`] newtype every crate keeps credentials in
//! (`Debug` shows `[REDACTED]`, the memory is zeroed on drop) and [`constant_time_eq`], the one
//! comparison of secret material (bearer tokens, client-secret digests, webhook signatures,
//! OAuth `state`).

pub use secrecy::{ExposeSecret, SecretString};

/// Whether `a` and `b` are equal, in a time that does not depend on where they differ (only on
/// their lengths: slices of different lengths are unequal at once). Compare digests of fixed
/// length when the length itself is secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let secret = SecretString::from("s3cr3t".to_owned());
        assert!(!format!("{secret:?}").contains("s3cr3t"));
        assert_eq!(secret.expose_secret(), "s3cr3t");
    }
}
