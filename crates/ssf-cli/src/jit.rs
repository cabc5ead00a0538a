//! `ssf jit`: the ticket bridge's operator commands. They open the bridge's store with the
//! `[jit]` section of the `ssf serve` configuration (the development bridge of `./ssf-data`
//! without one): `reconcile` against a complete list of open tickets, and views of the grants,
//! the audit trail and the outbox, plus `retry` of a failed outbox row and `revoke` of a grant
//! by hand.
//!
//! Decision: events queued by `reconcile` are sent by the running server's emitter (it looks
//! at the outbox every `jit.emitter.poll_interval`), so a cron job needs no transmitter
//! credentials; `--send` sends them from the command itself when the emitter is configured.

mod view;

use std::{process::ExitCode, sync::Arc, time::Duration};

use serde_json::json;
use ssf_jit::{Bridge, RoundReport, store::OutboxStatus};
use ssf_types::{Clock, SystemClock};

use crate::{
    cli::{JitArgs, JitCommand, ReconcileArgs, RevokeArgs},
    input::{CmdResult, Context, Failure, read_file_or_stdin, usage},
    serve::{
        self,
        roles::jit::{effective_config, jit_failure},
    },
};

/// How long `--send` keeps sending before it leaves the rest to the server.
const SEND_DEADLINE: Duration = Duration::from_secs(30);

