//! Who may grant, for how long, and where groups open critical assets
//! ([`GrantAuthority`], [`CriticalGroups`]; decisions D-EN-02 … D-EN-04 in `docs/decisions.md`).
//!
//! A CAEP `token-claims-change` ([CAEP §3.2](https://openid.net/specs/openid-caep-1_0.html#section-3.2))
//! may come from any transmitter the receiver trusts, but only the ticket bridge should be able
//! to *open* access with it. Reducing access is always safe, so revokes (`access_allowed: none`,
//! a `grants` entry with access `none`) and `groups_remove` are applied from every verified
//! source; grants and `groups_add` only from the sources listed in [`GrantAuthority::sources`].

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::error::EnforceError;

/// The default of [`GrantAuthority::max_duration`]: 7 days (D-EN-03).
pub const DEFAULT_MAX_GRANT_DURATION: Duration = Duration::from_secs(7 * 86_400);

/// Which sources may open access with `token-claims-change` claims, and the longest a grant
/// lasts (`[enforce.grants]`). Engine-wide on purpose: a per-transmitter policy
/// (`transmitters."<iss>"`) cannot widen it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrantAuthority {
    /// The sources whose JIT grants and `groups_add` are applied. `None` (the default, for
    /// compatibility): every verified transmitter. `Some([])`: nobody may grant. Revokes and
    /// `groups_remove` are applied from any source either way.
    pub sources: Option<Vec<GrantSource>>,
    /// The longest a JIT grant lasts, counted from its event time (or the receiver's clock, if
    /// earlier): a grant without `expires_at`, or with a later one, expires then. Written like
    /// `"7d"`, `"12h"`, `"30m"` or a number of seconds. Default 7 days.
    #[serde(with = "duration")]
    pub max_duration: Duration,
}

impl Default for GrantAuthority {
    fn default() -> Self {
        Self {
            sources: None,
            max_duration: DEFAULT_MAX_GRANT_DURATION,
        }
    }
}

/// One source allowed to grant: a transmitter's SET `iss` and, optionally, some of its streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSource {
    /// The SET `iss`, compared exactly (as the receiver verified it).
    pub iss: String,
    /// The transmitter's `stream_id`s (SSF §8.1.1) the grants must arrive on; empty: any stream
    /// of `iss`. A SET whose stream the receiver does not know matches only the empty list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stream_ids: Vec<String>,
}

impl GrantSource {
    /// Whether a SET from `iss` on `stream_id` is this source.
    pub fn matches(&self, iss: &str, stream_id: Option<&str>) -> bool {
        self.iss == iss
            && (self.stream_ids.is_empty()
                || stream_id.is_some_and(|s| self.stream_ids.iter().any(|x| x == s)))
    }
}

impl GrantAuthority {
    /// Whether a SET from `iss` on `stream_id` may grant (JIT grants, `groups_add`).
    pub fn may_grant(&self, iss: &str, stream_id: Option<&str>) -> bool {
        self.sources
            .as_ref()
            .is_none_or(|list| list.iter().any(|s| s.matches(iss, stream_id)))
    }

    /// `max_duration` in milliseconds (saturating).
    pub fn max_duration_ms(&self) -> i64 {
        i64::try_from(self.max_duration.as_millis()).unwrap_or(i64::MAX)
    }

    /// Checks the settings; errors name the setting (`grants.…`).
    pub fn validate(&self) -> Result<(), EnforceError> {
        let bad = |s: String| Err(EnforceError::InvalidConfig(s));
        if self.max_duration.is_zero() {
            return bad("grants.max_duration must be longer than 0s (e.g. \"7d\")".into());
        }
        for (i, s) in self.sources.iter().flatten().enumerate() {
            if s.iss.trim().is_empty() {
                return bad(format!(
                    "grants.sources[{i}].iss must name a transmitter issuer"
                ));
            }
            if s.stream_ids.iter().any(|id| id.trim().is_empty()) {
                return bad(format!(
                    "grants.sources[{i}].stream_ids must not contain an empty stream id"
                ));
            }
        }
        Ok(())
    }
}

/// The critical assets that group permissions may open ([`AccessPolicy::critical_allows_groups`]
/// and [`AccessPolicy::critical_allows_token_groups`](crate::AccessPolicy)). In TOML: `false`
/// (none, the default), `true` (every critical asset) or a list of asset patterns
/// (`["customer", "ticket:T-1"]`).
///
/// [`AccessPolicy::critical_allows_groups`]: crate::AccessPolicy::critical_allows_groups
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CriticalGroups {
    /// No critical asset.
    #[default]
    None,
    /// Every critical asset.
    All,
    /// The critical assets matching one of these patterns (`*`, `type`, `type:*`, `type:id`).
    Assets(Vec<String>),
}

