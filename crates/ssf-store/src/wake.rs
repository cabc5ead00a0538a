//! Wake-ups for idle push workers and long polls.
//!
//! Every committed change that makes SETs deliverable (enqueue, resume, replay, reaped leases,
//! promotion of a waiting SET) bumps a counter for its stream and a global one. A subscriber
//! takes a [`WorkSubscription`] *before* it looks for work and waits on it *after* finding none,
//! so a change committed in between is never missed.
//!
//! The hub is engine-neutral: SQLite calls [`WakeHub::notify`] after its own commits; a
//! PostgreSQL store issues `NOTIFY ssf_outbox, '<stream_id>'` in the transaction and calls
//! [`WakeHub::notify`] from its `LISTEN` task, so every node wakes.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use ssf_types::StreamId;
use tokio::sync::watch;

/// Fan-out of "there may be work" signals, globally and per stream.
pub struct WakeHub {
    any: watch::Sender<u64>,
    streams: Mutex<HashMap<StreamId, watch::Sender<u64>>>,
}

impl fmt::Debug for WakeHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let watched = self
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("WakeHub")
            .field("watched_streams", &watched)
            .finish()
    }
}

impl WakeHub {
    /// A hub with no subscribers.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            any: watch::Sender::new(0),
            streams: Mutex::new(HashMap::new()),
        })
    }

    /// Signals that `stream` may have deliverable SETs: wakes its subscribers and every global one.
    pub fn notify(&self, stream: &StreamId) {
        {
            let streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(tx) = streams.get(stream) {
                tx.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
        self.any.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Signals every subscriber (e.g. after the reaper returned rows of many streams).
    pub fn notify_all(&self) {
        {
            let streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
            for tx in streams.values() {
                tx.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
        self.any.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Subscribes to one stream's signals, or to every signal with `None` (push workers).
    pub fn subscribe(self: &Arc<Self>, stream: Option<&StreamId>) -> WorkSubscription {
        let rx = match stream {
            None => self.any.subscribe(),
            Some(id) => {
                let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
                streams
                    .entry(id.clone())
                    .or_insert_with(|| watch::Sender::new(0))
                    .subscribe()
            }
        };
        WorkSubscription {
            rx: Some(rx),
            stream: stream.cloned(),
            hub: Arc::clone(self),
        }
    }
}

/// How a [`WorkSubscription::wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A signal arrived: look for work again.
    Signalled,
    /// Nothing arrived in time.
    TimedOut,
}

/// A registration for wake-ups, taken before looking for work.
pub struct WorkSubscription {
    rx: Option<watch::Receiver<u64>>,
    stream: Option<StreamId>,
    hub: Arc<WakeHub>,
}

impl fmt::Debug for WorkSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkSubscription")
            .field("stream", &self.stream)
            .finish()
    }
}

impl WorkSubscription {
    /// Whether a signal arrived since the subscription was taken or last waited on; does not block.
    pub fn is_signalled(&self) -> bool {
        self.rx
            .as_ref()
            .is_none_or(|rx| rx.has_changed().unwrap_or(true))
    }

    /// Waits until a signal arrives (returns at once if one already did) or `timeout` passes.
    /// Consumes the signal, so the subscription can be reused in a loop.
    pub async fn wait(&mut self, timeout: Duration) -> Wake {
        let Some(rx) = self.rx.as_mut() else {
            return Wake::Signalled;
        };
        match tokio::time::timeout(timeout, rx.changed()).await {
            // A closed hub counts as a signal: the caller rechecks and finds out.
            Ok(_) => Wake::Signalled,
            Err(_) => Wake::TimedOut,
        }
    }
}

impl Drop for WorkSubscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        if let Some(id) = &self.stream {
            let mut streams = self
                .hub
                .streams
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if streams.get(id).is_some_and(|tx| tx.receiver_count() == 0) {
                streams.remove(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn signal_before_wait_is_not_lost() {
        let hub = WakeHub::new();
        let s = StreamId::new("s1");
        let mut sub = hub.subscribe(Some(&s));
        assert!(!sub.is_signalled());
        hub.notify(&s);
        assert!(sub.is_signalled());
        assert_eq!(sub.wait(Duration::from_secs(30)).await, Wake::Signalled);
        assert!(!sub.is_signalled());
    }

    #[tokio::test]
    async fn other_streams_do_not_wake_a_stream_subscriber() {
        let hub = WakeHub::new();
        let mine = hub.subscribe(Some(&StreamId::new("a")));
        let any = hub.subscribe(None);
        hub.notify(&StreamId::new("b"));
        assert!(!mine.is_signalled());
        assert!(any.is_signalled());
    }

    #[tokio::test]
    async fn wait_times_out_without_a_signal() {
        let hub = WakeHub::new();
        let mut sub = hub.subscribe(None);
        assert_eq!(sub.wait(Duration::from_millis(1)).await, Wake::TimedOut);
    }

    #[test]
    fn dropping_the_last_subscriber_forgets_the_stream() {
        let hub = WakeHub::new();
        let s = StreamId::new("s");
        let a = hub.subscribe(Some(&s));
        let b = hub.subscribe(Some(&s));
        drop(a);
        assert_eq!(hub.streams.lock().unwrap().len(), 1);
        drop(b);
        assert!(hub.streams.lock().unwrap().is_empty());
    }
}
