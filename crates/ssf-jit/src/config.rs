//! The `[jit]` section of `ssf.toml`: ticket systems (webhook authentication and rules), the
//! emitter (where events go and with which credentials), and timers.
//!
//! Unknown keys are rejected (`deny_unknown_fields`). Secrets are [`SecretString`]s: they never
//! show in `Debug` output and are not serialized. The crate never reads the environment; the CLI
//! fills secrets from `SSF_*` variables if it wants to.
//!
//! ```toml
//! [jit]
//! access_levels = ["read", "read_write"]     # ascending; "none" is the revoke value
//!
//! [jit.emitter]
//! events_url = "https://tx.example.com/events"
//! token_url = "https://tx.example.com/oauth/token"
//! client_id = "jit-bridge"
//! client_secret = "..."
//!
//! [jit.systems.jira]
//! kind = "jira"
//! secret = "the Jira webhook secret"
//! [jit.systems.jira.rules]
//! asset = { type = "customer", field = "customfield_10050" }
//! access = { field = "priority.name", map = { Highest = "read_write", High = "read_write" }, default = "read" }
//! ```

pub mod rules;

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use serde::Deserialize;
use ssf_http::{ClientConfig, RetryConfig};
use ssf_types::secret::SecretString;

pub use self::rules::{
    AccessRule, AssetRule, ClaimNames, GroupRule, PersonField, RulesConfig, SubjectFormatRule,
    SubjectRule,
};
use crate::{error::JitError, identity::IdentityFile};

/// The `[jit]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct JitConfig {
    /// Where the bridge keeps its state (grants, tickets, outbox, audit): an SQLite file path
    /// or `sqlite://<path>` (one node), or `postgres://user:password@host/db` (one database for
    /// several bridge nodes behind a load balancer). Default: none, the caller decides
    /// (`ssf serve` uses `<data dir>/jit.db`). See [`JitStore::open`](crate::JitStore::open).
    pub database: Option<String>,
    /// Largest webhook body in bytes (`413` beyond). Default 1 MiB (Jira issue payloads with
    /// many custom fields run to a few hundred KiB).
    pub max_body_bytes: usize,
    /// Access levels from least to most; rules may only produce these. Default
    /// `["read", "read_write"]`.
    pub access_levels: Vec<String>,
    /// How often grants past their `expires_at` are revoked. Default 30 s.
    #[serde(with = "ssf_http::duration_serde")]
    pub sweep_interval: Duration,
    /// How long webhook delivery ids are kept for replay protection; must exceed every
    /// system's `max_age`. Default 30 days.
    #[serde(with = "ssf_http::duration_serde")]
    pub delivery_retention: Duration,
    /// Ticket systems by name: the `{system}` in `/jit/webhooks/{system}`.
    pub systems: BTreeMap<String, SystemConfig>,
    /// Where and how events are sent (`[jit.emitter]`).
    pub emitter: EmitterConfig,
}

impl Default for JitConfig {
    fn default() -> Self {
        Self {
            database: None,
            max_body_bytes: 1024 * 1024,
            access_levels: vec!["read".to_owned(), "read_write".to_owned()],
            sweep_interval: Duration::from_secs(30),
            delivery_retention: Duration::from_secs(30 * 86_400),
            systems: BTreeMap::new(),
            emitter: EmitterConfig::default(),
        }
    }
}

impl JitConfig {
    /// Checks what serde cannot: names, rule values against `access_levels`, auth modes,
    /// windows. Call once at start; every error names the setting.
    pub fn validate(&self) -> Result<(), JitError> {
        let bad =
            |setting: String, why: &str| Err(JitError::Config(format!("jit.{setting}: {why}")));
        if self.access_levels.is_empty() {
            return bad("access_levels".into(), "at least one level is needed");
        }
        if self.max_body_bytes == 0 {
            return bad("max_body_bytes".into(), "must be above 0");
        }
        for (name, system) in &self.systems {
            let valid_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid_name {
                return bad(
                    format!("systems.{name}"),
                    "names use letters, digits, '-' and '_' only",
                );
            }
            system.validate(name, &self.access_levels)?;
            if system
                .max_age
                .is_some_and(|age| age >= self.delivery_retention)
            {
                return bad(
                    format!("systems.{name}.max_age"),
                    "must be shorter than jit.delivery_retention, or a replay could come back after its id is forgotten",
                );
            }
        }
        self.emitter.validate()
    }

