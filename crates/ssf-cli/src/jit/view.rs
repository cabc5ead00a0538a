//! How `ssf jit` prints: JSON (`--json`), or aligned text tables.

use std::{fmt::Write as _, process::ExitCode};

use serde::Serialize;
use ssf_jit::{
    HandRevoke, ReconcileReport, RoundReport,
    store::{AuditRow, Change, GrantRow, OutboxRow},
    time::format_rfc3339,
};
use ssf_types::UnixMillis;

use crate::input::{CmdResult, Context};

/// Prints `rows` as one JSON array, or as the text `table` makes of them.
pub(crate) fn print<T: Serialize>(json: bool, rows: &[T], table: fn(&[T]) -> String) -> CmdResult {
    if json {
        println!(
            "{}",
            serde_json::to_string(rows).or_runtime("printing JSON")?
        );
    } else {
        print!("{}", table(rows));
    }
    Ok(ExitCode::SUCCESS)
}

fn time(at: UnixMillis) -> String {
    format_rfc3339(at)
}

/// Left-aligned columns, two spaces apart; `empty` when there are no rows.
fn table(headers: &[&str], rows: Vec<Vec<String>>, empty: &str) -> String {
    if rows.is_empty() {
        return format!("{empty}\n");
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, headers.to_vec());
    for row in &rows {
        line(&mut out, row.iter().map(String::as_str).collect());
    }
    out
}

/// `ssf jit grants`.
pub(crate) fn grants(rows: &[GrantRow]) -> String {
    let rows = rows
        .iter()
        .map(|g| {
            let status = serde_json::to_value(g.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let end = match (g.ended_at, &g.end_reason) {
                (Some(at), reason) => {
                    format!("ended {} ({})", time(at), reason.as_deref().unwrap_or("-"))
                }
                (None, _) => format!("until {}", time(g.expires_at)),
            };
            vec![
                g.grant_id.clone(),
                status,
                format!("{}:{}", g.system, g.ticket_id),
                g.subject_key.clone(),
                format!("{}:{}", g.asset_type, g.asset_id),
                g.access.clone(),
                time(g.granted_at),
                end,
            ]
        })
        .collect();
    table(
        &[
            "GRANT", "STATUS", "TICKET", "SUBJECT", "ASSET", "ACCESS", "GRANTED", "ENDS",
        ],
        rows,
        "no grants",
    )
}

/// `ssf jit audit`.
pub(crate) fn audit(rows: &[AuditRow]) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let rows = rows
        .iter()
        .map(|a| {
            let ticket = match (&a.system, &a.ticket_id) {
                (Some(s), Some(t)) => format!("{s}:{t}"),
                (Some(s), None) => s.clone(),
                _ => "-".to_owned(),
            };
            vec![
                a.id.to_string(),
                time(a.at),
                ticket,
                a.action.clone(),
                dash(&a.subject_key),
                dash(&a.asset),
                dash(&a.txn),
                a.detail.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "ID", "AT", "TICKET", "ACTION", "SUBJECT", "ASSET", "TXN", "DETAIL",
        ],
        rows,
        "no audit rows",
    )
}

/// `ssf jit outbox`.
pub(crate) fn outbox(rows: &[OutboxRow]) -> String {
    let rows = rows
        .iter()
        .map(|o| {
            let status = serde_json::to_value(o.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let when = match o.sent_at {
                Some(at) => format!("sent {}", time(at)),
                None => format!("next {}", time(o.next_attempt_at)),
            };
            vec![
                o.seq.to_string(),
                status,
                o.action.clone(),
                o.order_key.clone(),
                o.attempts.to_string(),
                when,
                o.txn.clone(),
                o.last_error.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    table(
        &[
            "SEQ",
            "STATUS",
            "ACTION",
            "USER/ASSET",
            "ATTEMPTS",
            "WHEN",
            "TXN",
            "LAST ERROR",
        ],
        rows,
        "the outbox is empty",
    )
}

fn change_line(out: &mut String, what: &str, c: &Change) {
    let level = c
        .access
        .as_deref()
        .map(|a| format!(" {a}"))
        .unwrap_or_default();
    let reason = c
        .reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  {what:<14} {} {}{level}{reason}",
        c.subject_key, c.asset
    );
}

/// `ssf jit reconcile`: what changed, what was skipped, what happens to the events.
pub(crate) fn reconcile(r: &ReconcileReport, sent: Option<&RoundReport>, pending: usize) -> String {
    let mut out = format!("reconcile {}: {} open tickets listed; ", r.system, r.listed);
    if r.is_clean() {
        out.push_str("clean, nothing to change\n");
    } else {
        let _ = writeln!(
            out,
            "{} granted, {} revoked, {} access changed",
            r.granted.len(),
            r.revoked.len(),
            r.access_changed.len()
        );
    }
    for c in &r.granted {
        change_line(&mut out, "granted", c);
    }
    for c in &r.revoked {
        change_line(&mut out, "revoked", c);
    }
    for c in &r.access_changed {
        change_line(&mut out, "access changed", c);
    }
    for (ticket, why) in &r.skipped {
        let _ = writeln!(out, "  {:<14} {ticket}: {why}", "skipped");
    }
    match sent {
        Some(s) => {
            let _ = writeln!(
                out,
                "{} events queued; sent now: {}, waiting for a retry: {}, refused: {}",
                r.events_queued, s.sent, s.retried, s.failed
            );
        }
        None if r.events_queued > 0 => {
            let _ = writeln!(
                out,
                "{} events queued ({pending} pending in the outbox); the running ssf serve sends \
                 them (or pass --send)",
                r.events_queued
            );
        }
        None => {}
    }
    out
}

/// `ssf jit revoke`: what ended, what was queued, and any grant that keeps the access.
pub(crate) fn revoked(done: &HandRevoke, sent: Option<&RoundReport>) -> String {
    let g = &done.grant;
    let mut out = format!(
        "revoked grant {} ({}:{}): {} {}:{} {}\n",
        g.grant_id, g.system, g.ticket_id, g.subject_key, g.asset_type, g.asset_id, g.access
    );
    let _ = writeln!(out, "  reason   {}", g.end_reason.as_deref().unwrap_or("-"));
    let _ = writeln!(out, "  txn      {}", done.txn);
    for other in &done.still_granted_by {
        let _ = writeln!(
            out,
            "  still granted by {} ({}:{}, {} until {}): revoke it too to end the access",
            other.grant_id,
            other.system,
            other.ticket_id,
            other.access,
            time(other.expires_at)
        );
    }
    match (done.events_queued, sent) {
        (0, _) => out.push_str("no event queued: another grant keeps the same access\n"),
        (n, Some(s)) => {
            let _ = writeln!(
                out,
                "{n} event queued; sent now: {}, waiting for a retry: {}, refused: {}",
                s.sent, s.retried, s.failed
            );
        }
        (n, None) => {
            let _ = writeln!(
                out,
                "{n} event queued; the running ssf serve sends it (or pass --send)"
            );
        }
    }
    out
}
