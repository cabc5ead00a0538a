//! Cross-node wake-ups with `LISTEN`/`NOTIFY`.
//!
//! A transaction that makes SETs deliverable sends `pg_notify(channel, payload)` before it
//! commits; PostgreSQL delivers it to every listening connection at commit (and drops it on
//! rollback). The payload is `"<node> <stream_id>"` for one stream, or just `"<node>"` for every
//! stream; `<node>` is the sending store's random id, so a node skips its own notifications (it
//! woke its hub directly after committing). Each store runs one task holding one connection with
//! `LISTEN <channel>`; it passes what it hears to the store's [`WakeHub`]. When the connection
//! drops (database restart, network), the task logs it, reconnects with back-off, listens again
//! and then wakes every subscriber once, since notifications sent meanwhile are lost.

use std::{sync::Arc, time::Duration};

use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgListener, PgPoolOptions},
};
use ssf_types::StreamId;
use tokio::task::JoinHandle;

use super::Notifier;
use crate::{error::StoreResult, wake::WakeHub};

/// The channel in the default (`public`) schema.
pub const CHANNEL: &str = "ssf_outbox";

/// PostgreSQL's limit for channel names (identifiers), in bytes.
const MAX_CHANNEL_BYTES: usize = 63;

/// Streams with longer ids are announced as "every stream" (payloads are limited to 8000 bytes).
const MAX_STREAM_BYTES: usize = 4000;

/// The first wait before reconnecting, doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The channel for the tables in `schema`: [`CHANNEL`] for `public`, else `ssf_outbox_<schema>`
/// cut to 63 bytes, so stores in different schemas of one database do not wake each other.
pub fn channel_for_schema(schema: &str) -> String {
    schema_channel(CHANNEL, schema)
}

/// The channel `base` for the tables in `schema`: `base` for `public`, else `<base>_<schema>` cut
/// to 63 bytes.
pub(crate) fn schema_channel(base: &str, schema: &str) -> String {
    if schema == "public" {
        return base.to_owned();
    }
    let mut channel = format!("{base}_{schema}");
    if channel.len() > MAX_CHANNEL_BYTES {
        let mut end = MAX_CHANNEL_BYTES;
        while !channel.is_char_boundary(end) {
            end -= 1;
        }
        channel.truncate(end);
    }
    channel
}

/// The payload announcing `stream` (`None`: every stream) from `node`.
pub(crate) fn payload(node: &str, stream: Option<&StreamId>) -> String {
    match stream {
        Some(stream) if stream.as_str().len() <= MAX_STREAM_BYTES => {
            format!("{node} {}", stream.as_str())
        }
        _ => node.to_owned(),
    }
}

/// Wakes `hub` for a notification `payload`, unless `own_node` sent it.
fn deliver(hub: &WakeHub, own_node: &str, payload: &str) {
    match payload.split_once(' ') {
        Some((node, _)) if node == own_node => {}
        Some((_, stream)) => hub.notify(&StreamId::new(stream)),
        None if payload == own_node => {}
        None => hub.notify_all(),
    }
}

/// Opens the listening connection (failing if it cannot) and spawns the task that serves it.
pub(crate) async fn start(
    connect: PgConnectOptions,
    notifier: Notifier,
    hub: Arc<WakeHub>,
) -> StoreResult<JoinHandle<()>> {
    // A pool of one: PgListener reconnects through it, and it keeps the listening connection
    // out of the store's own pool.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(connect);
    let listener = subscribe(&pool, &notifier.channel).await?;
    Ok(tokio::spawn(serve(pool, listener, notifier, hub)))
}

async fn subscribe(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.ignore_pool_close_event(true);
    listener.listen(channel).await?;
    Ok(listener)
}

async fn serve(pool: PgPool, mut listener: PgListener, notifier: Notifier, hub: Arc<WakeHub>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => deliver(&hub, &notifier.node, notification.payload()),
            Ok(None) => {
                // PgListener reconnected (and listens again) before returning this.
                tracing::warn!(
                    channel = %notifier.channel,
                    "LISTEN connection was lost and re-established; waking every subscriber"
                );
                hub.notify_all();
            }
            Err(err) => {
                tracing::warn!(
                    %err,
                    channel = %notifier.channel,
                    "LISTEN connection failed; reconnecting"
                );
                drop(listener);
                listener = reconnect(&pool, &notifier.channel).await;
                hub.notify_all();
            }
        }
    }
}

/// Tries until a new listening connection is up, backing off between attempts.
async fn reconnect(pool: &PgPool, channel: &str) -> PgListener {
    let mut backoff = FIRST_BACKOFF;
    loop {
        tokio::time::sleep(backoff).await;
        match subscribe(pool, channel).await {
            Ok(listener) => {
                tracing::info!(%channel, "LISTEN re-established; waking every subscriber");
                return listener;
            }
            Err(err) => {
                tracing::warn!(%err, %channel, retry_in = ?backoff, "LISTEN reconnect failed");
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_per_schema_and_short() {
        assert_eq!(channel_for_schema("public"), "ssf_outbox");
        assert_eq!(channel_for_schema("tenant_a"), "ssf_outbox_tenant_a");
        let long = channel_for_schema(&"é".repeat(60));
        assert!(long.len() <= 63 && long.starts_with("ssf_outbox_"));
    }

    #[test]
    fn own_notifications_are_skipped() {
        let hub = WakeHub::new();
        let s1 = StreamId::new("s 1");
        let sub = hub.subscribe(Some(&s1));
        let any = hub.subscribe(None);
        deliver(&hub, "me", &payload("me", Some(&s1)));
        deliver(&hub, "me", &payload("me", None));
        assert!(!sub.is_signalled() && !any.is_signalled());
        deliver(&hub, "me", &payload("other", Some(&s1)));
        assert!(sub.is_signalled(), "stream ids may contain spaces");
        let other = hub.subscribe(Some(&StreamId::new("x")));
        deliver(&hub, "me", &payload("other", None));
        assert!(other.is_signalled(), "a bare node id wakes everyone");
    }
}
