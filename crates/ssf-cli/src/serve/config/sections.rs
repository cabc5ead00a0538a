//! The `[enforce]` and `[jit]` sections of the `ssf serve` configuration.
//!
//! ```toml
//! [enforce]                        # present (with [receiver]): applied events feed the engine
//! # every ssf_enforce::EngineConfig key (policy, transmitters, access, token, grants), and these
//! # of `ssf serve`: enabled = true, pdp_token = "<bearer token the AuthZEN callers send>",
//! # pdp_max_evaluations = 256 (items per POST /access/v1/evaluations)
//! [enforce.grants]                 # who may grant with token-claims-change, and for how long
//! # sources = [{ iss = "https://bridge.example.com/", stream_ids = ["..."] }]  # default: any
//! # max_duration = "7d"
//!
//! [jit]                            # present: the ticket bridge runs
//! # every ssf_jit::JitConfig key (systems, emitter, ...), and: enabled = true;
//! # database default "<data_dir>/jit.db"
//! ```

use std::{path::Path, sync::Arc};

use serde::Deserialize;
use ssf_enforce::{EnforceError, Engine, EngineConfig};
use ssf_jit::JitConfig;
use ssf_types::SystemClock;
use ssf_types::secret::{ExposeSecret, SecretString};
use toml::{Table, Value};

use super::{Origin, take, typed};
use crate::{
    input::{Failure, usage},
    serve::stores::{PgSettings, StoreLocation},
};

/// The shortest accepted `enforce.pdp_token`.
const MIN_PDP_TOKEN: usize = 16;

/// The keys `ssf serve` adds to `[enforce]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct EnforceExtras {
    enabled: bool,
    pdp_token: Option<SecretString>,
    pdp_max_evaluations: usize,
}

impl Default for EnforceExtras {
    fn default() -> Self {
        Self {
            enabled: true,
            pdp_token: None,
            pdp_max_evaluations: ssf_enforce::authzen::DEFAULT_MAX_EVALUATIONS,
        }
    }
}

const ENFORCE_EXTRAS: &[&str] = &["enabled", "pdp_token", "pdp_max_evaluations"];

/// The enforcement settings: the engine's policy and how the AuthZEN PDP is protected.
#[derive(Debug)]
pub(crate) struct EnforceSection {
    /// The engine's settings (`[enforce.policy]`, `[enforce.access]`, `[enforce.token]`, ...).
    pub(crate) config: EngineConfig,
    /// The bearer token AuthZEN callers must send; `None`: the PDP is open (trusted networks
    /// only).
    pub(crate) pdp_token: Option<SecretString>,
    /// Most items of one `POST /access/v1/evaluations`.
    pub(crate) pdp_max_evaluations: usize,
}

/// The keys `ssf serve` adds to `[jit]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct JitExtras {
    enabled: bool,
}

impl Default for JitExtras {
    fn default() -> Self {
        Self { enabled: true }
    }
}

const JIT_EXTRAS: &[&str] = &["enabled"];

/// The ticket bridge's settings.
#[derive(Debug)]
pub(crate) struct JitSection {
    /// The library's settings; `database` is always set.
    pub(crate) config: JitConfig,
    /// `jit.database` read as a location (for `ssf migrate` and messages; passwords hidden).
    pub(crate) database: StoreLocation,
    /// Development mode: the `helpdesk` system and the emitter are filled in at start
    /// (credentials from `credentials.json`).
    pub(crate) dev: bool,
    /// Development mode with a transmitter role in this process: its base URL, which the
    /// emitter sends to (set by [`super::ServeConfig::finalize`]).
    pub(crate) local_transmitter: Option<String>,
}

/// Reads `[enforce]`.
pub(super) fn enforce_section(
    mut table: Table,
    origin: &Origin<'_>,
) -> Result<Option<EnforceSection>, Failure> {
    let extras: EnforceExtras = typed(take(&mut table, ENFORCE_EXTRAS), "enforce", origin)?;
    if !extras.enabled {
        return Ok(None);
    }
    if let Some(token) = &extras.pdp_token
        && token.expose_secret().trim().len() < MIN_PDP_TOKEN
    {
        return Err(usage(format!(
            "invalid setting `enforce.pdp_token` in {}: use at least {MIN_PDP_TOKEN} random \
             characters (e.g. `openssl rand -hex 32`)",
            origin.of("enforce.pdp_token")
        )));
    }
    if extras.pdp_max_evaluations == 0 {
        return Err(usage(format!(
            "invalid setting `enforce.pdp_max_evaluations` in {}: it must be at least 1 (the \
             default is {})",
            origin.of("enforce.pdp_max_evaluations"),
            ssf_enforce::authzen::DEFAULT_MAX_EVALUATIONS
        )));
    }
    let config: EngineConfig = typed(Value::Table(table), "enforce", origin)?;
    Ok(Some(EnforceSection {
        config,
        pdp_token: extras.pdp_token,
        pdp_max_evaluations: extras.pdp_max_evaluations,
    }))
}

