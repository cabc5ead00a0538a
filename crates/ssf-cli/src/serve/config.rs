//! The `ssf serve` configuration: a TOML file (or built-in defaults), `SSF_*` environment
//! overrides applied onto its tree ([`super::env`]), then typed settings with unknown keys
//! refused everywhere.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8080"        # port 0: a free port, printed at start
//! data_dir = "ssf-data"
//! log_format = "pretty"            # or "json"
//! log_level = "info"               # tracing EnvFilter directives; RUST_LOG wins
//! shutdown_timeout = "10s"
//! # tls = { cert = "cert.pem", key = "key.pem" }
//!
//! [transmitter]                    # present: the transmitter runs
//! issuer = "https://idp.example.com"
//! # plus every ssf_transmitter::TransmitterConfig key, and these of `ssf serve`:
//! # enabled = true, signing_alg = "RS256", keys_dir = "<data_dir>/keys",
//! # database = "<data_dir>/transmitter.db" (a path, sqlite:// or postgres://),
//! # [transmitter.postgres] (max_connections, acquire_timeout, schema), dev_credentials = <auto>,
//! # [transmitter.storage] (secrets_key_file, previous_secrets_key_file: [`super::secrets`])
//!
//! [receiver]                       # present: the receiver runs
//! # every ssf_receiver::ReceiverConfig key, and these of `ssf serve`:
//! # enabled = true, [receiver.http] (ssf_http::ClientConfig of discovery, tokens, polls),
//! # database = "<data_dir>/receiver.sqlite" (a path, sqlite:// or postgres://; or the library's
//! # data_file), [receiver.postgres]
//!
//! [enforce]                        # with [receiver]: the enforcement engine and AuthZEN PDP
//! [jit]                            # the ticket bridge ([`sections`])
//! [console]                        # the operator console ([`console`])
//! ```
//!
//! Without a file, every role runs with its defaults in development mode: plain http and
//! loopback destinations allowed for outbound requests, development OAuth clients, and a
//! development ticket system (`helpdesk`) whose events go to the transmitter in this process.

pub(crate) mod console;
mod public_urls;
mod reading;
mod sections;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;
use ssf_http::ClientConfig;
use ssf_jose::Algorithm;
use ssf_receiver::config::ReceiverConfig;
use ssf_transmitter::{TransmitterConfig, metadata};
use toml::{Table, Value};

use self::reading::{Origin, take, typed};
pub(crate) use self::sections::{EnforceSection, JitSection, invalid_enforce};
use super::{
    env::{self, Override},
    secrets::{KeySources, StorageSettings},
    stores::{PgSettings, StoreLocation},
};
use crate::input::{Context, Failure, usage};

/// The `[server]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerSettings {
    /// The address to listen on; port 0 picks a free one. Default `127.0.0.1:8080`.
    pub(crate) listen: SocketAddr,
    /// Keys, databases and development credentials live here. Default `ssf-data`.
    pub(crate) data_dir: PathBuf,
    /// `pretty` (default) or `json` log lines on stderr.
    pub(crate) log_format: LogFormat,
    /// Log filter (tracing `EnvFilter` syntax) when `RUST_LOG` is not set. Default `info`.
    pub(crate) log_level: String,
    /// Serve https with these PEM files (rustls); default plain http (e.g. behind a proxy).
    pub(crate) tls: Option<TlsSettings>,
    /// How long requests in flight and background tasks get to finish after SIGINT/SIGTERM.
    #[serde(with = "ssf_http::duration_serde")]
    pub(crate) shutdown_timeout: Duration,
    /// `[server.auth_throttle]`: failed authentications per address before `429`.
    pub(crate) auth_throttle: super::throttle::ThrottleSettings,
    /// Reverse proxies whose `X-Forwarded-For` names the client (addresses, CIDR ranges);
    /// default none: the client is the TCP peer (D-SRV-03).
    pub(crate) trusted_proxies: super::client_addr::TrustedProxies,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("ssf-data"),
            log_format: LogFormat::Pretty,
            log_level: "info".to_owned(),
            tls: None,
            shutdown_timeout: Duration::from_secs(10),
            auth_throttle: super::throttle::ThrottleSettings::default(),
            trusted_proxies: super::client_addr::TrustedProxies::default(),
        }
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, fields included (`stream_id`, `jti`, ...).
    Json,
}