    /// Gets the systems ready to run once [`validated`](Self::validate): each learns its name
    /// (for messages that name its settings) and opens its `identities_file`.
    pub(crate) fn prepare(&mut self) -> Result<(), JitError> {
        for (name, system) in &mut self.systems {
            system.name.clone_from(name);
            system.identity_file = match &system.identities_file {
                Some(path) => Some(Arc::new(IdentityFile::open(path).map_err(|e| {
                    JitError::Config(format!("jit.systems.{name}.identities_file: {e}"))
                })?)),
                None => None,
            };
        }
        Ok(())
    }

    /// The rank of an access level in `access_levels` (higher grants more).
    pub fn rank(&self, level: &str) -> Option<usize> {
        self.access_levels.iter().position(|l| l == level)
    }

    /// The rank of `level` on an asset of `asset_type`: group memberships have the one level
    /// [`MEMBER`](crate::rules::MEMBER).
    pub fn rank_for(&self, asset_type: &str, level: &str) -> Option<usize> {
        if asset_type == crate::rules::GROUP {
            (level == crate::rules::MEMBER).then_some(0)
        } else {
            self.rank(level)
        }
    }
}

ssf_types::open_enum! {
    /// Which adapter reads a system's webhooks.
    pub enum SystemKind {
        /// The documented generic JSON format ([`crate::adapter::generic`]).
        Generic = "generic",
        /// Jira Cloud / Jira Service Management webhooks ([`crate::adapter::jira`]).
        Jira = "jira",
        /// ServiceNow Business Rule / outbound REST message JSON ([`crate::adapter::servicenow`]).
        ServiceNow = "servicenow",
    }
}

/// How a system proves a webhook is its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAuth {
    /// HMAC-SHA256 of the raw body with the secret, in a header, as hex or base64, with or
    /// without a `sha256=` prefix (Jira: `X-Hub-Signature: sha256=<hex>`).
    Hmac,
    /// The secret itself in a header (`Authorization: Bearer <secret>`, or a custom header).
    Token,
    /// HTTP Basic authentication ([RFC 7617](https://www.rfc-editor.org/rfc/rfc7617)):
    /// `Authorization: Basic base64(<username>:<secret>)`, the secret being the password
    /// (ServiceNow outbound REST messages with a Basic auth profile).
    Basic,
}