/// Reads `[jit]`; the database defaults to `<data_dir>/jit.db`.
pub(super) fn jit_section(
    mut table: Table,
    data_dir: &Path,
    dev: bool,
    origin: &Origin<'_>,
) -> Result<Option<JitSection>, Failure> {
    let extras: JitExtras = typed(take(&mut table, JIT_EXTRAS), "jit", origin)?;
    if !extras.enabled {
        return Ok(None);
    }
    let mut config: JitConfig = typed(Value::Table(table), "jit", origin)?;
    let key = "jit.database";
    let database = match &config.database {
        Some(value) => StoreLocation::parse(key, value, PgSettings::default(), &origin.of(key))?,
        None => {
            let path = data_dir.join("jit.db");
            config.database = Some(path.display().to_string());
            StoreLocation::sqlite(key, &path)
        }
    };
    Ok(Some(JitSection {
        config,
        database,
        dev,
        local_transmitter: None,
    }))
}

/// What the engine checks when it starts (the access policy compiles, the grant settings hold).
pub(super) fn check_enforce(section: &EnforceSection, origin: &Origin<'_>) -> Result<(), Failure> {
    Engine::new(section.config.clone(), Arc::new(SystemClock))
        .map(drop)
        .map_err(|e| invalid_enforce(&e, |key| origin.of(key)))
}

/// The failure for an engine configuration error, naming the setting: the one the error names
/// (`grants.…`, `access.…`), else `enforce.access` (levels and permissions). `source` says where
/// a key was set.
pub(crate) fn invalid_enforce(e: &EnforceError, source: impl Fn(&str) -> String) -> Failure {
    let text = e.to_string();
    let setting = text
        .split_whitespace()
        .find(|w| w.starts_with("grants.") || w.starts_with("access."))
        .map(|w| {
            format!(
                "enforce.{}",
                w.trim_matches(|c: char| matches!(c, '`' | ':' | ','))
            )
        })
        .unwrap_or_else(|| "enforce.access".to_owned());
    let key = setting.split('[').next().unwrap_or(&setting);
    usage(format!(
        "invalid setting `{setting}` in {}: {text} (see docs/receiver.md)",
        source(key)
    ))
}

/// What the bridge checks when it starts (systems, rules, emitter); skipped in development
/// mode, whose system and emitter are made at start.
pub(super) fn check_jit(section: &JitSection, origin: &Origin<'_>) -> Result<(), Failure> {
    if section.dev {
        return Ok(());
    }
    section.config.validate().map_err(|e| {
        let text = e.to_string();
        let setting = text
            .split_whitespace()
            .find(|w| w.starts_with("jit."))
            .map(|w| w.trim_end_matches(':').to_owned())
            .unwrap_or_else(|| "jit".to_owned());
        usage(format!(
            "invalid setting `{setting}` in {}: {text} (see docs/jit.md)",
            origin.of(&setting)
        ))
    })
}

#[cfg(test)]
mod tests {
    use ssf_enforce::CriticalGroups;

    use super::super::{load, tests::load_str};

    #[test]
    fn enforce_reads_the_engine_config_and_the_token() {
        let config = load_str(
            "[receiver]\n[enforce]\npdp_token = \"0123456789abcdef0123\"\n[enforce.access]\ncritical = [\"customer\"]\n",
            &[],
        )
        .unwrap();
        let enforce = config.enforce.as_ref().unwrap();
        assert_eq!(enforce.config.access.critical, ["customer"]);
        assert!(enforce.pdp_token.is_some());
        assert!(!format!("{enforce:?}").contains("0123456789abcdef0123"));
        let off = load_str("[receiver]\n[enforce]\nenabled = false\n", &[]).unwrap();
        assert!(off.enforce.is_none());
        let err = load_str("[receiver]\n[enforce]\npdp_token = \"short\"\n", &[]).unwrap_err();
        assert!(err.contains("enforce.pdp_token"), "{err}");
        let err =
            load_str("[receiver]\n[enforce.policy]\nclaims_overlai = true\n", &[]).unwrap_err();
        assert!(err.contains("enforce.policy.claims_overlai"), "{err}");
    }

