//! Command-line types (clap derive). Help texts teach: each command has a one-line `about` and a
//! `long_about` with an example. The networked commands' arguments are in [`net`].

mod jit;
mod net;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ssf_jose::Algorithm;

pub(crate) use self::jit::{JIT_EXIT_CODES, JitArgs, JitCommand, ReconcileArgs, RevokeArgs};
pub(crate) use self::net::{
    AuthArgs, Connection, EmitArgs, ServeArgs, StatusArg, StreamCommand, StreamProps, TailArgs,
};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  rejected: the SET did not verify (`ssf set verify`; the reason and its RFC 8935 err code
     are on stderr), or the transmitter refused the request with a 4xx answer (`ssf emit`,
     `ssf stream`, `ssf tail`; the HTTP status and the transmitter's error are on stderr)
  2  usage error: bad or missing arguments, unreadable or malformed input, an invalid
     configuration (`ssf serve`)
  3  the command could not complete (key store, network, a 5xx answer, the server failed)";

/// Default key directory, under the data directory `ssf serve` uses without a config.
pub(crate) const DEFAULT_KEYS_DIR: &str = "ssf-data/keys";

#[derive(Debug, Parser)]
#[command(
    name = "ssf",
    version,
    about = "Shared Signals (OpenID SSF 1.0, CAEP 1.0, RISC 1.0) from the command line",
    long_about = "Shared Signals (OpenID SSF 1.0, CAEP 1.0, RISC 1.0) from the command line.\n\n\
        Security Event Tokens (SETs, RFC 8417) carry security events such as \"this session was \
        revoked\" from a transmitter to receivers. `ssf keys` manages the transmitter's signing \
        keys and the JWKS it publishes; `ssf set` signs, inspects and verifies SETs. `ssf serve` \
        runs a transmitter and a receiver; `ssf emit` publishes an event to a transmitter, \
        `ssf stream` manages streams on any SSF transmitter, `ssf tail` follows a poll stream.\n\n\
        Run a transmitter:\n  \
        ssf serve                       # http://127.0.0.1:8080, data and credentials in ./ssf-data\n\n\
        Quick start with SETs:\n  \
        ssf keys generate --dir keys\n  \
        ssf keys jwks --dir keys > jwks.json\n  \
        ssf set sign --dir keys --iss https://idp.example.com --aud https://app.example.com \\\n      \
        --event session-revoked --subject email:jane@example.com > set.jwt\n  \
        ssf set verify - --jwks jwks.json --iss https://idp.example.com \
        --aud https://app.example.com < set.jwt",
    after_help = EXIT_CODES
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub(crate) enum Command {
    /// Generate, publish and rotate SET signing keys.
    #[command(
        subcommand,
        long_about = "Generate, publish and rotate SET signing keys.\n\n\
        A key directory holds one PKCS#8 PEM file per key (mode 0600) and an index, keys.json, \
        that says which key signs (current), which is published ahead of use (next) and which \
        are kept published for SETs still in flight (previous). Only public keys ever appear in \
        the JWKS.\n\nExample:\n  ssf keys generate --dir keys --alg ES256\n  ssf keys jwks --dir keys"
    )]
    Keys(KeysCommand),
    /// Sign, decode and verify Security Event Tokens.
    #[command(
        subcommand,
        long_about = "Sign, decode and verify Security Event Tokens (RFC 8417).\n\n\
        Example:\n  ssf set sign --key k.pem --iss https://idp.example.com --aud https://app.example.com \\\n    \
        --event session-revoked --subject email:jane@example.com | ssf set decode -"
    )]
    Set(SetCommand),
    /// Run a transmitter, a receiver with enforcement, and/or the ticket bridge.
    #[command(
        long_about = "Run the roles of the configuration on one HTTP listener: the \
        transmitter (discovery, OAuth token endpoint, stream management, POST /events, push \
        workers, poll endpoints), the receiver (push endpoints /ssf/push/{peer}, pollers, \
        verification, de-duplication) with, under [enforce], the continuous access evaluation \
        engine and its AuthZEN 1.0 PDP (POST /access/v1/evaluation, /access/v1/evaluations), \
        and, under [jit], the just-in-time ticket bridge (webhooks /jit/webhooks/{system}, the \
        emitter of CAEP token-claims-change grants and revokes, expiry), plus GET /healthz and \
        GET /metrics (Prometheus).\n\n\
        Without --config: every role on 127.0.0.1:8080 with data in ./ssf-data, a signing key \
        generated on first start, development OAuth clients whose secrets are written once \
        to ssf-data/credentials.json (mode 0600), and a development ticket system `helpdesk` \
        whose webhook secret is kept there too and whose events go to this transmitter; \
        --dev gives a configuration file the same development mode. Outside it, a transmitter \
        needs a secrets key (SSF_SECRETS_KEY or transmitter.storage.secrets_key_file) that \
        encrypts push secrets in its database, and its issuer must be https unless on loopback. \
        Every setting can be overridden from the \
        environment: SSF_<SECTION>__<KEY>[__<SUBKEY>...], e.g. SSF_SERVER__LISTEN=0.0.0.0:9000 \
        or SSF_TRANSMITTER__ISSUER=https://idp.example.com (values are TOML: 42, true, \
        [\"a\"], else a string). SIGINT or SIGTERM stops the server gracefully (exit 0). See \
        docs/transmitter.md, docs/receiver.md and docs/jit.md for the configuration reference.\n\n\
        Examples:\n  ssf serve\n  ssf serve --config ssf.toml\n  \
        SSF_SERVER__LOG_FORMAT=json ssf serve --config ssf.toml\n  ssf serve --config ssf.toml --check"
    )]
    Serve(ServeArgs),
    /// Apply (or with --check list) the database migrations of every configured store.
    #[command(
        long_about = "Bring the schema of every store of the configuration up to date and \
        print, per store, its location (passwords hidden) and the migrations it applied. The \
        stores and their locations are those `ssf serve` would open: transmitter.database and \
        receiver.database, SQLite files or postgres:// URLs, with the same SSF_* overrides. \
        `ssf serve` also migrates at start; run this first when several nodes share one \
        PostgreSQL database, or to see what a new version changes. Safe to run concurrently \
        (the migrator takes a lock) and again (it does nothing when up to date).\n\n\
        --check only reads: it lists the pending migrations and exits 1 when there are any, 0 \
        when every store is up to date.\n\n\
        Examples:\n  ssf migrate --config ssf.toml\n  ssf migrate --config ssf.toml --check\n  \
        SSF_TRANSMITTER__DATABASE=postgres://ssf@db.example.com/ssf ssf migrate --config ssf.toml"
    )]
    Migrate(MigrateArgs),
    /// Publish an event to a transmitter (POST /events).
    #[command(
        long_about = "Publish one event to a transmitter's POST /events and print its \
        answer: the txn, how many streams it was queued for, and the jti of each SET. The \
        client needs the ssf.events.publish scope. Events and subjects are given like for \
        `ssf set sign`.\n\n--transmitter is the issuer, with its path if it has one: the events \
        endpoint is read from its metadata (events_endpoint), else {URL}/events. Every request \
        carries an Idempotency-Key (a new UUID, or --idempotency-key), so after a 503 or 429 \
        answer, a connection failure or a timeout the same request is sent again (--retries, \
        default 4; one line on stderr per retry) without risk of queuing the event twice.\n\nExamples:\n  \
        SSF_CLIENT_SECRET=... ssf emit --transmitter http://127.0.0.1:8080 --client-id dev-producer \\\n    \
        --event session-revoked --subject email:jane@example.com --reason-admin \"Policy violation\"\n  \
        ssf emit --transmitter https://idp.example.com --token \"$TOKEN\" --event token-claims-change \\\n    \
        --subject email:jane@example.com --field 'claims={\"customer_id\":\"C2148\"}' --txn ticket-42"
    )]
    Emit(EmitArgs),
    /// Manage streams on any SSF transmitter (create, get, list, update, ...).
    #[command(
        subcommand,
        long_about = "Manage streams on any SSF 1.0 transmitter through its stream \
        management API, found by discovery from --issuer. Every operation prints JSON; a refusal \
        prints the HTTP status and the transmitter's error and exits 1. Authenticate with \
        --token, or --client-id and --client-secret (or SSF_CLIENT_SECRET) for the client \
        credentials grant.\n\nExample:\n  \
        export SSF_ISSUER=http://127.0.0.1:8080 SSF_CLIENT_SECRET=...\n  \
        ssf stream create --client-id dev-receiver --poll --event session-revoked\n  \
        ssf stream list --client-id dev-receiver"
    )]
    Stream(StreamCommand),
    /// Follow a poll stream, verifying and printing each SET.
    #[command(
        long_about = "Long-poll a stream's poll endpoint (RFC 8936), verify each SET \
        against the transmitter's JWKS (iss = --issuer, aud = the stream's aud or --aud), and \
        print one block per SET: event type, subject, jti, iat, txn and the event's members, \
        or why it was refused. Verified SETs are acknowledged (unless --no-ack); refused ones \
        are reported in setErrs. Runs until Ctrl-C, or --count SETs.\n\nExample:\n  \
        ssf tail --issuer http://127.0.0.1:8080 --client-id dev-receiver --stream-id 0f3a..."
    )]
    Tail(TailArgs),
    /// Run the just-in-time access and session revocation scenario end to end on loopback.
    #[command(
        long_about = "Run the seed scenario end to end in one process, on 127.0.0.1 with \
        random ports, real HTTP between the parties and embedded stores in a temporary \
        directory: an IdP/transmitter, a ticket bridge, a support console protected by the \
        enforcement layer (with a receiver) and a risk engine. Jane signs in; reading customer \
        C2148 is denied; a case about it is assigned to her (webhook); reading and writing C2148 \
        are allowed, C9999 still denied; the case closes; C2148 is denied again; the knowledge \
        base is allowed throughout by her role; the risk engine revokes her session and her \
        token gets 401. Prints a timeline with the measured latency of each step and exits 0 \
        only if every step behaved as expected (1 otherwise).\n\nExamples:\n  ssf demo\n  \
        ssf demo --serve      # keep everything running and print URLs, a token and curl commands"
    )]
    Demo(DemoArgs),
    /// Operate the just-in-time ticket bridge: reconcile, grants, audit, outbox, retry.
    #[command(
        long_about = "Operator commands for the ticket bridge of `ssf serve` ([jit]): they open \
        its store (the same file a running server uses; reads go on beside it, writes wait for \
        its lock) with the systems of the configuration. Every command prints text, or JSON \
        with --json.\n\n\
        Examples:\n  \
        ssf jit grants --config ssf.toml\n  \
        ssf jit reconcile --config ssf.toml --system jira --open-tickets open.json\n  \
        ssf jit audit --config ssf.toml --ticket jira:SUP-42\n  \
        ssf jit outbox --config ssf.toml --failed\n  \
        ssf jit retry --config ssf.toml 17",
        after_help = JIT_EXIT_CODES
    )]
    Jit(JitArgs),
}

