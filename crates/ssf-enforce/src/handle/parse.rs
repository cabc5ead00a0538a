//! SET subjects (`sub_id`, RFC 9493 / SSF 1.0 §3) to [`SubjectPattern`]s.

use serde_json::{Map, Value};

use super::{HandleKey, SubjectPattern, member};
use crate::error::EnforceError;

fn req_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, EnforceError> {
    match obj.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(EnforceError::InvalidSubject(
            "a member required by the subject's format is missing or empty",
        )),
    }
}

/// The format member; `subject_type` is Google's legacy alias (SSF-SUB-24).
fn format_of(obj: &Map<String, Value>) -> Result<&str, EnforceError> {
    match obj.get("format").or_else(|| obj.get("subject_type")) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(EnforceError::InvalidSubject("no format member")),
    }
}

/// The member a simple (non-complex) top-level subject stands for (checklist SSF-SUB-43).
fn default_member<'a>(format: &str, opaque_member: &'a str) -> &'a str {
    match format {
        "opaque" => opaque_member,
        "jwt_id" | "saml_assertion_id" => member::TOKEN,
        "ip-addresses" => member::IP,
        _ => member::USER,
    }
}

/// Appends the keys of one simple subject (or of each alias) under `member`.
/// `member` `None` means "by format" (top-level subjects and top-level aliases).
fn simple_keys(
    member: Option<&str>,
    value: &Value,
    opaque_member: &str,
    allow_aliases: bool,
    out: &mut Vec<HandleKey>,
) -> Result<(), EnforceError> {
    let Value::Object(obj) = value else {
        return Err(EnforceError::InvalidSubject(
            "a subject is not a JSON object",
        ));
    };
    let format = format_of(obj)?;
    let m = member.unwrap_or_else(|| default_member(format, opaque_member));
    match format {
        "email" => out.push(HandleKey::email(m, req_str(obj, "email")?)),
        "iss_sub" => out.push(HandleKey::iss_sub(
            m,
            req_str(obj, "iss")?,
            req_str(obj, "sub")?,
        )),
        "opaque" => out.push(HandleKey::opaque(m, req_str(obj, "id")?)),
        // `phone` is the pre-1.0 spelling (checklist B-02, B-07).
        "phone_number" | "phone" => out.push(HandleKey::phone(m, req_str(obj, "phone_number")?)),
        "account" | "uri" => out.push(HandleKey::new(m, format, &[req_str(obj, "uri")?])),
        "did" => out.push(HandleKey::new(m, "did", &[req_str(obj, "url")?])),
        "jwt_id" => out.push(HandleKey::new(
            m,
            "jwt_id",
            &[req_str(obj, "iss")?, req_str(obj, "jti")?],
        )),
        "saml_assertion_id" => out.push(HandleKey::new(
            m,
            "saml_assertion_id",
            &[req_str(obj, "issuer")?, req_str(obj, "assertion_id")?],
        )),
        "ip-addresses" => {
            let Some(Value::Array(ips)) = obj.get("ip-addresses") else {
                return Err(EnforceError::InvalidSubject("ip-addresses is not an array"));
            };
            for ip in ips {
                if let Value::String(ip) = ip {
                    out.push(HandleKey::new(m, "ip", &[ip.trim()]));
                }
            }
        }
        "aliases" if allow_aliases => {
            let Some(Value::Array(ids)) = obj.get("identifiers") else {
                return Err(EnforceError::InvalidSubject("aliases without identifiers"));
            };
            for id in ids {
                simple_keys(member, id, opaque_member, false, out)?;
            }
        }
        "aliases" => return Err(EnforceError::InvalidSubject("nested aliases")),
        "complex" => return Err(EnforceError::InvalidSubject("nested complex subject")),
        other => {
            // A proprietary format agreed bilaterally: the remaining members, as sorted JSON.
            let mut rest = Map::new();
            for (k, v) in obj {
                if k != "format" && k != "subject_type" {
                    rest.insert(k.clone(), v.clone());
                }
            }
            let json = Value::Object(rest).to_string();
            out.push(HandleKey::new(m, other, &[&json]));
        }
    }
    Ok(())
}