    #[test]
    fn enforce_grants_and_critical_group_scopes_read_from_toml() {
        let config = load_str(
            "[receiver]\n[enforce.grants]\nmax_duration = \"12h\"\nsources = [{ iss = \"https://bridge/\", stream_ids = [\"s1\"] }]\n\
             [enforce.access]\ncritical = [\"customer\"]\ncritical_allows_groups = true\ncritical_allows_token_groups = [\"customer:*\"]\n",
            &[],
        )
        .unwrap();
        let c = &config.enforce.as_ref().unwrap().config;
        assert_eq!(c.grants.max_duration.as_secs(), 12 * 3600);
        assert!(c.grants.may_grant("https://bridge/", Some("s1")));
        assert!(!c.grants.may_grant("https://idp/", Some("s1")));
        assert_eq!(c.access.critical_allows_groups, CriticalGroups::All);
        assert_eq!(
            c.access.critical_allows_token_groups,
            CriticalGroups::Assets(vec!["customer:*".into()])
        );
        // Unset: every verified transmitter may grant, for at most 7 days.
        let plain = load_str("[receiver]\n[enforce]\n", &[]).unwrap();
        let grants = &plain.enforce.as_ref().unwrap().config.grants;
        assert!(grants.sources.is_none());
        assert_eq!(grants.max_duration.as_secs(), 7 * 86_400);
    }

    #[test]
    fn enforce_errors_name_the_setting() {
        let err = |toml: &str| {
            let mut c = load_str(toml, &[])?;
            c.finalize("http://127.0.0.1:1").map_err(|e| e.to_string())
        };
        let e = err("[receiver]\n[enforce.grants]\nmax_duration = \"0s\"\n").unwrap_err();
        assert!(e.contains("`enforce.grants.max_duration`"), "{e}");
        let e = err("[receiver]\n[enforce.grants]\nmax_duration = \"7 days\"\n").unwrap_err();
        assert!(e.contains("enforce.grants.max_duration"), "{e}");
        let e = err("[receiver]\n[enforce.grants]\nsources = [{ iss = \"\" }]\n").unwrap_err();
        assert!(e.contains("`enforce.grants.sources[0].iss`"), "{e}");
        let e = err("[receiver]\n[enforce.access]\ncritical = [\"customer\"]\ncritical_allows_groups = [\"customers\"]\n")
            .unwrap_err();
        assert!(e.contains("`enforce.access.critical_allows_groups`"), "{e}");
        let e = err("[receiver]\n[enforce.access]\ncritical_allows_groups = \"customer\"\n")
            .unwrap_err();
        assert!(e.contains("enforce.access.critical_allows_groups"), "{e}");
    }

    #[test]
    fn jit_defaults_its_database_into_the_data_dir() {
        let config = load_str(
            "[server]\ndata_dir = \"d\"\n[jit.systems.helpdesk]\nkind = \"generic\"\nsecret = \"x\"\n",
            &[("SSF_JIT__SYSTEMS__HELPDESK__SECRET", "0123456789abcdef-env")],
        )
        .unwrap();
        assert_eq!(config.roles(), ["jit"]);
        let jit = config.jit.as_ref().unwrap();
        assert_eq!(jit.config.database.as_deref(), Some("d/jit.db"));
        assert!(!jit.dev);
        let mut checked = config;
        checked.finalize("http://127.0.0.1:1").unwrap();
        let off = load_str("[transmitter]\n[jit]\nenabled = false\n", &[]).unwrap();
        assert!(off.jit.is_none());
    }

    #[test]
    fn dev_mode_points_the_bridge_at_the_local_transmitter() {
        let mut config = load(None, Vec::new()).unwrap();
        config.finalize("http://127.0.0.1:4000").unwrap();
        let jit = config.jit.as_ref().unwrap();
        assert!(jit.dev);
        assert_eq!(
            jit.local_transmitter.as_deref(),
            Some("http://127.0.0.1:4000")
        );
    }
}