/// `ssf demo` arguments.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep every party running (until Ctrl-C) and print the URLs to try by hand.
    #[arg(long)]
    pub(crate) serve: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Generate a private signing key and print its kid.
    #[command(long_about = "Generate a private signing key and print its kid.\n\n\
        With --dir, the key joins a key store: it becomes the current signing key of an empty \
        store, otherwise it is staged as the next key (see `ssf keys rotate`). With --out, a \
        single PKCS#8 PEM file is written (mode 0600). RS256 uses RSA-2048 (the CAEP \
        interoperability profile's choice), ES256 P-256, EdDSA Ed25519. Without --kid, the kid \
        is the key's RFC 7638 thumbprint.\n\nExamples:\n  ssf keys generate --dir keys\n  \
        ssf keys generate --alg EdDSA --out signing.pem")]
    Generate(GenerateArgs),
    /// Print the public JWKS of a key directory or of key files.
    #[command(
        long_about = "Print the public JWKS (RFC 7517) to publish at the transmitter's \
        jwks_uri: every current, next and previous key of a directory, or the public part of \
        the given PEM files. Private key members never appear.\n\nExamples:\n  \
        ssf keys jwks --dir keys > jwks.json\n  ssf keys jwks --key a.pem --key b.pem"
    )]
    Jwks(JwksArgs),
    /// List the keys of a key directory and their rotation state.
    #[command(
        long_about = "List the keys of a key directory: state (current, next, previous), \
        kid, algorithm, and when the key entered its state.\n\nExample:\n  ssf keys list --dir keys"
    )]
    List(DirArgs),
    /// Rotate keys: stage a new key, promote it, retire the old one.
    #[command(
        long_about = "Rotate the signing key in three steps, each run on its own:\n\n  \
        1. stage    create a key and publish it in the JWKS as `next` (it does not sign yet)\n  \
        2. promote  the staged key signs from now on; the old key stays published as `previous`\n  \
        3. retire   remove previous keys from the store and the JWKS\n\n\
        Wait between steps: after `stage`, until receivers have refetched the JWKS; after \
        `promote`, until every SET signed with the old key has been delivered or dropped.\n\n\
        Example:\n  ssf keys rotate --dir keys stage --alg RS256\n  ssf keys rotate --dir keys promote\n  \
        ssf keys rotate --dir keys retire"
    )]
    Rotate(RotateArgs),
}