/// One ticket system: `[jit.systems.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SystemConfig {
    /// The adapter.
    pub kind: SystemKind,
    /// The shared secret: the HMAC key or the expected token.
    pub secret: SecretString,
    /// HMAC, token or basic; default per kind: Jira and generic `hmac`, ServiceNow `token`.
    #[serde(default)]
    pub auth: Option<WebhookAuth>,
    /// The user name of `auth = "basic"` (the secret is the password); only for that mode.
    #[serde(default)]
    pub username: Option<String>,
    /// The header carrying the signature or token; default per kind: Jira `X-Hub-Signature`,
    /// generic `X-JIT-Signature` (hmac) or `Authorization` (token), ServiceNow `Authorization`
    /// (token) or `X-ServiceNow-Signature` (hmac).
    #[serde(default)]
    pub header: Option<String>,
    /// Webhooks whose own timestamp (Jira `timestamp`, else the issue's `updated`; ServiceNow
    /// `sys_updated_on`; generic `occurred_at`) is older than this grant nothing: they are still
    /// applied where they take access away (close, unassign, reassign), so a late revoke is never
    /// dropped. Default 1 h; `"0s"` turns the check off.
    #[serde(default = "default_max_age", with = "opt_duration")]
    pub max_age: Option<Duration>,
    /// How far in the future a webhook's timestamp may be (clock skew). Default 5 min.
    #[serde(default = "default_skew", with = "ssf_http::duration_serde")]
    pub max_clock_skew: Duration,
    /// How tickets map to grants.
    #[serde(default)]
    pub rules: RulesConfig,
    /// Assignee id (Jira `accountId`, ServiceNow `sys_id` or `user_name`) or display name ->
    /// e-mail (or subject value), for assignees whose e-mail the ticket system does not send.
    /// See [`crate::identity`].
    #[serde(default)]
    pub identities: BTreeMap<String, String>,
    /// A JSON object file of more such entries, maintained by the operator and re-read when it
    /// changes; it must exist at start. See [`crate::identity`].
    #[serde(default)]
    pub identities_file: Option<PathBuf>,
    /// The system's name under `[jit.systems]` (set when the bridge starts).
    #[serde(skip)]
    pub(crate) name: String,
    /// The opened `identities_file` (set when the bridge starts).
    #[serde(skip)]
    pub(crate) identity_file: Option<Arc<IdentityFile>>,
}

fn default_max_age() -> Option<Duration> {
    Some(Duration::from_secs(3600))
}

fn default_skew() -> Duration {
    Duration::from_secs(300)
}

impl SystemConfig {
    /// A system of `kind` with `secret` and default settings.
    pub fn new(kind: SystemKind, secret: impl Into<String>) -> Self {
        Self {
            kind,
            secret: SecretString::from(secret.into()),
            auth: None,
            username: None,
            header: None,
            max_age: default_max_age(),
            max_clock_skew: default_skew(),
            rules: RulesConfig::default(),
            identities: BTreeMap::new(),
            identities_file: None,
            name: String::new(),
            identity_file: None,
        }
    }

    /// The authentication mode in force (configured or the kind's default).
    pub fn auth_mode(&self) -> WebhookAuth {
        self.auth.unwrap_or(match self.kind {
            SystemKind::ServiceNow => WebhookAuth::Token,
            _ => WebhookAuth::Hmac,
        })
    }

    /// The header in force (configured or the kind's default for the mode).
    pub fn auth_header(&self) -> String {
        if let Some(h) = &self.header {
            return h.clone();
        }
        match (&self.kind, self.auth_mode()) {
            (SystemKind::Jira, WebhookAuth::Hmac) => "X-Hub-Signature",
            (SystemKind::ServiceNow, WebhookAuth::Hmac) => "X-ServiceNow-Signature",
            (_, WebhookAuth::Hmac) => "X-JIT-Signature",
            (_, WebhookAuth::Token | WebhookAuth::Basic) => "Authorization",
        }
        .to_owned()
    }

    fn validate(&self, name: &str, levels: &[String]) -> Result<(), JitError> {
        let bad = |why: String| Err(JitError::Config(format!("jit.systems.{name}: {why}")));
        if !self.kind.is_known() {
            return bad(format!(
                "unknown kind {:?}; use generic, jira or servicenow",
                self.kind.as_str()
            ));
        }
        if ssf_types::secret::ExposeSecret::expose_secret(&self.secret).len() < 16 {
            return bad("secret must be at least 16 characters".into());
        }
        if axum::http::HeaderName::try_from(self.auth_header()).is_err() {
            return bad(format!(
                "header {:?} is not a valid header name",
                self.auth_header()
            ));
        }
        match (self.auth_mode(), self.username.as_deref()) {
            (WebhookAuth::Basic, None) => {
                return bad("auth = \"basic\" needs `username`".into());
            }
            (WebhookAuth::Basic, Some(u)) if u.is_empty() || u.contains(':') => {
                return bad("username must not be empty or contain ':' (RFC 7617)".into());
            }
            (WebhookAuth::Basic, Some(_)) => {}
            (_, Some(_)) => {
                return bad("username is only used with auth = \"basic\"".into());
            }
            (_, None) => {}
        }
        if let Some((k, _)) = self
            .identities
            .iter()
            .find(|(k, v)| k.trim().is_empty() || v.trim().is_empty())
        {
            return bad(format!("identities: entry {k:?} has an empty key or value"));
        }
        if let Some(path) = &self.identities_file
            && let Err(e) = IdentityFile::open(path)
        {
            return bad(format!("identities_file: {e}"));
        }
        crate::rules::states::validate(&self.rules).or_else(|e| bad(format!("rules.{e}")))?;
        self.rules
            .validate(levels)
            .or_else(|e| bad(format!("rules.{e}")))
    }
}

