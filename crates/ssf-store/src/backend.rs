//! How a write reaches the database, and who hears of it: the one seam between the single
//! [`TransmitterStore`](crate::TransmitterStore) implementation (`transmitter::api`) and the two
//! backends.
//!
//! - [`SqliteStore`](crate::SqliteStore): a write is a job of the group-commit writer task;
//!   there is one node, so nobody else needs telling.
//! - [`PgStore`](crate::PgStore): a write is one transaction, run again when it lost a race to
//!   another node; before it commits, it sends `NOTIFY` for what it [announces](Announce), so
//!   the other nodes' workers wake and their routing caches follow.
//!
//! Either way, once the write committed, this node's [`WakeHub`] is woken for the streams it
//! announced ([`Backend::write`]).
//!
//! The receiver's stores have their own seam, [`ReceiverBackend`], under the one
//! [`ReceiverStore`](crate::receiver::ReceiverStore) implementation (`receiver::api`): the same
//! write paths, and what only PostgreSQL has, its state change log for the other nodes.

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use sqlx::{Database, Pool};
use ssf_types::{StreamId, UnixMillis};

use crate::{
    engine::Engine,
    error::StoreResult,
    receiver::{ApplyItem, ApplyResult, StateChanges},
    wake::{WakeHub, WorkSubscription},
};

/// A boxed, sendable future borrowing for `'a`: what a write operation returns.
pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The connection type of a backend's engine.
pub(crate) type Conn<B> = <<B as Backend>::Db as Database>::Connection;

/// What a committed write means for others: whose SETs became deliverable, and whether a stream
/// or subject changed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Announce<'a> {
    /// Streams with SETs that became deliverable.
    pub(crate) work: Work<'a>,
    /// A stream or a subject changed (other nodes' routing caches must follow).
    pub(crate) config: bool,
}

/// Which streams a write made work for.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) enum Work<'a> {
    /// None.
    #[default]
    Nothing,
    /// These streams.
    Streams(&'a [StreamId]),
    /// Possibly any stream (leases expired).
    Everywhere,
}

impl<'a> Announce<'a> {
    /// Nothing to tell.
    pub(crate) const NOTHING: Self = Announce {
        work: Work::Nothing,
        config: false,
    };

    /// SETs became deliverable on `streams`.
    pub(crate) fn work(streams: &'a [StreamId]) -> Self {
        Announce {
            work: Work::Streams(streams),
            config: false,
        }
    }

    /// A stream or a subject changed, when `changed`.
    pub(crate) fn config_if(changed: bool) -> Self {
        Announce {
            work: Work::Nothing,
            config: changed,
        }
    }
}

/// What one backend provides to the shared implementation: its engine, read pool, clock and
/// wake-up hub, and how it runs a write.
pub(crate) trait Backend: Send + Sync + fmt::Debug + 'static {
    /// The database engine.
    type Db: Engine;

    /// The pool reads go to (they never wait for a write).
    fn readers(&self) -> &Pool<Self::Db>;

    /// Now, from the injected clock.
    fn now(&self) -> UnixMillis;

    /// This node's wake-up hub.
    fn hub(&self) -> &Arc<WakeHub>;

    /// Signalled when another node changed a stream or a subject; `None` where no other node
    /// can (see [`TransmitterStore::config_changes`](crate::TransmitterStore::config_changes)).
    fn config_signal(&self) -> Option<WorkSubscription> {
        None
    }

    /// Stops background tasks and closes the connections.
    fn shut_down(&self) -> impl Future<Output = ()> + Send;

    /// Runs `op` on `input` as one transaction and commits; before the commit, tells the other
    /// nodes (if any) what `announce` makes of the value. `op` may run more than once (a
    /// PostgreSQL transaction that lost a race runs again), so it only reads `input`.
    fn transact<I, T, Op>(
        &self,
        input: I,
        op: Op,
        announce: fn(&T) -> Announce<'_>,
    ) -> impl Future<Output = StoreResult<T>> + Send
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        Op: for<'c> Fn(&'c mut Conn<Self>, &'c I) -> BoxFut<'c, StoreResult<T>>
            + Send
            + Sync
            + 'static;

    /// [`transact`](Self::transact), then wakes this node's subscribers of the announced work.
    fn write<I, T, Op>(
        &self,
        input: I,
        op: Op,
        announce: fn(&T) -> Announce<'_>,
    ) -> impl Future<Output = StoreResult<T>> + Send
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        Op: for<'c> Fn(&'c mut Conn<Self>, &'c I) -> BoxFut<'c, StoreResult<T>>
            + Send
            + Sync
            + 'static,
    {
        async move {
            let value = self.transact(input, op, announce).await?;
            match announce(&value).work {
                Work::Nothing => {}
                Work::Streams(streams) => {
                    for stream in streams {
                        self.hub().notify(stream);
                    }
                }
                Work::Everywhere => self.hub().notify_all(),
            }
            Ok(value)
        }
    }
}

/// What one receiver backend provides to the shared
/// [`ReceiverStore`](crate::receiver::ReceiverStore) implementation. The state change log is
/// PostgreSQL's (several nodes); the defaults are a store without one.
pub(crate) trait ReceiverBackend: Send + Sync + fmt::Debug + 'static {
    /// The database engine.
    type Db: Engine;

    /// The pool reads go to.
    fn readers(&self) -> &Pool<Self::Db>;

    /// Now, from the injected clock.
    fn now(&self) -> UnixMillis;

    /// Runs `op` on `input` as one transaction and commits. `op` may run more than once (a
    /// PostgreSQL transaction that lost a race runs again), so it only reads `input`.
    fn transact<I, T, Op>(&self, input: I, op: Op) -> impl Future<Output = StoreResult<T>> + Send
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        Op: for<'c> Fn(
                &'c mut <Self::Db as Database>::Connection,
                &'c I,
            ) -> BoxFut<'c, StoreResult<T>>
            + Send
            + Sync
            + 'static;

    /// Applies a non-empty batch in one transaction (PostgreSQL also appends its state writes
    /// to the state change log).
    fn apply(
        &self,
        items: Vec<ApplyItem>,
    ) -> impl Future<Output = StoreResult<Vec<ApplyResult>>> + Send;

    /// The state change log's head; `None` without a log.
    fn state_log_head(&self) -> impl Future<Output = StoreResult<Option<i64>>> + Send {
        async { Ok(None) }
    }

    /// Other nodes' state writes after `cursor`; nothing without a log.
    fn state_changes(
        &self,
        cursor: i64,
        _limit: u32,
    ) -> impl Future<Output = StoreResult<StateChanges>> + Send {
        async move {
            Ok(StateChanges {
                cursor,
                ..StateChanges::default()
            })
        }
    }

    /// Forgets log entries before `older_than`; nothing without a log.
    fn purge_state_log(
        &self,
        _older_than: UnixMillis,
    ) -> impl Future<Output = StoreResult<u64>> + Send {
        async { Ok(0) }
    }

    /// Signalled when another node committed state writes; `None` without a log.
    fn state_change_signal(&self) -> Option<WorkSubscription> {
        None
    }

    /// Stops background tasks and closes the connections.
    fn shut_down(&self) -> impl Future<Output = ()> + Send;
}