/// `[server.tls]`: PEM certificate chain and private key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsSettings {
    /// The certificate chain, leaf first.
    pub(crate) cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub(crate) key: PathBuf,
}

/// The keys `ssf serve` adds to `[transmitter]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TransmitterExtras {
    enabled: bool,
    signing_alg: Algorithm,
    keys_dir: Option<PathBuf>,
    database: Option<String>,
    postgres: PgSettings,
    dev_credentials: Option<bool>,
    storage: StorageSettings,
}

impl Default for TransmitterExtras {
    fn default() -> Self {
        Self {
            enabled: true,
            signing_alg: Algorithm::Rs256,
            keys_dir: None,
            database: None,
            postgres: PgSettings::default(),
            dev_credentials: None,
            storage: StorageSettings::default(),
        }
    }
}

const TRANSMITTER_EXTRAS: &[&str] = &[
    "enabled",
    "signing_alg",
    "keys_dir",
    "database",
    "postgres",
    "dev_credentials",
    "storage",
];

/// The keys `ssf serve` adds to `[receiver]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ReceiverExtras {
    enabled: bool,
    http: Option<ClientConfig>,
    database: Option<String>,
    postgres: PgSettings,
}

impl Default for ReceiverExtras {
    fn default() -> Self {
        Self {
            enabled: true,
            http: None,
            database: None,
            postgres: PgSettings::default(),
        }
    }
}

const RECEIVER_EXTRAS: &[&str] = &["enabled", "http", "database", "postgres"];

/// The top level: only these sections exist.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    server: ServerSettings,
    transmitter: Option<Table>,
    receiver: Option<Table>,
    enforce: Option<Table>,
    jit: Option<Table>,
    console: Option<Table>,
}

/// The transmitter role's settings.
#[derive(Debug)]
pub(crate) struct TransmitterSection {
    /// The library's settings; the issuer is final after [`ServeConfig::finalize`].
    pub(crate) config: TransmitterConfig,
    /// Whether the issuer was configured (else it follows the listen address).
    issuer_set: bool,
    /// The key directory (`ssf keys --dir` manages it too).
    pub(crate) keys_dir: PathBuf,
    /// `transmitter.database`: an SQLite file (default `<data_dir>/transmitter.db`) or
    /// PostgreSQL.
    pub(crate) database: StoreLocation,
    /// The algorithm of the key generated on first start.
    pub(crate) signing_alg: Algorithm,
    /// Create development OAuth clients (default: when none is configured).
    pub(crate) dev_credentials: bool,
    /// Where the secrets key comes from (`[transmitter.storage]`, `SSF_SECRETS_KEY`).
    pub(crate) secrets: KeySources,
}

/// The receiver role's settings.
#[derive(Debug)]
pub(crate) struct ReceiverSection {
    /// The library's settings; `public_base_url` is final after [`ServeConfig::finalize`].
    pub(crate) config: ReceiverConfig,
    /// The outbound client (discovery, tokens, JWKS, polls).
    pub(crate) http: ClientConfig,
    /// `receiver.database` (else `receiver.data_file`, default `<data_dir>/receiver.sqlite`).
    pub(crate) database: StoreLocation,
}

/// Everything `ssf serve` runs with.
#[derive(Debug)]
pub(crate) struct ServeConfig {
    /// `[server]`.
    pub(crate) server: ServerSettings,
    /// `[transmitter]`, when the role is enabled.
    pub(crate) transmitter: Option<TransmitterSection>,
    /// `[receiver]`, when the role is enabled.
    pub(crate) receiver: Option<ReceiverSection>,
    /// `[enforce]`, when enabled (the receiver's applied events feed it).
    pub(crate) enforce: Option<EnforceSection>,
    /// `[jit]`, when the ticket bridge is enabled.
    pub(crate) jit: Option<JitSection>,
    /// `[console]`, when the operator console is on.
    pub(crate) console: Option<console::ConsoleSection>,
    /// No file, or `--dev`: development defaults.
    pub(crate) dev: bool,
    /// Where the settings came from, for messages.
    pub(crate) source: String,
    /// The environment overrides applied.
    pub(crate) overrides: Vec<Override>,
}