impl CriticalGroups {
    /// The patterns it stands for (`All` is `*`).
    pub fn patterns(&self) -> Vec<String> {
        match self {
            Self::None => Vec::new(),
            Self::All => vec!["*".to_owned()],
            Self::Assets(list) => list.clone(),
        }
    }
}

impl From<bool> for CriticalGroups {
    fn from(all: bool) -> Self {
        if all { Self::All } else { Self::None }
    }
}

impl Serialize for CriticalGroups {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::None => s.serialize_bool(false),
            Self::All => s.serialize_bool(true),
            Self::Assets(list) => list.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for CriticalGroups {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = CriticalGroups;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true, false or a list of asset patterns such as [\"customer\"]")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(v.into())
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut list = Vec::new();
                while let Some(p) = seq.next_element::<String>()? {
                    list.push(p);
                }
                Ok(if list.is_empty() {
                    CriticalGroups::None
                } else {
                    CriticalGroups::Assets(list)
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `Duration` as `"7d"` / `"12h"` / … or whole seconds (the workspace's configuration syntax,
/// [`ssf_http::duration_serde`]).
mod duration {
    use std::time::Duration;

    use serde::{Deserializer, Serializer, de};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        ssf_http::duration_serde::serialize(d, s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Duration;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration such as \"7d\", \"12h\" or a number of seconds")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                Ok(Duration::from_secs(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                u64::try_from(v)
                    .map(Duration::from_secs)
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                ssf_http::duration_serde::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_match_iss_and_listed_streams() {
        let a = GrantAuthority {
            sources: Some(vec![
                GrantSource {
                    iss: "https://bridge/".into(),
                    stream_ids: vec!["s1".into()],
                },
                GrantSource {
                    iss: "https://other/".into(),
                    stream_ids: Vec::new(),
                },
            ]),
            ..GrantAuthority::default()
        };
        assert!(a.may_grant("https://bridge/", Some("s1")));
        assert!(!a.may_grant("https://bridge/", Some("s2")));
        assert!(!a.may_grant("https://bridge/", None));
        assert!(a.may_grant("https://other/", None));
        assert!(!a.may_grant("https://idp/", Some("s1")));
        assert!(GrantAuthority::default().may_grant("anyone", None));
        let nobody = GrantAuthority {
            sources: Some(Vec::new()),
            ..GrantAuthority::default()
        };
        assert!(!nobody.may_grant("https://bridge/", Some("s1")));
    }

    #[test]
    fn durations_and_validation_name_the_setting() {
        let a: GrantAuthority =
            serde_json::from_value(serde_json::json!({"max_duration": "12h"})).unwrap();
        assert_eq!(a.max_duration, Duration::from_secs(12 * 3600));
        let a: GrantAuthority =
            serde_json::from_value(serde_json::json!({"max_duration": 60})).unwrap();
        assert_eq!(a.max_duration_ms(), 60_000);
        let err = GrantAuthority {
            max_duration: Duration::ZERO,
            ..GrantAuthority::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("grants.max_duration"), "{err}");
        let err = GrantAuthority {
            sources: Some(vec![GrantSource {
                iss: " ".into(),
                stream_ids: Vec::new(),
            }]),
            ..GrantAuthority::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("grants.sources[0].iss"), "{err}");
        assert!(
            serde_json::from_value::<GrantAuthority>(serde_json::json!({"max_duration": "7x"}))
                .is_err()
        );
    }

    #[test]
    fn critical_groups_read_booleans_and_lists() {
        let read = |v| serde_json::from_value::<CriticalGroups>(v);
        assert_eq!(read(serde_json::json!(true)).unwrap(), CriticalGroups::All);
        assert_eq!(
            read(serde_json::json!(false)).unwrap(),
            CriticalGroups::None
        );
        assert_eq!(read(serde_json::json!([])).unwrap(), CriticalGroups::None);
        assert_eq!(
            read(serde_json::json!(["customer"])).unwrap(),
            CriticalGroups::Assets(vec!["customer".into()])
        );
        let err = read(serde_json::json!("customer")).unwrap_err();
        assert!(err.to_string().contains("true, false or a list"), "{err}");
        for v in [
            CriticalGroups::None,
            CriticalGroups::All,
            CriticalGroups::Assets(vec!["a:b".into()]),
        ] {
            assert_eq!(read(serde_json::to_value(&v).unwrap()).unwrap(), v);
        }
    }
}
