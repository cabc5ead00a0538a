//! The typed face of a row: what a put effect carries from planning until the store serialises
//! it ([`Row::stored_value`]), and what a stored row is read back into ([`Row::try_from`]).
//!
//! The JSON of a row value is `{"subject": [[<handle key>, ...], ...], <members of its kind>}`,
//! members that are absent (`None`) left out. [`Row::value`] writes exactly that, so a stored row
//! is byte for byte what the engine wrote before effects were typed; reading accepts every row
//! such an engine wrote (a member the engine never required is optional here too).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Cause, RowKind, StateRow};
use crate::{error::EnforceError, handle::SubjectPattern, policy::RiskLevel};

/// Account status (RISC §2.2–§2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    /// `enabled` (RISC §2.4): the tombstone of an earlier disable.
    Enabled,
    /// `disabled` (RISC §2.3).
    Disabled,
    /// `purged` (RISC §2.2).
    Purged,
}

impl AccountStatus {
    /// The stored value, e.g. `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::Purged => "purged",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Enabled, Self::Disabled, Self::Purged]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// The session inventory of a subject (CAEP §3.6, §3.7); no access effect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionState {
    /// When the session was established (epoch ms), from `session-established`.
    pub established_at: Option<i64>,
    /// `acr` of `session-established`.
    pub acr: Option<String>,
    /// `amr` of `session-established` (never empty).
    pub amr: Option<Vec<String>>,
    /// `fp_ua`, the user agent's fingerprint.
    pub fp_ua: Option<String>,
    /// `ext_id`, the session's external id.
    pub ext_id: Option<String>,
    /// The newest event time the session was seen at (epoch ms).
    pub last_seen: Option<i64>,
}

/// What a row of each [`RowKind`] holds besides its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowState {
    /// [`RowKind::Revocation`]: tokens with `iat` ≤ `before` (epoch ms) are revoked.
    Revocation {
        /// The event time of the revocation.
        before: i64,
    },
    /// [`RowKind::Account`].
    Account {
        /// The status.
        status: AccountStatus,
        /// The RISC `reason` of a disable (e.g. `hijacking`).
        reason: Option<String>,
    },
    /// [`RowKind::CredentialRequired`]: `false` is the tombstone of a lifted requirement.
    CredentialRequired {
        /// Whether a credential change is required.
        required: bool,
    },
    /// [`RowKind::Device`] (CAEP §3.5).
    Device {
        /// `compliant` or `not-compliant`.
        status: String,
        /// The event's `previous_status`.
        previous_status: Option<String>,
    },
    /// [`RowKind::Claims`]: one claim of the overlay (CAEP §3.2).
    Claim {
        /// The claim name.
        claim: String,
        /// Its value: `Some(null)` removes the claim (an overlay `null`), and so does `None`
        /// (a lifted `credential_change_required` flag, stored without `value`).
        value: Option<Value>,
    },
    /// [`RowKind::Assurance`] (CAEP §3.4).
    Assurance {
        /// The `namespace` (e.g. `NIST-AAL`).
        namespace: Option<String>,
        /// The `current_level`.
        level: String,
        /// The `previous_level`.
        previous_level: Option<String>,
    },
    /// [`RowKind::Risk`] (CAEP §3.8).
    Risk {
        /// The `current_level`.
        level: RiskLevel,
        /// The `principal` (e.g. `USER`).
        principal: Option<String>,
        /// The `previous_level`.
        previous_level: Option<String>,
    },
    /// [`RowKind::Session`].
    Session(SessionState),
    /// [`RowKind::Grant`]: a JIT grant; access `none` is a tombstone.
    Grant {
        /// The asset type (e.g. `customer`).
        asset_type: String,
        /// The asset id (e.g. `C2148`).
        asset_id: String,
        /// The access level.
        access: String,
        /// When it ends (epoch ms).
        expires_at: Option<i64>,
    },
    /// [`RowKind::GroupMember`]: `member: false` is a tombstone.
    GroupMember {
        /// The group.
        group: String,
        /// Whether the subject is a member.
        member: bool,
    },
    /// [`RowKind::OptState`] (RISC §2.8): `opt-in`, `opt-out-initiated` or `opt-out`.
    OptState {
        /// The state.
        state: Option<String>,
    },
}