/// Reads the file at `path` (or the defaults), applies the `SSF_*` overrides of `vars`, and
/// reads the typed settings. Every error names the key and where it was set.
pub(crate) fn load(
    path: Option<&Path>,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<ServeConfig, Failure> {
    load_with(path, vars, false)
}

/// [`load`], in development mode also with a file when `dev` (`ssf serve --dev`).
pub(crate) fn load_with(
    path: Option<&Path>,
    vars: impl IntoIterator<Item = (String, String)>,
    dev: bool,
) -> Result<ServeConfig, Failure> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let (mut tree, source, no_file) = match path {
        Some(path) => {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).or_usage(format!("reading {shown}"))?;
            let tree: Table = text
                .parse()
                .map_err(|e| usage(format!("{shown} is not valid TOML: {e}")))?;
            (tree, shown, false)
        }
        None => {
            let mut tree = Table::new();
            tree.insert("transmitter".into(), Value::Table(Table::new()));
            tree.insert("receiver".into(), Value::Table(Table::new()));
            tree.insert("enforce".into(), Value::Table(Table::new()));
            tree.insert("jit".into(), Value::Table(Table::new()));
            (tree, "the built-in defaults".to_owned(), true)
        }
    };
    let dev = dev || no_file;
    let overrides = env::overlay(&mut tree, vars.iter().cloned()).map_err(usage)?;
    let origin = Origin {
        source: &source,
        overrides: &overrides,
    };
    let raw: RawFile = typed(Value::Table(tree), "", &origin)?;
    let data_dir = raw.server.data_dir.clone();
    let transmitter = match raw.transmitter {
        Some(table) => transmitter_section(table, &data_dir, dev, &origin, &vars)?,
        None => None,
    };
    let receiver = match raw.receiver {
        Some(table) => receiver_section(table, &data_dir, dev, &origin)?,
        None => None,
    };
    let enforce = match raw.enforce {
        Some(table) => sections::enforce_section(table, &origin)?,
        None => None,
    };
    if enforce.is_some() && receiver.is_none() {
        return Err(usage(format!(
            "{source}: [enforce] acts on the events a receiver applies; add a [receiver] section \
             (see docs/receiver.md) or set enforce.enabled = false"
        )));
    }
    let jit = match raw.jit {
        Some(table) => sections::jit_section(table, &data_dir, dev, &origin)?,
        None => None,
    };
    let console = console::console_section(raw.console, dev, &origin)?;
    if transmitter.is_none() && receiver.is_none() && jit.is_none() {
        return Err(usage(format!(
            "{source} enables no role: add a [transmitter], [receiver] or [jit] section"
        )));
    }
    Ok(ServeConfig {
        server: raw.server,
        transmitter,
        receiver,
        enforce,
        jit,
        console,
        dev,
        source,
        overrides,
    })
}

