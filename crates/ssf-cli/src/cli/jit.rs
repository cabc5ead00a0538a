//! Command-line types of `ssf jit`: the ticket bridge's operator commands.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Exit codes of `ssf jit`.
pub(crate) const JIT_EXIT_CODES: &str = "\
Exit codes:
  0  success (reconcile: the grants were already right, or were fixed and the events queued)
  2  usage error: no [jit] section, an unknown system, an unreadable or malformed ticket list,
     no failed outbox row with that number, no active grant with that id (revoke)
  3  the store could not be opened or read; with --send, events could not all be delivered
     (they stay queued and the running `ssf serve` keeps trying)";

/// `ssf jit` arguments.
#[derive(Debug, Args)]
pub(crate) struct JitArgs {
    /// The `ssf serve` configuration whose `[jit]` section names the store and the systems
    /// (without one: the development bridge of ./ssf-data).
    #[arg(long, env = "SSF_CONFIG", value_name = "FILE", global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: JitCommand,
}

/// The `ssf jit` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum JitCommand {
    /// Compare a system's complete list of open tickets with the grants and fix the drift.
    #[command(
        long_about = "Compare a ticket system's complete list of open tickets with the \
        bridge's grants and fix the drift: an open, assigned ticket without its grant is \
        granted; a grant whose ticket is not in the list is revoked; a ticket the bridge knows \
        differently (assignee, asset, level, state) changes as a webhook would. A second run \
        with the same list changes nothing.\n\n\
        The list is JSON: an array of tickets, or {\"tickets\": [...]}, each \
        {\"ticket_id\", \"assignee\": {\"email\"}, \"state\", \"fields\", \"updated_at\"} (the \
        generic format of docs/jit.md). It must hold every open ticket of the system: a missing \
        ticket loses its grant.\n\n\
        The events go into the bridge's outbox; the emitter of the running `ssf serve` sends \
        them (within jit.emitter.poll_interval). With --send this command sends them itself. \
        There is no dry run: the bridge decides and records in one transaction per ticket; \
        `ssf jit grants` shows what is granted before you run it.\n\n\
        Examples:\n  \
        ssf jit reconcile --config ssf.toml --system jira --open-tickets open.json\n  \
        export-open-tickets | ssf jit reconcile --config ssf.toml --system helpdesk --open-tickets - --json"
    )]
    Reconcile(ReconcileArgs),
    /// List the grants (active ones, or all with --all).
    #[command(
        long_about = "List the grants tickets gave: status, ticket, user, asset, access level, \
        when it was granted and when it ends (its maximum duration) or ended, and why.\n\n\
        Examples:\n  ssf jit grants --config ssf.toml\n  ssf jit grants --config ssf.toml --all --json"
    )]
    Grants {
        /// Also the revoked and expired grants.
        #[arg(long)]
        all: bool,
    },
    /// Show the audit trail (of one ticket with --ticket).
    #[command(
        long_about = "Show the audit trail, oldest first: each ticket event, the decision \
        (grant, revoke, no grant and why), the queued event and its delivery with the \
        transmitter's SET jtis.\n\nExamples:\n  ssf jit audit --config ssf.toml --ticket jira:SUP-42\n  \
        ssf jit audit --config ssf.toml --json"
    )]
    Audit {
        /// Only this ticket, as SYSTEM:TICKET (e.g. jira:SUP-42).
        #[arg(long, value_name = "SYSTEM:TICKET")]
        ticket: Option<String>,
    },
    /// List the events queued for the transmitter (failed ones with --failed).
    #[command(
        long_about = "List the outbox: each queued CAEP token-claims-change event with its \
        status (pending, sent, failed), attempts, next attempt or send time, txn and last \
        error. A failed row was refused by the transmitter (a 4xx); fix the cause, then \
        `ssf jit retry <seq>`.\n\nExamples:\n  ssf jit outbox --config ssf.toml --failed\n  \
        ssf jit outbox --config ssf.toml --json"
    )]
    Outbox {
        /// Only the failed rows.
        #[arg(long)]
        failed: bool,
    },
    /// Revoke one active grant by hand (the revoke event is queued for the transmitter).
    #[command(
        long_about = "Revoke one active grant by hand, e.g. when access must end before its \
        ticket closes. In one transaction the grant ends (status revoked, reason `by_hand: by \
        <actor>: <reason>`), the audit trail records who and why (action revoke_by_hand), and \
        the same token-claims-change revoke a closing ticket sends is queued; the running \
        `ssf serve` sends it within jit.emitter.poll_interval (or pass --send). If another \
        ticket still grants the user the same asset, the access stays through that grant (it \
        is listed; revoke it too). Later updates of the same ticket that keep the assignee do \
        not grant again; a reassignment or a reopen after the revoke may (decision D-JIT-16).\n\n\
        Examples:\n  ssf jit grants --config ssf.toml\n  \
        ssf jit revoke --config ssf.toml 3f2c9e0a6b7d4e21a9c8d7e6f5a4b3c2 --reason \"left the team\""
    )]
    Revoke(RevokeArgs),
    /// Put a failed outbox row back in line.
    #[command(
        long_about = "Put a failed outbox row back in line; the running `ssf serve` sends it \
        within jit.emitter.poll_interval.\n\nExample:\n  ssf jit outbox --config ssf.toml --failed\n  \
        ssf jit retry --config ssf.toml 17"
    )]
    Retry {
        /// The row's sequence number (`seq` in `ssf jit outbox`).
        seq: i64,
    },
}

/// `ssf jit reconcile` arguments.
#[derive(Debug, Args)]
pub(crate) struct ReconcileArgs {
    /// The ticket system (a name under [jit.systems]).
    #[arg(long)]
    pub(crate) system: String,
    /// The complete list of the system's open tickets (JSON), a file or - for stdin.
    #[arg(long, value_name = "FILE|-")]
    pub(crate) open_tickets: String,
    /// Send the queued events now (needs jit.emitter), instead of leaving them to the server.
    #[arg(long)]
    pub(crate) send: bool,
}

/// `ssf jit revoke` arguments.
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    /// The grant's id (`grant_id` in `ssf jit grants --json`, or the GRANT column).
    pub(crate) grant_id: String,
    /// Why, kept in the audit trail (one line, at most 1024 bytes).
    #[arg(long)]
    pub(crate) reason: String,
    /// Who revokes it, kept in the audit trail and named in the event's reason_admin
    /// (default: the user running the command).
    #[arg(long)]
    pub(crate) actor: Option<String>,
    /// Send the queued event now (needs jit.emitter), instead of leaving it to the server.
    #[arg(long)]
    pub(crate) send: bool,
}