impl RowState {
    /// The kind of row that holds it.
    pub fn kind(&self) -> RowKind {
        match self {
            Self::Revocation { .. } => RowKind::Revocation,
            Self::Account { .. } => RowKind::Account,
            Self::CredentialRequired { .. } => RowKind::CredentialRequired,
            Self::Device { .. } => RowKind::Device,
            Self::Claim { .. } => RowKind::Claims,
            Self::Assurance { .. } => RowKind::Assurance,
            Self::Risk { .. } => RowKind::Risk,
            Self::Session(_) => RowKind::Session,
            Self::Grant { .. } => RowKind::Grant,
            Self::GroupMember { .. } => RowKind::GroupMember,
            Self::OptState { .. } => RowKind::OptState,
        }
    }

    /// Writes the members into `m` (absent ones left out).
    fn write(&self, m: &mut Map<String, Value>) {
        let mut put = |name: &str, value: Option<Value>| {
            if let Some(value) = value {
                m.insert(name.to_owned(), value);
            }
        };
        let text = |s: &Option<String>| s.as_deref().map(Value::from);
        match self {
            Self::Revocation { before } => put("before", Some(Value::from(*before))),
            Self::Account { status, reason } => {
                put("status", Some(Value::from(status.as_str())));
                put("reason", text(reason));
            }
            Self::CredentialRequired { required } => put("required", Some(Value::Bool(*required))),
            Self::Device {
                status,
                previous_status,
            } => {
                put("status", Some(Value::from(status.as_str())));
                put("previous_status", text(previous_status));
            }
            Self::Claim { claim, value } => {
                put("claim", Some(Value::from(claim.as_str())));
                put("value", value.clone());
            }
            Self::Assurance {
                namespace,
                level,
                previous_level,
            } => {
                put("namespace", text(namespace));
                put("level", Some(Value::from(level.as_str())));
                put("previous_level", text(previous_level));
            }
            Self::Risk {
                level,
                principal,
                previous_level,
            } => {
                put("level", Some(Value::from(level.as_str())));
                put("principal", text(principal));
                put("previous_level", text(previous_level));
            }
            Self::Session(s) => {
                put("established_at", s.established_at.map(Value::from));
                put("acr", text(&s.acr));
                put("amr", s.amr.clone().map(Value::from));
                put("fp_ua", text(&s.fp_ua));
                put("ext_id", text(&s.ext_id));
                put("last_seen", s.last_seen.map(Value::from));
            }
            Self::Grant {
                asset_type,
                asset_id,
                access,
                expires_at,
            } => {
                put("asset_type", Some(Value::from(asset_type.as_str())));
                put("asset_id", Some(Value::from(asset_id.as_str())));
                put("access", Some(Value::from(access.as_str())));
                put("expires_at", expires_at.map(Value::from));
            }
            Self::GroupMember { group, member } => {
                put("group", Some(Value::from(group.as_str())));
                put("member", Some(Value::Bool(*member)));
            }
            Self::OptState { state } => put("state", text(state)),
        }
    }

    /// Reads the members of a `kind` row from its value.
    fn read(kind: RowKind, v: &Map<String, Value>) -> Result<Self, &'static str> {
        let text = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
        let string = |name: &str| text(name).ok_or("a string member is missing");
        let boolean = |name: &str| {
            v.get(name)
                .and_then(Value::as_bool)
                .ok_or("a boolean member is missing")
        };
        let int = |name: &str| v.get(name).and_then(Value::as_i64);
        Ok(match kind {
            RowKind::Revocation => Self::Revocation {
                before: int("before").ok_or("before is missing")?,
            },
            RowKind::Account => Self::Account {
                status: AccountStatus::parse(&string("status")?).ok_or("unknown account status")?,
                reason: text("reason"),
            },
            RowKind::CredentialRequired => Self::CredentialRequired {
                required: boolean("required")?,
            },
            RowKind::Device => Self::Device {
                status: string("status")?,
                previous_status: text("previous_status"),
            },
            RowKind::Claims => Self::Claim {
                claim: string("claim")?,
                value: v.get("value").cloned(),
            },
            RowKind::Assurance => Self::Assurance {
                namespace: text("namespace"),
                level: string("level")?,
                previous_level: text("previous_level"),
            },
            RowKind::Risk => Self::Risk {
                level: RiskLevel::parse(&string("level")?).ok_or("unknown risk level")?,
                principal: text("principal"),
                previous_level: text("previous_level"),
            },
            RowKind::Session => Self::Session(SessionState {
                established_at: int("established_at"),
                acr: text("acr"),
                amr: v.get("amr").and_then(Value::as_array).map(|amr| {
                    amr.iter()
                        .filter_map(|m| m.as_str().map(str::to_owned))
                        .collect()
                }),
                fp_ua: text("fp_ua"),
                ext_id: text("ext_id"),
                last_seen: int("last_seen"),
            }),
            RowKind::Grant => Self::Grant {
                asset_type: string("asset_type")?,
                asset_id: string("asset_id")?,
                access: string("access")?,
                expires_at: int("expires_at"),
            },
            RowKind::GroupMember => Self::GroupMember {
                group: string("group")?,
                member: boolean("member")?,
            },
            RowKind::OptState => Self::OptState {
                state: text("state"),
            },
        })
    }
}

