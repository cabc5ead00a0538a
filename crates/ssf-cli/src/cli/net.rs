//! Command-line types of the networked commands: `ssf serve`, `ssf emit`, `ssf stream`, `ssf tail`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{AlgArg, InitiatingEntity};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The configuration file (TOML). Without one: every role on loopback, data in ./ssf-data.
    #[arg(long, env = "SSF_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Validate the configuration (file plus SSF_* overrides), print a summary and exit.
    #[arg(long)]
    pub(crate) check: bool,
    /// Development mode also with --config: plain http issuer and public URLs on any host,
    /// http and loopback allowed for outbound requests unless configured, the development
    /// ticket system, and a secrets key generated once into the data directory. Local
    /// testing only.
    #[arg(long)]
    pub(crate) dev: bool,
}

/// How a command authenticates to a transmitter: a bearer token, or OAuth 2.0 client
/// credentials exchanged for one.
#[derive(Debug, Args)]
pub(crate) struct AuthArgs {
    /// A bearer access token [env: SSF_TOKEN].
    #[arg(
        long,
        env = "SSF_TOKEN",
        hide_env_values = true,
        conflicts_with = "client_id"
    )]
    pub(crate) token: Option<String>,
    /// OAuth client id (client credentials grant; needs --client-secret).
    #[arg(long)]
    pub(crate) client_id: Option<String>,
    /// OAuth client secret [env: SSF_CLIENT_SECRET]; prefer the variable: flags show in `ps`.
    #[arg(long, env = "SSF_CLIENT_SECRET", hide_env_values = true)]
    pub(crate) client_secret: Option<String>,
    /// The token endpoint (default: from the transmitter's RFC 8414 metadata).
    #[arg(long, value_name = "URL")]
    pub(crate) token_endpoint: Option<String>,
    /// The scope to ask for (default: what the command needs).
    #[arg(long)]
    pub(crate) scope: Option<String>,
}

/// Which transmitter, and how to talk to it.
#[derive(Debug, Args)]
pub(crate) struct Connection {
    /// The transmitter's issuer (discovery: /.well-known/ssf-configuration with path insertion).
    #[arg(long, env = "SSF_ISSUER", value_name = "URL")]
    pub(crate) issuer: String,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
    /// Accept draft-era (pre-1.0) metadata and bodies from this transmitter.
    #[arg(long)]
    pub(crate) legacy: bool,
}

#[derive(Debug, Args)]
pub(crate) struct EmitArgs {
    /// The transmitter's issuer (it may have a path); the event is POSTed to the
    /// `events_endpoint` of its metadata (/.well-known/ssf-configuration with path insertion),
    /// else to {URL}/events.
    #[arg(long, env = "SSF_TRANSMITTER", value_name = "URL")]
    pub(crate) transmitter: String,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
    /// Event name (session-revoked, credential-change, account-disabled, ...) or event-type URI.
    #[arg(long)]
    pub(crate) event: String,
    /// Subject (sub_id), e.g. email:jane@example.com, or a JSON object.
    #[arg(long)]
    pub(crate) subject: String,
    /// reason_admin (English) for the event.
    #[arg(long)]
    pub(crate) reason_admin: Option<String>,
    /// reason_user (English) for the event.
    #[arg(long)]
    pub(crate) reason_user: Option<String>,
    /// initiating_entity of the event.
    #[arg(long, value_enum)]
    pub(crate) initiating_entity: Option<InitiatingEntity>,
    /// event_timestamp in epoch seconds (default: now).
    #[arg(long)]
    pub(crate) event_timestamp: Option<i64>,
    /// Transaction id (txn) shared by every SET of this event (default: generated).
    #[arg(long)]
    pub(crate) txn: Option<String>,
    /// Extra event member NAME=VALUE; VALUE is JSON if it parses, else a string (repeatable).
    #[arg(long = "field", value_name = "NAME=VALUE")]
    pub(crate) fields: Vec<String>,
    /// The Idempotency-Key sent with the event (default: a new UUID): a transmitter answers a
    /// second request with the same key and event with the first answer and queues nothing.
    /// 1 to 255 printable ASCII characters.
    #[arg(long, value_name = "KEY")]
    pub(crate) idempotency_key: Option<String>,
    /// How often to try again, with the same Idempotency-Key, after a 503 or 429 answer, a
    /// connection failure or a timeout (Retry-After honoured up to 30 s; else 1 s, 2 s, 4 s...).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub(crate) retries: u32,
}

