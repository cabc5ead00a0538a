//! The `[console]` section: the operator console in the browser (decision D-SRV-02).
//!
//! ```toml
//! [console]
//! admin_token_hash = "sha256:<hex SHA-256 of the admin token>"
//! # enabled = true
//! ```
//!
//! Off unless configured; in development mode (no configuration file, or `--dev`) on without
//! the section, with a token generated into `<data_dir>/console-token`. `enabled = false`
//! turns it off in development mode too.

use serde::Deserialize;
use toml::{Table, Value};

use super::{Origin, typed};
use crate::input::{Failure, usage};

/// `[console]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConsole {
    enabled: bool,
    admin_token_hash: Option<String>,
}

impl Default for RawConsole {
    fn default() -> Self {
        Self {
            enabled: true,
            admin_token_hash: None,
        }
    }
}

/// The console's settings.
#[derive(Debug, Clone)]
pub(crate) struct ConsoleSection {
    /// `sha256:<hex>` of the admin token; `None` in development mode without one: a token is
    /// generated at start.
    pub(crate) admin_token_hash: Option<String>,
}

/// How to make a hash, for messages.
pub(crate) const HASH_RECIPE: &str = "make one with `TOKEN=$(openssl rand -hex 32); printf \
    'sha256:%s\\n' \"$(printf %s \"$TOKEN\" | sha256sum | cut -d' ' -f1)\"` and sign in with \
    $TOKEN";

/// Reads `[console]`: `None` when the console is off.
pub(super) fn console_section(
    table: Option<Table>,
    dev: bool,
    origin: &Origin<'_>,
) -> Result<Option<ConsoleSection>, Failure> {
    let raw: RawConsole = match table {
        Some(table) => typed(Value::Table(table), "console", origin)?,
        None if dev => RawConsole::default(),
        None => return Ok(None),
    };
    if !raw.enabled {
        return Ok(None);
    }
    match raw.admin_token_hash {
        Some(hash) if ssf_transmitter::auth::is_valid_hash(hash.trim()) => {
            Ok(Some(ConsoleSection {
                admin_token_hash: Some(hash.trim().to_owned()),
            }))
        }
        Some(_) => Err(usage(format!(
            "invalid setting `console.admin_token_hash` in {}: it must be `sha256:<64 hex \
             digits>`, the SHA-256 of the admin token; {HASH_RECIPE}",
            origin.of("console.admin_token_hash")
        ))),
        None if dev => Ok(Some(ConsoleSection {
            admin_token_hash: None,
        })),
        None => Err(usage(format!(
            "{}: [console] needs `admin_token_hash` (or `enabled = false`); {HASH_RECIPE}",
            origin.of("console")
        ))),
    }
}