/// A row as planning puts it: typed until the store serialises it. Serialised (in a
/// [`Plan`](crate::Plan)) as its [`StateRow`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StateRow", into = "StateRow")]
pub struct Row {
    /// The key, formatted per [`RowKind`].
    pub key: String,
    /// Who it is about.
    pub subject: SubjectPattern,
    /// What it holds; its kind is the row's.
    pub state: RowState,
    /// The SET and rule it came from, and its event time.
    pub cause: Cause,
}

impl Row {
    /// The kind; with `key` the primary key.
    pub fn kind(&self) -> RowKind {
        self.state.kind()
    }

    /// The event time this row's state is from (epoch ms); stores order rows by it.
    pub fn at(&self) -> i64 {
        self.cause.at
    }

    /// The row's value as JSON: `subject` and the members of its kind.
    pub fn value(&self) -> Value {
        let mut m = Map::new();
        m.insert("subject".to_owned(), subject_value(&self.subject));
        self.state.write(&mut m);
        Value::Object(m)
    }

    /// The value as the store keeps it (see [`StateRow::stored_value`]).
    pub fn stored_value(&self) -> Value {
        StateRow::from(self.clone()).stored_value()
    }
}

/// The `subject` member: the pattern's clauses as arrays of handle keys.
fn subject_value(pattern: &SubjectPattern) -> Value {
    Value::Array(
        pattern
            .clauses()
            .iter()
            .map(|c| {
                c.iter()
                    .map(|k| Value::String(k.as_str().to_owned()))
                    .collect()
            })
            .collect(),
    )
}

impl From<Row> for StateRow {
    fn from(row: Row) -> Self {
        Self {
            kind: row.kind(),
            value: row.value(),
            key: row.key,
            cause: row.cause,
        }
    }
}

impl TryFrom<StateRow> for Row {
    type Error = EnforceError;