#[derive(Debug, Subcommand)]
pub(crate) enum StreamCommand {
    /// Create a stream (push or poll) and print its configuration.
    #[command(
        long_about = "Create a stream (SSF 1.0 §8.1.1.1) and print the configuration the \
        transmitter answers with (201). --push URL makes a push stream (RFC 8935) to URL, with \
        --push-auth as the Authorization value the transmitter must send; --poll makes a poll \
        stream (RFC 8936) whose URL the transmitter assigns.\n\nExamples:\n  \
        ssf stream create --issuer http://127.0.0.1:8080 --client-id dev-receiver --poll \\\n    \
        --event session-revoked --event credential-change\n  \
        ssf stream create --issuer https://idp.example.com --token \"$TOKEN\" \\\n    \
        --push https://app.example.com/ssf/push/idp --push-auth \"Bearer 5f2c...\" --event session-revoked"
    )]
    Create(CreateArgs),
    /// Read one stream's configuration.
    #[command(
        long_about = "Read one stream's configuration (GET ?stream_id=, SSF 1.0 §8.1.1.2).\n\n\
        Example:\n  ssf stream get --issuer http://127.0.0.1:8080 --client-id dev-receiver --stream-id 0f3a..."
    )]
    Get(StreamIdArgs),
    /// List this client's streams.
    #[command(
        long_about = "List the streams of the calling client (GET without stream_id), as a \
        JSON array.\n\nExample:\n  ssf stream list --issuer http://127.0.0.1:8080 --client-id dev-receiver"
    )]
    List(ConnectionOnly),
    /// Change some properties of a stream (PATCH).
    #[command(
        long_about = "Change the given receiver-supplied properties of a stream (PATCH, \
        SSF 1.0 §8.1.1.3); the others stay as they are.\n\nExample:\n  \
        ssf stream update --issuer http://127.0.0.1:8080 --client-id dev-receiver --stream-id 0f3a... \\\n    \
        --event session-revoked --event token-claims-change"
    )]
    Update(ModifyArgs),
    /// Replace a stream's receiver-supplied properties (PUT).
    #[command(
        long_about = "Replace every receiver-supplied property of a stream (PUT, SSF 1.0 \
        §8.1.1.4): a property not given is removed.\n\nExample:\n  \
        ssf stream replace --issuer http://127.0.0.1:8080 --client-id dev-receiver --stream-id 0f3a... \\\n    \
        --poll --event session-revoked"
    )]
    Replace(ModifyArgs),
    /// Delete a stream.
    #[command(
        long_about = "Delete a stream (DELETE ?stream_id=, SSF 1.0 §8.1.1.5).\n\n\
        Example:\n  ssf stream delete --issuer http://127.0.0.1:8080 --client-id dev-receiver --stream-id 0f3a..."
    )]
    Delete(StreamIdArgs),
    /// Read a stream's status.
    #[command(
        long_about = "Read a stream's status (enabled, paused, disabled) and reason \
        (SSF 1.0 §8.1.2.1).\n\nExample:\n  \
        ssf stream status --issuer http://127.0.0.1:8080 --client-id dev-receiver --stream-id 0f3a..."
    )]
    Status(StreamIdArgs),
    /// Set a stream's status.
    #[command(
        long_about = "Set a stream's status (SSF 1.0 §8.1.2.2): paused holds events, \
        disabled drops them.\n\nExample:\n  \
        ssf stream set-status --issuer http://127.0.0.1:8080 --client-id dev-receiver --stream-id 0f3a... \\\n    \
        --status paused --reason \"maintenance\""
    )]
    SetStatus(SetStatusArgs),
    /// Ask for a verification event.
    #[command(
        long_about = "Ask the transmitter to send a verification event on the stream \
        (SSF 1.0 §8.1.4.2), carrying --state if given. It arrives like any event: watch it with \
        `ssf tail` (poll) or at your push endpoint.\n\nExample:\n  \
        ssf stream verify --issuer http://127.0.0.1:8080 --client-id dev-receiver --stream-id 0f3a... --state abc123"
    )]
    Verify(VerifyStreamArgs),
    /// Add a subject to a stream.
    #[command(
        long_about = "Add a subject to a stream (SSF 1.0 §8.1.3.2). Subjects: \
        email:ADDR, phone_number:+E164, opaque:ID, account:acct:USER@HOST, uri:URI, did:DID, \
        iss_sub:ISSUER|SUBJECT, or a JSON object.\n\nExample:\n  \
        ssf stream add-subject --issuer http://127.0.0.1:8080 --client-id dev-receiver --stream-id 0f3a... \\\n    \
        --subject email:jane@example.com"
    )]
    AddSubject(SubjectArgs),
    /// Remove a subject from a stream.
    #[command(
        long_about = "Remove a subject from a stream (SSF 1.0 §8.1.3.3).\n\nExample:\n  \
        ssf stream remove-subject --issuer http://127.0.0.1:8080 --client-id dev-receiver --stream-id 0f3a... \\\n    \
        --subject email:jane@example.com"
    )]
    RemoveSubject(SubjectArgs),
}