/// Runs `ssf jit`.
pub(crate) fn run(args: JitArgs) -> CmdResult {
    let mut config = serve::config::load(args.config.as_deref(), std::env::vars())?;
    let base = serve::base_url(config.server.listen, config.server.tls.is_some());
    config.finalize(&base)?;
    let Some(section) = config.jit.take() else {
        return Err(usage(format!(
            "{} has no [jit] section: the ticket bridge is not configured (docs/jit.md)",
            config.source
        )));
    };
    let (jit, _) = effective_config(&config.server.data_dir, section)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .or_runtime("starting the runtime")?;
    runtime.block_on(async move {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let bridge = Bridge::open(jit, clock).await.map_err(|e| match e {
            ssf_jit::JitError::Config(_) => jit_failure(e),
            other => Failure::Runtime(anyhow::anyhow!("opening the ticket bridge store: {other}")),
        })?;
        match args.command {
            JitCommand::Reconcile(r) => reconcile(&bridge, r, args.json).await,
            JitCommand::Grants { all } => {
                let rows = bridge.store().grants(!all).await.map_err(jit_failure)?;
                view::print(args.json, &rows, view::grants)
            }
            JitCommand::Audit { ticket } => {
                let ticket = ticket
                    .as_deref()
                    .map(|t| {
                        t.split_once(':')
                            .filter(|(s, id)| !s.is_empty() && !id.is_empty())
                            .ok_or_else(|| {
                                usage(format!(
                                    "--ticket {t:?}: write SYSTEM:TICKET, e.g. jira:SUP-42"
                                ))
                            })
                    })
                    .transpose()?;
                let rows = bridge.store().audit(ticket).await.map_err(jit_failure)?;
                view::print(args.json, &rows, view::audit)
            }
            JitCommand::Outbox { failed } => {
                let status = failed.then_some(OutboxStatus::Failed);
                let rows = bridge.store().outbox(status).await.map_err(jit_failure)?;
                view::print(args.json, &rows, view::outbox)
            }
            JitCommand::Revoke(r) => revoke(&bridge, r, args.json).await,
            JitCommand::Retry { seq } => {
                let now = bridge.clock().now();
                if !bridge
                    .store()
                    .retry_failed(seq, now)
                    .await
                    .map_err(jit_failure)?
                {
                    return Err(usage(format!(
                        "no failed outbox row {seq} (see `ssf jit outbox --failed`)"
                    )));
                }
                if args.json {
                    println!("{}", json!({"seq": seq, "status": "pending"}));
                } else {
                    println!("outbox row {seq} is pending again; the running ssf serve sends it");
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// `ssf jit reconcile`.
async fn reconcile(bridge: &Bridge, args: ReconcileArgs, json: bool) -> CmdResult {
    if let Err(e) = bridge.system(&args.system) {
        let known: Vec<&str> = bridge.config().systems.keys().map(String::as_str).collect();
        return Err(usage(format!("{e}; configured: {}", known.join(", "))));
    }
    let text = read_file_or_stdin(&args.open_tickets)?;
    let tickets = ssf_jit::parse_snapshots(text.as_bytes()).map_err(|e| {
        usage(format!(
            "{}: {e}; expected a JSON array of tickets or {{\"tickets\": [...]}} (docs/jit.md)",
            args.open_tickets
        ))
    })?;
    let report = bridge
        .reconcile(&args.system, tickets)
        .await
        .map_err(jit_failure)?;
    let sent = if args.send {
        Some(send(bridge).await?)
    } else {
        None
    };
    let pending = bridge
        .store()
        .outbox(Some(OutboxStatus::Pending))
        .await
        .map_err(jit_failure)?
        .len();
    if json {
        let mut out = serde_json::to_value(&report).or_runtime("printing the report")?;
        out["clean"] = report.is_clean().into();
        out["pending"] = pending.into();
        if let Some(s) = sent {
            out["sent"] = json!({"sent": s.sent, "retried": s.retried, "failed": s.failed});
        }
        println!("{out}");
    } else {
        print!("{}", view::reconcile(&report, sent.as_ref(), pending));
    }
    match sent {
        Some(s) if s.retried > 0 || s.failed > 0 => Err(Failure::Runtime(anyhow::anyhow!(
            "{} events could not be delivered now ({} refused); they stay queued (`ssf jit outbox`)",
            s.retried + s.failed,
            s.failed
        ))),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// `ssf jit revoke`.
async fn revoke(bridge: &Bridge, args: RevokeArgs, json: bool) -> CmdResult {
    let actor = args.actor.unwrap_or_else(|| {
        ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
            .map_or_else(|| "ssf-cli".to_owned(), |user| format!("{user} (ssf-cli)"))
    });
    let done = bridge
        .revoke_by_hand(&args.grant_id, &actor, &args.reason)
        .await
        .map_err(|e| match e {
            ssf_jit::JitError::UnknownGrant(_)
            | ssf_jit::JitError::GrantNotActive { .. }
            | ssf_jit::JitError::Invalid(_) => usage(e.to_string()),
            other => jit_failure(other),
        })?;
    let sent = if args.send && done.events_queued > 0 {
        Some(send(bridge).await?)
    } else {
        None
    };
    if json {
        let mut out = serde_json::to_value(&done).or_runtime("printing the revoke")?;
        if let Some(s) = &sent {
            out["sent"] = json!({"sent": s.sent, "retried": s.retried, "failed": s.failed});
        }
        println!("{out}");
    } else {
        print!("{}", view::revoked(&done, sent.as_ref()));
    }
    match sent {
        Some(s) if s.retried > 0 || s.failed > 0 => Err(Failure::Runtime(anyhow::anyhow!(
            "the revoke could not be delivered now; it stays queued (`ssf jit outbox`) and the \
             running ssf serve keeps trying"
        ))),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Sends the outbox until it is empty, an attempt fails, or [`SEND_DEADLINE`] passes.
async fn send(bridge: &Bridge) -> Result<RoundReport, Failure> {
    let Some(emitter) = bridge.emitter().map_err(jit_failure)? else {
        return Err(usage(
            "--send needs jit.emitter.events_url (and its credentials); without it the running \
             ssf serve cannot send either (docs/jit.md)",
        ));
    };
    let mut total = RoundReport::default();
    let until = tokio::time::Instant::now() + SEND_DEADLINE;
    while tokio::time::Instant::now() < until {
        let round = emitter.run_once().await.map_err(jit_failure)?;
        total.sent += round.sent;
        total.failed += round.failed;
        if round.retried > 0 {
            total.retried += round.retried;
            break;
        }
        if round.sent == 0 && round.failed == 0 {
            break;
        }
    }
    Ok(total)
}