/// Turns a SET `sub_id` (RFC 9493 / SSF 1.0 §3) into a pattern. `opaque_member` is the member a
/// top-level `opaque` subject stands for (e.g. `session` for CAEP `session-revoked`, TV-CAEP-01).
pub fn subject_pattern(
    sub_id: &Value,
    opaque_member: &str,
) -> Result<SubjectPattern, EnforceError> {
    let Value::Object(obj) = sub_id else {
        return Err(EnforceError::InvalidSubject("sub_id is not a JSON object"));
    };
    let mut clauses = Vec::new();
    if format_of(obj)? == "complex" {
        for (name, value) in obj {
            if name == "format" || name == "subject_type" {
                continue;
            }
            let mut keys = Vec::new();
            simple_keys(Some(name), value, opaque_member, true, &mut keys)?;
            clauses.push(keys);
        }
    } else {
        let mut keys = Vec::new();
        simple_keys(None, sub_id, opaque_member, true, &mut keys)?;
        clauses.push(keys);
    }
    SubjectPattern::new(clauses).ok_or(EnforceError::InvalidSubject("the subject names nothing"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn complex_subject_gives_one_clause_per_member() {
        // TV-CAEP-02
        let p = subject_pattern(
            &json!({"format": "complex",
                "session": {"format": "opaque", "id": "s1"},
                "user": {"format": "iss_sub", "iss": "https://idp/", "sub": "u1"},
                "tenant": {"format": "opaque", "id": "t1"}}),
            "session",
        )
        .unwrap();
        assert_eq!(p.clauses().len(), 3);
        assert_eq!(p.index_clause()[0].as_str(), "session|opaque|s1");
        let s = HandleKey::opaque("session", "s1");
        let u = HandleKey::iss_sub("user", "https://idp/", "u1");
        let t = HandleKey::opaque("tenant", "t1");
        assert!(p.matches(&[s.clone(), u.clone(), t]));
        assert!(!p.matches(&[s.clone(), u.clone()]));
        // No tenant handle at all: covered (deny rows); another tenant: not covered.
        assert!(p.covers(&[s.clone(), u.clone()]));
        assert!(!p.covers(&[s, u, HandleKey::opaque("tenant", "t2")]));
    }

    #[test]
    fn aliases_make_one_or_clause_and_legacy_subject_type_is_read() {
        let p = subject_pattern(
            &json!({"format": "aliases", "identifiers": [
                {"format": "email", "email": "a@x.example"},
                {"subject_type": "iss_sub", "iss": "i", "sub": "s"}]}),
            "user",
        )
        .unwrap();
        assert_eq!(p.clauses().len(), 1);
        assert!(p.matches(&[HandleKey::iss_sub("user", "i", "s")]));
        assert!(p.matches(&[HandleKey::email("user", "A@x.example")]));
    }

    #[test]
    fn bad_subjects_are_refused() {
        for bad in [
            json!("x"),
            json!({"email": "a@b"}),
            json!({"format": "email"}),
            json!({"format": "iss_sub", "iss": "i"}),
            json!({"format": "complex"}),
            json!({"format": "complex", "user": {"format": "complex"}}),
            json!({"format": "aliases", "identifiers": [{"format": "aliases", "identifiers": []}]}),
        ] {
            assert!(subject_pattern(&bad, "user").is_err(), "{bad}");
        }
    }

    #[test]
    fn proprietary_formats_key_on_sorted_members() {
        let a = subject_pattern(&json!({"format": "x-emp", "b": 1, "a": "z"}), "user").unwrap();
        let b = subject_pattern(&json!({"a": "z", "format": "x-emp", "b": 1}), "user").unwrap();
        assert_eq!(a, b);
    }
}