impl StreamCommand {
    /// The connection arguments every operation has.
    pub(crate) fn connection(&self) -> &Connection {
        match self {
            Self::Create(a) => &a.conn,
            Self::Get(a) | Self::Delete(a) | Self::Status(a) => &a.conn,
            Self::List(a) => &a.conn,
            Self::Update(a) | Self::Replace(a) => &a.conn,
            Self::SetStatus(a) => &a.conn,
            Self::Verify(a) => &a.conn,
            Self::AddSubject(a) | Self::RemoveSubject(a) => &a.conn,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct ConnectionOnly {
    #[command(flatten)]
    pub(crate) conn: Connection,
}

#[derive(Debug, Args)]
pub(crate) struct StreamIdArgs {
    #[command(flatten)]
    pub(crate) conn: Connection,
    /// The stream's id.
    #[arg(long)]
    pub(crate) stream_id: String,
}

/// Receiver-supplied stream properties given on the command line.
#[derive(Debug, Args)]
pub(crate) struct StreamProps {
    /// Push delivery (RFC 8935) to this URL.
    #[arg(long, value_name = "URL", conflicts_with = "poll")]
    pub(crate) push: Option<String>,
    /// The Authorization header value the transmitter sends with each push.
    #[arg(long, value_name = "HEADER", requires = "push")]
    pub(crate) push_auth: Option<String>,
    /// Poll delivery (RFC 8936); the transmitter assigns the poll URL.
    #[arg(long)]
    pub(crate) poll: bool,
    /// An event type to request: a name (session-revoked, ...) or a URI (repeatable).
    #[arg(long = "event", value_name = "NAME|URI")]
    pub(crate) events: Vec<String>,
    /// The stream's description.
    #[arg(long)]
    pub(crate) description: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    pub(crate) conn: Connection,
    #[command(flatten)]
    pub(crate) props: StreamProps,
}

#[derive(Debug, Args)]
pub(crate) struct ModifyArgs {
    #[command(flatten)]
    pub(crate) conn: Connection,
    /// The stream's id.
    #[arg(long)]
    pub(crate) stream_id: String,
    #[command(flatten)]
    pub(crate) props: StreamProps,
}

/// A stream status on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusArg {
    /// Events are transmitted.
    Enabled,
    /// Events are held until the stream is enabled again.
    Paused,
    /// Events are dropped.
    Disabled,
}

#[derive(Debug, Args)]
pub(crate) struct SetStatusArgs {
    #[command(flatten)]
    pub(crate) conn: Connection,
    /// The stream's id.
    #[arg(long)]
    pub(crate) stream_id: String,
    /// The new status.
    #[arg(long, value_enum)]
    pub(crate) status: StatusArg,
    /// Why (shown to the other side).
    #[arg(long)]
    pub(crate) reason: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyStreamArgs {
    #[command(flatten)]
    pub(crate) conn: Connection,
    /// The stream's id.
    #[arg(long)]
    pub(crate) stream_id: String,
    /// The state the verification event should echo.
    #[arg(long)]
    pub(crate) state: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SubjectArgs {
    #[command(flatten)]
    pub(crate) conn: Connection,
    /// The stream's id.
    #[arg(long)]
    pub(crate) stream_id: String,
    /// The subject, e.g. email:jane@example.com, or a JSON object.
    #[arg(long)]
    pub(crate) subject: String,
    /// Say whether the receiver verified the subject (add-subject only).
    #[arg(long)]
    pub(crate) verified: Option<bool>,
}

#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    #[command(flatten)]
    pub(crate) conn: Connection,
    /// The poll stream to follow.
    #[arg(long)]
    pub(crate) stream_id: String,
    /// Expected audience; repeat for several [default: the stream's aud].
    #[arg(long)]
    pub(crate) aud: Vec<String>,
    /// Allowed algorithm; repeat for several [default: RS256].
    #[arg(long, value_enum)]
    pub(crate) alg: Vec<AlgArg>,
    /// Acknowledge verified SETs (the default): the transmitter deletes them.
    #[arg(long, overrides_with = "no_ack")]
    pub(crate) ack: bool,
    /// Do not acknowledge: the transmitter hands the SETs out again later.
    #[arg(long)]
    pub(crate) no_ack: bool,
    /// Most SETs per poll.
    #[arg(long, default_value_t = 100)]
    pub(crate) max_events: u32,
    /// Stop after this many SETs (default: run until Ctrl-C).
    #[arg(long)]
    pub(crate) count: Option<usize>,
}
