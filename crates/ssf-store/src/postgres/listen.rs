//! Cross-node signals with `LISTEN`/`NOTIFY`, on two channels per schema:
//!
//! - the **outbox** channel ([`channel_for_schema`]): a transaction that makes SETs deliverable
//!   sends `pg_notify(channel, payload)` before it commits, so idle push workers and long polls
//!   of every node wake up. The payload is `"<node> <stream_id>"` for one stream, or just
//!   `"<node>"` for every stream;
//! - the **configuration** channel ([`config_channel_for_schema`]): a transaction that creates,
//!   updates, deletes or changes the status of a stream, or adds or removes a subject, sends
//!   `"<node>"`, so other nodes drop the stream and subject caches they route events with
//!   ([`TransmitterStore::config_changes`](crate::TransmitterStore::config_changes)).
//!
//! PostgreSQL delivers a notification to every listening connection at commit (and drops it on
//! rollback). `<node>` is the sending store's random id, so a node skips its own notifications
//! (it acted on the change directly after committing). Each store runs one task holding one
//! connection that listens on both channels and passes what it hears to the [`WakeHub`] of the
//! channel's route. When the connection drops (database restart, network), the task logs it,
//! reconnects with back-off, listens again and then signals every subscriber of every hub once,
//! since notifications sent meanwhile are lost.

use std::{sync::Arc, time::Duration};

use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgListener, PgPoolOptions},
};
use ssf_types::StreamId;
use tokio::task::JoinHandle;

use crate::{error::StoreResult, wake::WakeHub};

/// The outbox channel in the default (`public`) schema.
pub const CHANNEL: &str = "ssf_outbox";

/// The configuration channel (streams and subjects changed) in the default schema.
pub const CONFIG_CHANNEL: &str = "ssf_config";

/// PostgreSQL's limit for channel names (identifiers), in bytes.
const MAX_CHANNEL_BYTES: usize = 63;

/// Streams with longer ids are announced as "every stream" (payloads are limited to 8000 bytes).
const MAX_STREAM_BYTES: usize = 4000;

/// The first wait before reconnecting, doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The outbox channel for the tables in `schema`: [`CHANNEL`] for `public`, else
/// `ssf_outbox_<schema>` cut to 63 bytes, so stores in different schemas of one database do not
/// wake each other.
pub fn channel_for_schema(schema: &str) -> String {
    schema_channel(CHANNEL, schema)
}

/// The configuration channel for the tables in `schema`: [`CONFIG_CHANNEL`] for `public`, else
/// `ssf_config_<schema>` cut to 63 bytes (see [`channel_for_schema`]).
pub fn config_channel_for_schema(schema: &str) -> String {
    schema_channel(CONFIG_CHANNEL, schema)
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

/// The payload announcing `stream` (`None`: every stream, or a configuration change) from `node`.
pub(crate) fn payload(node: &str, stream: Option<&StreamId>) -> String {
    match stream {
        Some(stream) if stream.as_str().len() <= MAX_STREAM_BYTES => {
            format!("{node} {}", stream.as_str())
        }
        _ => node.to_owned(),
    }
}

/// Where the notifications of one channel go.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// The channel listened on.
    pub(crate) channel: String,
    /// Signalled for each notification on it from another node.
    pub(crate) hub: Arc<WakeHub>,
}

/// What the listening task needs: this store's node id and the channels it routes.
#[derive(Debug, Clone)]
pub(crate) struct Routes {
    /// This store instance's id: notifications that start with it are skipped.
    pub(crate) own_node: String,
    /// One entry per channel, listened on in this order.
    pub(crate) routes: Vec<Route>,
}

impl Routes {
    /// Signals the hub of `channel` for a notification `payload`, unless `own_node` sent it.
    fn deliver(&self, channel: &str, payload: &str) {
        match self.routes.iter().find(|r| r.channel == channel) {
            Some(route) => wake(&route.hub, &self.own_node, payload),
            None => tracing::debug!(%channel, "notification on a channel with no route; ignored"),
        }
    }

    /// Signals every subscriber of every hub (notifications may have been missed).
    fn wake_everyone(&self) {
        for route in &self.routes {
            route.hub.notify_all();
        }
    }

    fn channels(&self) -> Vec<&str> {
        self.routes.iter().map(|r| r.channel.as_str()).collect()
    }
}

/// Wakes `hub` for a notification `payload`, unless `own_node` sent it.
fn wake(hub: &WakeHub, own_node: &str, payload: &str) {
    match payload.split_once(' ') {
        Some((node, _)) if node == own_node => {}
        Some((_, stream)) => hub.notify(&StreamId::new(stream)),
        None if payload == own_node => {}
        None => hub.notify_all(),
    }
}

/// The running `LISTEN` task of a store (or none): aborted on [`stop`](Self::stop) and on drop.
#[derive(Debug, Default)]
pub(crate) struct Listener(std::sync::Mutex<Option<JoinHandle<()>>>);

impl Listener {
    /// Starts the task on `connect` for `routes` (see [`start`]).
    pub(crate) async fn start(connect: PgConnectOptions, routes: Routes) -> StoreResult<Self> {
        Ok(Self(std::sync::Mutex::new(Some(
            start(connect, routes).await?,
        ))))
    }