    /// Reads a stored row; a value without the members its kind needs is
    /// [`EnforceError::InvalidRow`].
    fn try_from(row: StateRow) -> Result<Self, EnforceError> {
        let bad = |reason| EnforceError::InvalidRow {
            kind: row.kind,
            key: row.key.clone(),
            reason,
        };
        let subject = row
            .value
            .get("subject")
            .cloned()
            .and_then(|s| serde_json::from_value::<Vec<Vec<_>>>(s).ok())
            .and_then(SubjectPattern::new)
            .ok_or_else(|| bad("subject is missing or empty"))?;
        let members = row
            .value
            .as_object()
            .ok_or_else(|| bad("the value is not an object"))?;
        let state = RowState::read(row.kind, members).map_err(bad)?;
        Ok(Self {
            key: row.key,
            subject,
            state,
            cause: row.cause,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows as the engine stored them before effects were typed; each reads back and is written
    /// again byte for byte.
    const STORED: &[(&str, &str)] = &[
        (
            "revocation",
            r#"{"before":1,"cause":{C},"subject":[["tenant|opaque|t"],["user|email|jane@example.com"]]}"#,
        ),
        (
            "account",
            r#"{"cause":{C},"reason":"hijacking","status":"disabled","subject":[["user|email|jane@example.com"]]}"#,
        ),
        (
            "credential_required",
            r#"{"cause":{C},"required":true,"subject":[["user|email|jane@example.com"]]}"#,
        ),
        (
            "device",
            r#"{"cause":{C},"previous_status":"compliant","status":"not-compliant","subject":[["device|opaque|d-bad"]]}"#,
        ),
        (
            "claims",
            r#"{"cause":{C},"claim":"x","subject":[["user|email|jane@example.com"]],"value":null}"#,
        ),
        (
            "claims",
            r#"{"cause":{C},"claim":"credential_change_required","subject":[["user|email|jane@example.com"]]}"#,
        ),
        (
            "claims",
            r#"{"cause":{C},"claim":"tier","subject":[["user|email|jane@example.com"]],"value":{"a":[1,"b"]}}"#,
        ),
        (
            "assurance",
            r#"{"cause":{C},"level":"nist-aal1","namespace":"NIST-AAL","subject":[["user|email|jane@example.com"]]}"#,
        ),
        (
            "risk",
            r#"{"cause":{C},"level":"HIGH","previous_level":"LOW","principal":"USER","subject":[["user|email|jane@example.com"]]}"#,
        ),
        (
            "session",
            r#"{"acr":"AAL2","amr":["otp"],"cause":{C},"established_at":1,"fp_ua":"abb0","last_seen":1,"subject":[["user|email|jane@example.com"]]}"#,
        ),
        (
            "grant",
            r#"{"access":"read","asset_id":"C2148","asset_type":"customer","cause":{C},"expires_at":1615909791000,"subject":[["user|email|jane@example.com"]]}"#,
        ),
        (
            "grant",
            r#"{"access":"none","asset_id":"C2148","asset_type":"customer","cause":{C},"subject":[["user|email|jane@example.com"]]}"#,
        ),
        (
            "group_member",
            r#"{"cause":{C},"group":"vip","member":true,"subject":[["user|email|jane@example.com"]]}"#,
        ),
        (
            "opt_state",
            r#"{"cause":{C},"state":"opt-in","subject":[["user|email|jane@example.com"]]}"#,
        ),
    ];

    const CAUSE: &str =
        r#"{"at":1,"event_type":"urn:example:e","iss":"i","jti":"j","rule":"recorded","txn":"t"}"#;

    #[test]
    fn stored_rows_read_back_and_are_written_byte_for_byte() {
        for (kind, stored) in STORED {
            let stored = stored.replace("{C}", CAUSE);
            let value: Value = serde_json::from_str(&stored).unwrap();
            let row = StateRow::from_stored(kind, "k".into(), value, 1).unwrap();
            let typed = Row::try_from(row.clone()).unwrap();
            assert_eq!(typed.kind().as_str(), *kind);
            assert_eq!(StateRow::from(typed.clone()), row, "{kind}");
            let written = serde_json::to_string(&typed.stored_value()).unwrap();
            assert_eq!(written, stored, "{kind}");
        }
    }

    #[test]
    fn a_row_without_what_its_kind_needs_is_invalid() {
        let cause = format!(r#""cause":{CAUSE}"#);
        for (kind, members, reason) in [
            ("grant", r#""access":"read""#, "a string member is missing"),
            ("risk", r#""level":"SEVERE""#, "unknown risk level"),
            ("revocation", r#""x":1"#, "before is missing"),
            ("account", r#""status":"gone""#, "unknown account status"),
        ] {
            let text = format!(r#"{{{cause},{members},"subject":[["user|email|a@example.com"]]}}"#);
            let row =
                StateRow::from_stored(kind, "k".into(), serde_json::from_str(&text).unwrap(), 1)
                    .unwrap();
            let err = Row::try_from(row).unwrap_err();
            assert!(
                matches!(err, EnforceError::InvalidRow { reason: r, .. } if r == reason),
                "{kind}: {err}"
            );
        }
        let row = StateRow::from_stored(
            "revocation",
            "k".into(),
            serde_json::from_str(&format!(r#"{{{cause},"before":1}}"#)).unwrap(),
            1,
        )
        .unwrap();
        assert!(matches!(
            Row::try_from(row),
            Err(EnforceError::InvalidRow {
                reason: "subject is missing or empty",
                ..
            })
        ));
    }
}