/// A signing algorithm on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AlgArg {
    /// RSASSA-PKCS1-v1_5 SHA-256, RSA-2048 (default, CAEP interop profile)
    #[value(name = "RS256")]
    Rs256,
    /// RSASSA-PSS SHA-256, RSA-2048
    #[value(name = "PS256")]
    Ps256,
    /// ECDSA P-256 SHA-256
    #[value(name = "ES256")]
    Es256,
    /// Ed25519
    #[value(name = "EdDSA")]
    EdDsa,
}

impl From<AlgArg> for Algorithm {
    fn from(alg: AlgArg) -> Self {
        match alg {
            AlgArg::Rs256 => Self::Rs256,
            AlgArg::Ps256 => Self::Ps256,
            AlgArg::Es256 => Self::Es256,
            AlgArg::EdDsa => Self::EdDsa,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Signing algorithm.
    #[arg(long, value_enum, default_value = "RS256")]
    pub(crate) alg: AlgArg,
    /// Key id to publish (default: the RFC 7638 thumbprint).
    #[arg(long)]
    pub(crate) kid: Option<String>,
    /// Key directory to add the key to [env: SSF_KEYS_DIR] [default: ssf-data/keys].
    #[arg(long, conflicts_with = "out")]
    pub(crate) dir: Option<PathBuf>,
    /// Write one PEM file instead of using a key directory.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Overwrite the --out file if it exists.
    #[arg(long, requires = "out")]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct JwksArgs {
    /// Key directory [env: SSF_KEYS_DIR] [default: ssf-data/keys].
    #[arg(long, conflicts_with = "key")]
    pub(crate) dir: Option<PathBuf>,
    /// A PEM private key file (repeatable); only its public part is printed.
    #[arg(long)]
    pub(crate) key: Vec<PathBuf>,
    /// The kid of a single --key file (default: its RFC 7638 thumbprint).
    #[arg(long, requires = "key")]
    pub(crate) kid: Option<String>,
    /// The algorithm of a single RSA --key file (default: RS256).
    #[arg(long, value_enum, requires = "key")]
    pub(crate) alg: Option<AlgArg>,
}

#[derive(Debug, Args)]
pub(crate) struct DirArgs {
    /// Key directory [env: SSF_KEYS_DIR] [default: ssf-data/keys].
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    /// Key directory [env: SSF_KEYS_DIR] [default: ssf-data/keys].
    #[arg(long, global = true)]
    pub(crate) dir: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) step: RotateStep,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RotateStep {
    /// Step 1: create a key and publish it as next (not signing yet).
    Stage {
        /// Signing algorithm of the new key.
        #[arg(long, value_enum, default_value = "RS256")]
        alg: AlgArg,
        /// Key id (default: the RFC 7638 thumbprint).
        #[arg(long)]
        kid: Option<String>,
    },
    /// Step 2: the staged key signs from now on; the old one stays published.
    Promote,
    /// Step 3: remove previous keys (or the one given) from the store and the JWKS.
    Retire {
        /// Retire only this key (a previous or a staged one).
        #[arg(long)]
        kid: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SetCommand {
    /// Sign a SET and print it in compact form.
    #[command(long_about = "Sign a SET and print it in compact form.\n\n\
        The claims come from a JSON file (--claims FILE, or - for stdin) or are built from flags \
        for a CAEP event (--event, --subject and event fields). iss and aud always come from \
        the flags; jti (a fresh UUIDv7) and iat (now) are added unless the claims have them. \
        The header is {\"typ\":\"secevent+jwt\",\"alg\":..,\"kid\":..}.\n\n\
        Subjects: email:ADDR, phone_number:+E164, opaque:ID, account:acct:USER@HOST, uri:URI, \
        did:DID, iss_sub:ISSUER|SUBJECT, or a JSON object.\n\
        Events: session-revoked, token-claims-change, credential-change, assurance-level-change, \
        device-compliance-change, session-established, session-presented, risk-level-change, \
        or any event-type URI. Event members: --reason-admin, --reason-user, \
        --initiating-entity, --field NAME=JSON.\n\nExamples:\n  \
        ssf set sign --key k.pem --iss https://idp.example.com --aud https://app.example.com \\\n    \
        --event session-revoked --subject email:jane@example.com --reason-admin \"Policy violation\"\n  \
        ssf set sign --dir keys --iss https://idp.example.com --aud https://app.example.com \\\n    \
        --event token-claims-change --subject email:jane@example.com \\\n    \
        --field 'claims={\"customer_id\":\"C2148\",\"access_allowed\":\"read_write\"}'\n  \
        ssf set sign --key k.pem --iss https://idp.example.com --aud https://app.example.com --claims set.json")]
    Sign(SignArgs),
    /// Print a SET's header and claims WITHOUT verifying anything.
    #[command(
        long_about = "Print a SET's JOSE header and claims as JSON, WITHOUT verifying the \
        signature or any claim. For looking, never for trusting: use `ssf set verify` for that.\n\n\
        Example:\n  ssf set decode eyJ0eXAiOiJzZWNldmVudCtqd3QiLC...\n  ssf set decode - < set.jwt"
    )]
    Decode(DecodeArgs),
    /// Verify a SET like a receiver does; print its claims or why it is rejected.
    #[command(
        long_about = "Verify a SET like a receiver does (RFC 8935 §2, SSF 1.0 §4.1): alg \
        in the allow-list (RS256 unless --alg), typ secevent+jwt, no crit header, kid known in \
        the JWKS and fitting the alg, a valid signature, iss and aud as expected, iat not in the \
        future, a jti, and no sub or exp. On success the claims are printed and the exit code is \
        0; otherwise the reason and its RFC 8935 err code go to stderr and the exit code is 1.\n\n\
        Examples:\n  ssf set verify \"$SET\" --jwks jwks.json --iss https://idp.example.com --aud https://app.example.com\n  \
        ssf set verify - --jwks https://idp.example.com/jwks --iss https://idp.example.com \\\n    \
        --aud https://app.example.com --alg RS256 --alg ES256 < set.jwt"
    )]
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// PEM private key file to sign with.
    #[arg(long, conflicts_with = "dir")]
    pub(crate) key: Option<PathBuf>,
    /// Key directory whose current key signs [env: SSF_KEYS_DIR] [default: ssf-data/keys].
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// The kid of the --key file (default: its RFC 7638 thumbprint).
    #[arg(long, requires = "key")]
    pub(crate) kid: Option<String>,
    /// The algorithm of an RSA --key file (default: RS256).
    #[arg(long, value_enum, requires = "key")]
    pub(crate) alg: Option<AlgArg>,
    /// Issuer (iss), exactly as the transmitter's metadata says.
    #[arg(long, env = "SSF_ISSUER")]
    pub(crate) iss: String,
    /// Audience (aud); repeat for several.
    #[arg(long, required = true)]
    pub(crate) aud: Vec<String>,
    /// JSON file with the claims (sub_id, events, ...), or - for stdin.
    #[arg(long, conflicts_with_all = ["event", "subject"])]
    pub(crate) claims: Option<String>,
    /// CAEP event name (e.g. session-revoked) or event-type URI.
    #[arg(long, requires = "subject")]
    pub(crate) event: Option<String>,
    /// Subject (sub_id), e.g. email:jane@example.com.
    #[arg(long, requires = "event")]
    pub(crate) subject: Option<String>,
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
    /// Transaction id (txn).
    #[arg(long)]
    pub(crate) txn: Option<String>,
    /// Extra event member NAME=VALUE; VALUE is JSON if it parses, else a string (repeatable).
    #[arg(long = "field", value_name = "NAME=VALUE")]
    pub(crate) fields: Vec<String>,
}

