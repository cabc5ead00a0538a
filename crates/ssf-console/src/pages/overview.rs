//! `GET /console/`: what runs, at a glance, and the charts.

use askama::Template;
use axum::{
    Extension,
    extract::State,
    response::{Html, IntoResponse, Response},
};

use crate::{ConsoleError, ConsoleState, charts::Chart, session::Session, view::Frame};

/// One role's summary line.
#[derive(Debug)]
struct RoleLine {
    name: &'static str,
    link: &'static str,
    facts: Vec<String>,
    warn: Option<String>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    frame: Frame,
    roles: Vec<RoleLine>,
    charts: Vec<Chart>,
    metrics: bool,
}

/// `GET /console/`.
pub(crate) async fn page(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
) -> Result<Response, ConsoleError> {
    let mut roles = Vec::new();
    let sources = &state.sources;
    if let Some(tx) = &sources.transmitter {
        let streams = tx.store.count_streams().await?;
        let counts = tx.store.outbox_counts(None).await?;
        let failing = tx.push_health.failing().len();
        roles.push(RoleLine {
            name: "Transmitter",
            link: "/console/streams",
            facts: vec![
                format!("issuer {}", tx.config.issuer),
                format!("{streams} stream(s)"),
                format!("{} SET(s) queued", counts.queued()),
            ],
            warn: (counts.failed + counts.dead > 0 || failing > 0).then(|| {
                format!(
                    "{} dead letter(s), {} failed SET(s), {failing} push stream(s) failing",
                    counts.dead, counts.failed
                )
            }),
        });
    }
    if let Some(rx) = &sources.receiver {
        let peers = rx.store.list_streams().await?;
        let seen = rx.store.seen_count().await?;
        roles.push(RoleLine {
            name: "Receiver",
            link: "/console/receiver",
            facts: vec![
                format!("{} peer stream(s)", peers.len()),
                format!("{seen} SET(s) recorded"),
            ],
            warn: None,
        });
    }
    if sources.engine.is_some() || sources.bridge.is_some() {
        let mut facts = Vec::new();
        if let Some(engine) = &sources.engine {
            let stats = engine.stats();
            facts.push(format!("{} state row(s) in the engine", stats.rows));
        }
        if let Some(bridge) = &sources.bridge {
            let grants = bridge.store().grants(true).await?;
            facts.push(format!("{} active JIT grant(s)", grants.len()));
        }
        roles.push(RoleLine {
            name: "Access",
            link: "/console/access",
            facts,
            warn: None,
        });
    }
    let page = OverviewPage {
        frame: Frame::new(&state, &session, "overview"),
        roles,
        charts: state.charts.charts(),
        metrics: sources.metrics.is_some(),
    };
    Ok(Html(page.render()?).into_response())
}
