//! The canonical key of a subject: how the transmitter names a subject in the store.
//!
//! **One place for both sides**: stream management stores added and removed subjects under
//! this key ([`TransmitterStore::add_subject`](ssf_store::TransmitterStore::add_subject)), and
//! the event matcher (`crate::matching`) looks events up with the same function, so the two can
//! never disagree.
//!
//! The key is the subject's JSON in the final 1.0 format with object members sorted by name and
//! no insignificant whitespace. Two subjects get the same key exactly when they are identical as
//! JSON values, which is when two simple subjects match (SSF-SUB-40,
//! [SSF 1.0 §8.1.3.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.3.1)).
//! Nothing is normalised (an `email` differing in case gets another key), as in
//! [`SubjectId::matches`]. Complex subjects match with wildcards (SSF-SUB-41), which a key
//! lookup cannot express on its own: the matcher derives the keys to look up from an event's
//! subject (e.g. the `user` member, SSF-SUB-43) and checks candidates with
//! [`SubjectId::matches`].

use std::fmt::Write as _;

use serde_json::Value;
use ssf_types::SubjectId;

/// The canonical key of `subject`.
pub fn subject_key(subject: &SubjectId) -> String {
    let mut out = String::new();
    write_canonical(&Value::Object(subject.to_json()), &mut out);
    out
}

/// Writes `value` as JSON with object members sorted by name, without whitespace.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (name, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(name, out);
                out.push(':');
                write_canonical(member, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    // serde_json's string escaping is deterministic; a `String` cannot fail to serialize.
    out.push_str(&Value::String(s.to_owned()).to_string());
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use ssf_types::{ComplexSubject, ParseMode};

    use super::*;

    #[test]
    fn member_order_does_not_change_the_key_ssf_sub_40() {
        let a = SubjectId::from_json(
            &json!({"format": "iss_sub", "iss": "https://i", "sub": "u"}),
            ParseMode::Strict,
        )
        .unwrap();
        let b = SubjectId::from_json(
            &json!({"sub": "u", "iss": "https://i", "format": "iss_sub"}),
            ParseMode::Strict,
        )
        .unwrap();
        assert_eq!(subject_key(&a), subject_key(&b));
        assert_eq!(
            subject_key(&a),
            r#"{"format":"iss_sub","iss":"https://i","sub":"u"}"#
        );
    }

    #[test]
    fn complex_subjects_nest_sorted() {
        let c: SubjectId = ComplexSubject::new()
            .with("user", SubjectId::email("a@example.com"))
            .with("device", SubjectId::opaque("d1"))
            .into();
        assert_eq!(
            subject_key(&c),
            r#"{"device":{"format":"opaque","id":"d1"},"format":"complex","user":{"email":"a@example.com","format":"email"}}"#
        );
        assert_ne!(
            subject_key(&SubjectId::email("A@example.com")),
            subject_key(&SubjectId::email("a@example.com"))
        );
    }
}