/// CAEP `initiating_entity` (CAEP 1.0 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum InitiatingEntity {
    /// An administrator.
    Admin,
    /// The user.
    User,
    /// A policy.
    Policy,
    /// The system.
    System,
}

#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// The compact SET, or - to read it from stdin.
    pub(crate) token: String,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The compact SET, or - to read it from stdin.
    pub(crate) token: String,
    /// The transmitter's JWKS: a file, or an http(s) URL.
    #[arg(long)]
    pub(crate) jwks: String,
    /// Expected issuer, compared byte for byte.
    #[arg(long)]
    pub(crate) iss: String,
    /// Expected audience; repeat to accept several.
    #[arg(long, required = true)]
    pub(crate) aud: Vec<String>,
    /// Allowed algorithm; repeat for several [default: RS256].
    #[arg(long, value_enum)]
    pub(crate) alg: Vec<AlgArg>,
    /// Accept a sub claim (legacy peers).
    #[arg(long)]
    pub(crate) allow_sub: bool,
    /// Accept (and enforce) an exp claim (legacy peers).
    #[arg(long)]
    pub(crate) allow_exp: bool,
    /// Refuse SETs whose iat is older than this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) max_age: Option<u64>,
    /// Allowed clock skew in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub(crate) clock_skew: u64,
}

/// `ssf migrate`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// The configuration file `ssf serve` uses (TOML). Without one: the default SQLite stores
    /// in ./ssf-data.
    #[arg(long, env = "SSF_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Only list the pending migrations (change nothing); exit 1 when there are any.
    #[arg(long)]
    pub(crate) check: bool,
}
