//! Subject matching ([SSF 1.0 §8.1.3.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.3.1)).

use super::{ComplexSubject, SubjectId};

impl SubjectId {
    /// Whether a subject added to a stream and an event's subject match (SSF 1.0 §8.1.3.1).
    /// The relation is symmetric, so the argument order does not matter.
    ///
    /// - Two simple subjects match only when identical as JSON values (SSF-SUB-40): same format,
    ///   same members, same values, member order irrelevant. Nothing is normalised: two `email`
    ///   subjects differing in case do not match (canonicalize first with
    ///   [`canonicalize_email`](super::canonicalize_email) if that is wanted), and an `aliases`
    ///   subject matches only an identical `aliases` subject.
    /// - Two complex subjects match when every member name is absent in one of them or identical
    ///   in both (SSF-SUB-41, absent members are wildcards, SSF-SUB-35).
    /// - **Our rule for a simple subject against a complex one** (SSF-SUB-43; the spec is
    ///   silent): they match when the complex subject has a `user` member identical to the
    ///   simple subject. The simple subject says nothing about the other members, so they are
    ///   wildcards; a complex subject without `user` never matches a simple one. So an added
    ///   `email` subject receives the events about that user in any session, device or tenant,
    ///   and an added `{user, tenant}` subject receives the events whose subject is that user
    ///   alone.
    pub fn matches(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Complex(a), Self::Complex(b)) => a.matches(b),
            (Self::Complex(c), simple) | (simple, Self::Complex(c)) => c.user() == Some(simple),
            (a, b) => a == b,
        }
    }
}

impl ComplexSubject {
    /// SSF-SUB-41: for every member name, absent in one of the two or identical in both.
    pub fn matches(&self, other: &Self) -> bool {
        self.members
            .iter()
            .all(|(name, member)| other.members.get(name).is_none_or(|o| o == member))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> SubjectId {
        SubjectId::email("jdoe@example.com")
    }

    #[test]
    fn simple_subjects_match_only_when_identical_ssf_sub_40() {
        assert!(user().matches(&user()));
        assert!(!user().matches(&SubjectId::email("JDoe@example.com")));
        assert!(!user().matches(&SubjectId::opaque("jdoe@example.com")));
    }

    #[test]
    fn complex_members_absent_on_one_side_are_wildcards_ssf_sub_41() {
        let tenant = SubjectId::opaque("t1");
        let a = ComplexSubject::new().with("tenant", tenant.clone());
        let b = ComplexSubject::new()
            .with("tenant", tenant)
            .with("user", user());
        assert!(a.matches(&b) && b.matches(&a));
        let c = ComplexSubject::new()
            .with("tenant", SubjectId::opaque("t2"))
            .with("user", user());
        assert!(!b.matches(&c));
    }

    #[test]
    fn simple_against_complex_uses_the_user_member_ssf_sub_43() {
        let with_user = SubjectId::Complex(
            ComplexSubject::new()
                .with("user", user())
                .with("device", SubjectId::opaque("d")),
        );
        assert!(user().matches(&with_user));
        assert!(with_user.matches(&user()));
        let other_user = SubjectId::Complex(
            ComplexSubject::new().with("user", SubjectId::email("x@example.com")),
        );
        assert!(!user().matches(&other_user));
        let no_user = SubjectId::Complex(ComplexSubject::new().with("device", user()));
        assert!(
            !user().matches(&no_user),
            "only the user member stands for a simple subject"
        );
    }
}