/// `[jit.emitter]`: where events go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct EmitterConfig {
    /// The transmitter's ingest endpoint, e.g. `https://tx.example.com/events`. Without it no
    /// worker runs and events wait in the outbox.
    pub events_url: Option<String>,
    /// The transmitter's token endpoint (`/oauth/token`), for client credentials.
    pub token_url: Option<String>,
    /// The OAuth client id (a transmitter client with `ssf.events.publish`).
    pub client_id: Option<String>,
    /// The OAuth client secret.
    pub client_secret: Option<SecretString>,
    /// The scope asked for. Default `ssf.events.publish`.
    pub scope: String,
    /// A fixed bearer token instead of client credentials.
    pub static_token: Option<SecretString>,
    /// A token is renewed this long before it expires. Default 60 s.
    #[serde(with = "ssf_http::duration_serde")]
    pub refresh_before: Duration,
    /// How often the worker looks for due events when nothing wakes it. Default 1 s.
    #[serde(with = "ssf_http::duration_serde")]
    pub poll_interval: Duration,
    /// Events handled per round. Default 50.
    pub batch: usize,
    /// Backoff between attempts while the transmitter is down or answers 5xx. The last delay
    /// repeats for ever: a revoke is never dropped. Default 1s, 5s, 30s, 2m, 10m, then hourly.
    pub retry: RetryConfig,
    /// The outbound HTTP client (timeouts, SSRF guard; loopback needs `allow_http` and an
    /// allow-listed network, see `ssf_http::ClientConfig::dev_loopback`).
    pub http: ClientConfig,
}

impl Default for EmitterConfig {
    fn default() -> Self {
        let mut retry = RetryConfig::default();
        retry.delays = [1, 5, 30, 120, 600, 3600]
            .into_iter()
            .map(Duration::from_secs)
            .collect();
        Self {
            events_url: None,
            token_url: None,
            client_id: None,
            client_secret: None,
            scope: "ssf.events.publish".to_owned(),
            static_token: None,
            refresh_before: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            batch: 50,
            retry,
            http: ClientConfig::default(),
        }
    }
}

impl EmitterConfig {
    fn validate(&self) -> Result<(), JitError> {
        let bad = |why: &str| Err(JitError::Config(format!("jit.emitter: {why}")));
        let Some(events_url) = &self.events_url else {
            return Ok(());
        };
        if url::Url::parse(events_url).is_err() {
            return bad("events_url is not a URL");
        }
        let oauth = [
            self.token_url.is_some(),
            self.client_id.is_some(),
            self.client_secret.is_some(),
        ];
        match (self.static_token.is_some(), oauth) {
            (true, [false, false, false]) => {}
            (false, [true, true, true]) => {
                if self
                    .token_url
                    .as_deref()
                    .is_some_and(|u| url::Url::parse(u).is_err())
                {
                    return bad("token_url is not a URL");
                }
            }
            (true, _) => {
                return bad("use either static_token or token_url/client_id/client_secret");
            }
            (false, _) => {
                return bad("set token_url, client_id and client_secret (or static_token)");
            }
        }
        if self.retry.delays.is_empty() {
            return bad("retry.delays must not be empty");
        }
        if self.batch == 0 {
            return bad("batch must be above 0");
        }
        Ok(())
    }
}