fn transmitter_section(
    mut table: Table,
    data_dir: &Path,
    dev: bool,
    origin: &Origin<'_>,
    vars: &[(String, String)],
) -> Result<Option<TransmitterSection>, Failure> {
    let extras: TransmitterExtras =
        typed(take(&mut table, TRANSMITTER_EXTRAS), "transmitter", origin)?;
    if !extras.enabled {
        return Ok(None);
    }
    let issuer_set = table.contains_key("issuer");
    let push_http_set = table
        .get("push")
        .and_then(Value::as_table)
        .is_some_and(|t| t.contains_key("http"));
    let auth_http_set = table
        .get("auth")
        .and_then(Value::as_table)
        .is_some_and(|t| t.contains_key("http"));
    let mut config: TransmitterConfig = typed(Value::Table(table), "transmitter", origin)?;
    if dev {
        if !push_http_set {
            config.push.http = ClientConfig::dev_loopback();
        }
        if !auth_http_set {
            config.auth.http = ClientConfig::dev_loopback();
        }
    }
    if !matches!(
        extras.signing_alg,
        Algorithm::Rs256 | Algorithm::Ps256 | Algorithm::Es256 | Algorithm::EdDsa
    ) {
        return Err(usage(format!(
            "invalid setting `transmitter.signing_alg` in {}: use RS256, PS256, ES256 or EdDSA",
            origin.of("transmitter.signing_alg")
        )));
    }
    let auto_dev = config.auth.clients.is_empty() && config.auth.external_issuers.is_empty();
    let key = "transmitter.database";
    let database = match &extras.database {
        Some(value) => StoreLocation::parse(key, value, extras.postgres, &origin.of(key))?,
        None => StoreLocation::sqlite(key, &data_dir.join("transmitter.db")),
    };
    Ok(Some(TransmitterSection {
        config,
        issuer_set,
        keys_dir: extras.keys_dir.unwrap_or_else(|| data_dir.join("keys")),
        database,
        signing_alg: extras.signing_alg,
        dev_credentials: extras.dev_credentials.unwrap_or(auto_dev),
        secrets: KeySources::new(extras.storage, vars),
    }))
}

fn receiver_section(
    mut table: Table,
    data_dir: &Path,
    dev: bool,
    origin: &Origin<'_>,
) -> Result<Option<ReceiverSection>, Failure> {
    let extras: ReceiverExtras = typed(take(&mut table, RECEIVER_EXTRAS), "receiver", origin)?;
    if !extras.enabled {
        return Ok(None);
    }
    let data_file_set = table.contains_key("data_file");
    let mut config: ReceiverConfig = typed(Value::Table(table), "receiver", origin)?;
    if !data_file_set {
        config.data_file = data_dir.join("receiver.sqlite");
    }
    let key = "receiver.database";
    let database = match &extras.database {
        Some(_) if data_file_set => {
            return Err(usage(format!(
                "both `receiver.database` and `receiver.data_file` are set in {}: keep only \
                 `receiver.database` (a file path, sqlite:// or postgres://)",
                origin.of(key)
            )));
        }
        Some(value) => StoreLocation::parse(key, value, extras.postgres, &origin.of(key))?,
        None => StoreLocation::sqlite(key, &config.data_file),
    };
    let http = extras.http.unwrap_or_else(|| {
        if dev {
            ClientConfig::dev_loopback()
        } else {
            ClientConfig::default()
        }
    });
    Ok(Some(ReceiverSection {
        config,
        http,
        database,
    }))
}

impl ServeConfig {
    /// Fills in what follows from the address actually served (`base_url`, e.g.
    /// `http://127.0.0.1:8080`): the issuer and the receiver's public base URL when they were
    /// not configured. Then checks every setting the libraries check at start.
    pub(crate) fn finalize(&mut self, base_url: &str) -> Result<(), Failure> {
        let origin = Origin {
            source: &self.source,
            overrides: &self.overrides,
        };
        if let Some(tx) = &mut self.transmitter {
            if !tx.issuer_set {
                tx.config.issuer = base_url.to_owned();
            }
            let c = &tx.config;
            let checks: [(&str, Result<(), String>); 4] = [
                ("transmitter.issuer", metadata::validate_urls(c)),
                ("transmitter.auth", c.auth.validate()),
                ("transmitter.streams", c.streams.validate()),
                ("transmitter.push", c.push.validate()),
            ];
            for (key, result) in checks {
                result.map_err(|e| {
                    usage(format!(
                        "invalid setting `{key}` in {}: {e}",
                        origin.of(key)
                    ))
                })?;
            }
        }
        if let Some(rx) = &mut self.receiver {
            if rx.config.public_base_url.is_none() {
                rx.config.public_base_url = Some(base_url.to_owned());
            }
            rx.config.validate().map_err(|e| {
                usage(format!(
                    "{e} (in {}; see docs/receiver.md)",
                    origin.of("receiver")
                ))
            })?;
        }
        if let Some(enforce) = &self.enforce {
            sections::check_enforce(enforce, &origin)?;
        }
        if !self.dev {
            public_urls::check(self, &origin)?;
        }
        if let Some(jit) = &mut self.jit {
            if jit.dev && self.transmitter.is_some() {
                jit.local_transmitter = Some(base_url.to_owned());
            }
            sections::check_jit(jit, &origin)?;
        }
        Ok(())
    }

