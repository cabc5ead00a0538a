//! Failures with their exit codes, and reading/writing the files the commands take.

use std::{
    fmt,
    io::{Read, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

use crate::cli::DEFAULT_KEYS_DIR;

/// Exit code of a rejected SET (`ssf set verify`) or a request the transmitter refused (4xx).
pub(crate) const EXIT_REJECTED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_RUNTIME: u8 = 3;

/// Why a command failed, which decides the exit code (see `ssf --help`).
#[derive(Debug)]
pub(crate) enum Failure {
    /// The other side refused the request (an HTTP 4xx answer): exit 1.
    Refused(anyhow::Error),
    /// Bad arguments or input: exit 2.
    Usage(anyhow::Error),
    /// The command could not complete (key store, network): exit 3.
    Runtime(anyhow::Error),
}

impl Failure {
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Refused(_) => EXIT_REJECTED,
            Self::Usage(_) => EXIT_USAGE,
            Self::Runtime(_) => EXIT_RUNTIME,
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(e) | Self::Usage(e) | Self::Runtime(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<ssf_receiver::ReceiverError> for Failure {
    /// A transmitter's 4xx answer is a refusal (exit 1), with the HTTP status and its error
    /// body; bad settings or requests are usage errors (exit 2); the rest could not complete
    /// (exit 3).
    fn from(e: ssf_receiver::ReceiverError) -> Self {
        use ssf_receiver::ReceiverError as E;
        let text = match &e {
            E::Transmitter { body, .. } if !body.is_empty() => format!("{e}\n{body}"),
            _ => e.to_string(),
        };
        let error = anyhow::anyhow!(text);
        match e.status() {
            Some(400..=499) => Self::Refused(error),
            _ => match e {
                E::Token(_) => Self::Refused(error),
                E::InvalidConfig { .. }
                | E::InvalidRequest(_)
                | E::InvalidUrl { .. }
                | E::Url(_) => Self::Usage(error),
                _ => Self::Runtime(error),
            },
        }
    }
}

/// A command's outcome.
pub(crate) type CmdResult = Result<ExitCode, Failure>;

/// A usage failure with a message.
pub(crate) fn usage(msg: impl fmt::Display) -> Failure {
    Failure::Usage(anyhow::anyhow!("{msg}"))
}

/// An error and its causes, `outer: cause: ...`: what an operator at the terminal needs (answers to
/// peers keep the constant top-level text).
pub(crate) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors already print their source in their own message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Attaches a context and a failure kind to any error.
pub(crate) trait Context<T> {
    fn or_usage(self, context: impl fmt::Display) -> Result<T, Failure>;
    fn or_runtime(self, context: impl fmt::Display) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> Context<T> for Result<T, E> {
    fn or_usage(self, context: impl fmt::Display) -> Result<T, Failure> {
        self.map_err(|e| Failure::Usage(e.into().context(context.to_string())))
    }

    fn or_runtime(self, context: impl fmt::Display) -> Result<T, Failure> {
        self.map_err(|e| Failure::Runtime(e.into().context(context.to_string())))
    }
}

/// The key directory: the flag, else `SSF_KEYS_DIR`, else `ssf-data/keys`.
pub(crate) fn keys_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("SSF_KEYS_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_KEYS_DIR))
}

/// The contents of a file, or of stdin for `-`.
pub(crate) fn read_file_or_stdin(arg: &str) -> Result<String, Failure> {
    if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .or_usage("reading stdin")?;
        Ok(text)
    } else {
        std::fs::read_to_string(arg).or_usage(format!("reading {arg}"))
    }
}

/// A token given on the command line or, for `-`, on stdin; surrounding whitespace removed.
pub(crate) fn read_token(arg: &str) -> Result<String, Failure> {
    let token = if arg == "-" {
        read_file_or_stdin(arg)?
    } else {
        arg.to_owned()
    };
    Ok(token.trim().to_owned())
}

/// Writes a private key file with mode 0600, refusing to overwrite unless `force`.
pub(crate) fn write_private_file(path: &Path, contents: &str, force: bool) -> Result<(), Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(usage(format!(
                "{} exists; pass --force to overwrite it",
                path.display()
            )));
        }
        Err(e) => return Err(e).or_runtime(format!("creating {}", path.display())),
    };
    // An existing file keeps its mode when truncated: tighten it too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .or_runtime(format!("setting the mode of {}", path.display()))?;
    }
    file.write_all(contents.as_bytes())
        .or_runtime(format!("writing {}", path.display()))?;
    file.sync_all()
        .or_runtime(format!("writing {}", path.display()))
}