/// `Option<Duration>` where `"0s"` means off.
mod opt_duration {
    use std::time::Duration;

    use serde::Deserializer;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let value = ssf_http::duration_serde::deserialize(d)?;
        Ok((!value.is_zero()).then_some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
        access_levels = ["read", "read_write"]
        [emitter]
        events_url = "http://127.0.0.1:8080/events"
        static_token = "t0k3n"
        [systems.jira]
        kind = "jira"
        secret = "0123456789abcdef-jira"
        [systems.jira.rules]
        asset = { type = "customer", field = "customfield_10050" }
        access = { field = "priority.name", map = { Highest = "read_write" }, default = "read" }
        [systems.snow]
        kind = "servicenow"
        secret = "0123456789abcdef-snow"
        max_age = "0s"
    "#;

    #[test]
    fn example_parses_and_validates() {
        let c: JitConfig = toml::from_str(TOML).unwrap();
        c.validate().unwrap();
        let jira = &c.systems["jira"];
        assert_eq!(jira.auth_mode(), WebhookAuth::Hmac);
        assert_eq!(jira.auth_header(), "X-Hub-Signature");
        assert_eq!(jira.max_age, Some(Duration::from_secs(3600)));
        let snow = &c.systems["snow"];
        assert_eq!(snow.auth_mode(), WebhookAuth::Token);
        assert_eq!(snow.max_age, None);
        assert!(
            !format!("{c:?}").contains("0123456789abcdef"),
            "secrets are redacted"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let err = toml::from_str::<JitConfig>("max_body = 3").unwrap_err();
        assert!(err.to_string().contains("max_body"), "{err}");
        let mut c: JitConfig = toml::from_str(TOML).unwrap();
        c.access_levels = vec!["read".into()];
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("read_write"), "{err}");
        let c: JitConfig = toml::from_str(&TOML.replace("0123456789abcdef-snow", "short")).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("16"));
        let c: JitConfig = toml::from_str(&TOML.replace("static_token = \"t0k3n\"", "")).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("client_id"));
        let c: JitConfig = toml::from_str(&TOML.replace("\"servicenow\"", "\"zendesk\"")).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("zendesk"));
    }

    #[test]
    fn basic_auth_identities_and_state_lists_are_checked() {
        let with = |extra: &str| {
            let c: JitConfig = toml::from_str(
                &TOML.replace("max_age = \"0s\"", &format!("max_age = \"0s\"\n{extra}")),
            )
            .unwrap();
            c.validate().map(|()| c)
        };
        let c = with("auth = \"basic\"\nusername = \"svc.ssf.bridge\"").unwrap();
        assert_eq!(c.systems["snow"].auth_mode(), WebhookAuth::Basic);
        assert_eq!(c.systems["snow"].auth_header(), "Authorization");
        let err = |extra: &str| with(extra).unwrap_err().to_string();
        assert!(err("auth = \"basic\"").contains("username"));
        assert!(err("auth = \"basic\"\nusername = \"a:b\"").contains("':'"));
        assert!(err("username = \"svc\"").contains("only used with auth = \"basic\""));
        assert!(err("identities = { \"acc-1\" = \"\" }").contains("acc-1"));
        assert!(err("identities_file = \"/nonexistent/users.json\"").contains("identities_file"));
        let both = "[systems.snow.rules]\nopen_states = [\"2\", \"3\"]\nclosed_states = [\"3\"]";
        assert!(err(both).contains("in both open_states and closed_states"));
        let c = with("identities = { \"acc-1\" = \"jane@example.com\" }").unwrap();
        assert_eq!(c.systems["snow"].identities["acc-1"], "jane@example.com");
    }
}