    /// The enabled roles, for messages.
    pub(crate) fn roles(&self) -> Vec<&'static str> {
        let mut roles = Vec::new();
        if self.transmitter.is_some() {
            roles.push("transmitter");
        }
        if self.receiver.is_some() {
            roles.push("receiver");
        }
        if self.enforce.is_some() {
            roles.push("enforce");
        }
        if self.jit.is_some() {
            roles.push("jit");
        }
        roles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `text` as a config file with `vars` as the environment (also used by `sections`).
    pub(super) fn load_str(text: &str, vars: &[(&str, &str)]) -> Result<ServeConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ssf.toml");
        std::fs::write(&path, text).unwrap();
        let vars = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        load(Some(&path), vars).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_enable_both_roles_in_dev_mode() {
        let config = load(None, Vec::new()).unwrap();
        assert!(config.dev);
        assert_eq!(
            config.roles(),
            ["transmitter", "receiver", "enforce", "jit"]
        );
        let tx = config.transmitter.as_ref().unwrap();
        assert!(tx.dev_credentials);
        assert!(tx.config.push.http.allow_http);
        assert_eq!(tx.keys_dir, Path::new("ssf-data/keys"));
        let rx = config.receiver.as_ref().unwrap();
        assert_eq!(rx.config.data_file, Path::new("ssf-data/receiver.sqlite"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = load_str("[transmitter]\nissuerr = \"x\"\n", &[]).unwrap_err();
        assert!(
            err.contains("issuerr") && err.contains("transmitter"),
            "{err}"
        );
        let err = load_str("[server]\nlisten = \"127.0.0.1:1\"\nport = 1\n", &[]).unwrap_err();
        assert!(err.contains("port"), "{err}");
        let err = load_str("[jot]\n", &[]).unwrap_err();
        assert!(err.contains("jot"), "{err}");
        let err = load_str("[transmitter.push]\nworkerz = 2\n", &[]).unwrap_err();
        assert!(
            err.contains("transmitter.push") && err.contains("workerz"),
            "{err}"
        );
    }

    #[test]
    fn env_overrides_apply_and_are_blamed() {
        let config = load_str(
            "[transmitter]\n",
            &[
                ("SSF_SERVER__LISTEN", "127.0.0.1:9"),
                ("SSF_TRANSMITTER__ISSUER", "https://idp.example.com"),
            ],
        )
        .unwrap();
        assert_eq!(config.server.listen.port(), 9);
        let tx = config.transmitter.as_ref().unwrap();
        assert_eq!(tx.config.issuer, "https://idp.example.com");
        assert!(
            !tx.config.push.http.allow_http,
            "a file means production defaults"
        );
        let err = load_str(
            "[transmitter]\n",
            &[("SSF_TRANSMITTER__PUSH__WORKERS", "many")],
        )
        .unwrap_err();
        assert!(
            err.contains("transmitter.push.workers")
                && err.contains("SSF_TRANSMITTER__PUSH__WORKERS"),
            "{err}"
        );
    }

    #[test]
    fn finalize_fills_and_checks() {
        let mut config = load_str("[transmitter]\n[receiver]\n", &[]).unwrap();
        config.finalize("http://127.0.0.1:4000").unwrap();
        assert_eq!(
            config.transmitter.as_ref().unwrap().config.issuer,
            "http://127.0.0.1:4000"
        );
        let mut bad = load_str("[transmitter]\nissuer = \"not a url\"\n", &[]).unwrap();
        let err = bad
            .finalize("http://127.0.0.1:4000")
            .unwrap_err()
            .to_string();
        assert!(err.contains("transmitter.issuer"), "{err}");
        let none = load_str("[receiver]\nenabled = false\n", &[]).unwrap_err();
        assert!(none.contains("no role"), "{none}");
    }
}