    /// Whether the task runs (it was started and not stopped).
    pub(crate) fn is_running(&self) -> bool {
        self.lock().is_some()
    }

    /// Stops the task; later calls do nothing.
    pub(crate) fn stop(&self) {
        if let Some(task) = self.lock().take() {
            task.abort();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Opens the listening connection (failing if it cannot), listens on every route's channel and
/// spawns the task that serves them.
pub(crate) async fn start(
    connect: PgConnectOptions,
    routes: Routes,
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
    let listener = subscribe(&pool, &routes).await?;
    Ok(tokio::spawn(serve(pool, listener, routes)))
}

async fn subscribe(pool: &PgPool, routes: &Routes) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.ignore_pool_close_event(true);
    // One statement, `LISTEN "a";LISTEN "b";`, in route order.
    listener.listen_all(routes.channels()).await?;
    Ok(listener)
}

async fn serve(pool: PgPool, mut listener: PgListener, routes: Routes) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                routes.deliver(notification.channel(), notification.payload());
            }
            Ok(None) => {
                // PgListener reconnected (and listens again) before returning this.
                tracing::warn!(
                    channels = ?routes.channels(),
                    "LISTEN connection was lost and re-established; waking every subscriber"
                );
                routes.wake_everyone();
            }
            Err(err) => {
                tracing::warn!(
                    %err,
                    channels = ?routes.channels(),
                    "LISTEN connection failed; reconnecting"
                );
                drop(listener);
                listener = reconnect(&pool, &routes).await;
                routes.wake_everyone();
            }
        }
    }
}

/// Tries until a new listening connection is up, backing off between attempts.
async fn reconnect(pool: &PgPool, routes: &Routes) -> PgListener {
    let mut backoff = FIRST_BACKOFF;
    loop {
        tokio::time::sleep(backoff).await;
        match subscribe(pool, routes).await {
            Ok(listener) => {
                tracing::info!(
                    channels = ?routes.channels(),
                    "LISTEN re-established; waking every subscriber"
                );
                return listener;
            }
            Err(err) => {
                tracing::warn!(
                    %err,
                    channels = ?routes.channels(),
                    retry_in = ?backoff,
                    "LISTEN reconnect failed"
                );
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
        assert_eq!(config_channel_for_schema("public"), "ssf_config");
        assert_eq!(config_channel_for_schema("tenant_a"), "ssf_config_tenant_a");
        let long = config_channel_for_schema(&"é".repeat(60));
        assert!(long.len() <= 63 && long.starts_with("ssf_config_"));
    }

    fn routes(own_node: &str) -> (Routes, Arc<WakeHub>, Arc<WakeHub>) {
        let (outbox, config) = (WakeHub::new(), WakeHub::new());
        let routes = Routes {
            own_node: own_node.to_owned(),
            routes: vec![
                Route {
                    channel: "out".to_owned(),
                    hub: Arc::clone(&outbox),
                },
                Route {
                    channel: "cfg".to_owned(),
                    hub: Arc::clone(&config),
                },
            ],
        };
        (routes, outbox, config)
    }

    #[test]
    fn own_notifications_are_skipped() {
        let (routes, hub, _) = routes("me");
        let s1 = StreamId::new("s 1");
        let sub = hub.subscribe(Some(&s1));
        let any = hub.subscribe(None);
        routes.deliver("out", &payload("me", Some(&s1)));
        routes.deliver("out", &payload("me", None));
        assert!(!sub.is_signalled() && !any.is_signalled());
        routes.deliver("out", &payload("other", Some(&s1)));
        assert!(sub.is_signalled(), "stream ids may contain spaces");
        let other = hub.subscribe(Some(&StreamId::new("x")));
        routes.deliver("out", &payload("other", None));
        assert!(other.is_signalled(), "a bare node id wakes everyone");
    }

    /// Each channel's notifications reach its own hub only, and this node's configuration
    /// changes are not reported back to it.
    #[test]
    fn notifications_go_to_their_channel_s_hub_and_own_config_changes_are_skipped() {
        let (routes, outbox, config) = routes("me");
        let work = outbox.subscribe(None);
        let changes = config.subscribe(None);
        routes.deliver("cfg", &payload("me", None));
        assert!(!changes.is_signalled(), "own configuration change");
        routes.deliver("cfg", &payload("other", None));
        assert!(
            changes.is_signalled(),
            "another node's configuration change"
        );
        assert!(
            !work.is_signalled(),
            "the outbox hub is not woken by the config channel"
        );
        let changes = config.subscribe(None);
        routes.deliver("out", &payload("other", None));
        assert!(work.is_signalled());
        assert!(
            !changes.is_signalled(),
            "the config hub is not woken by the outbox channel"
        );
        routes.deliver("elsewhere", &payload("other", None));
        assert!(!changes.is_signalled(), "an unrouted channel wakes nobody");
    }

    #[test]
    fn a_reconnect_wakes_every_hub() {
        let (routes, outbox, config) = routes("me");
        let (work, changes) = (outbox.subscribe(None), config.subscribe(None));
        routes.wake_everyone();
        assert!(work.is_signalled() && changes.is_signalled());
    }
}
