//! The single SQLite writer, with group commit.
//!
//! SQLite allows one writer at a time, and with `synchronous=FULL` every commit costs an fsync
//! (milliseconds on ordinary disks). So all writes go to one task owning one connection. It takes
//! every job waiting in its queue, runs each in its own savepoint inside one `BEGIN IMMEDIATE`
//! transaction, commits once, and only then answers each caller. A failing job rolls back to its
//! savepoint and gets its own error; the others still commit. Under load, jobs that arrive during
//! one commit form the next group, so throughput grows with concurrency instead of being capped
//! at one fsync per operation.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use sqlx::{Connection, SqliteConnection};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

use crate::backend::BoxFut;
use crate::error::{StoreError, StoreResult};

/// Delivers a job's answer once its group's fate is known (`Some(failure)`: the commit failed).
type Done = Box<dyn FnOnce(Option<&GroupFailure>) + Send>;

/// Why a whole group failed; every job of it gets this as its error.
#[derive(Debug)]
struct GroupFailure {
    /// The database's error.
    err: Arc<sqlx::Error>,
    /// Whether the database was locked or unreachable: the jobs may be retried.
    unavailable: bool,
}

impl GroupFailure {
    fn new(err: sqlx::Error) -> Self {
        let unavailable = crate::error::database_unavailable(&err);
        Self {
            err: Arc::new(err),
            unavailable,
        }
    }

    fn to_store_error(&self) -> StoreError {
        if self.unavailable {
            StoreError::Unavailable(Arc::clone(&self.err))
        } else {
            StoreError::CommitFailed {
                reason: self.err.to_string(),
                source: Some(Arc::clone(&self.err)),
            }
        }
    }
}

/// Runs a job's work; says whether it succeeded and how to answer.
type Run = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFut<'c, (bool, Done)> + Send>;

/// A queued write.
struct Job {
    /// Runs the work.
    run: Run,
    /// Answers without running (the transaction could not even start).
    abort: Box<dyn FnOnce(&GroupFailure) + Send>,
}

fn job_runner<F>(f: F) -> Run
where
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFut<'c, (bool, Done)> + Send + 'static,
{
    Box::new(f)
}

/// Handle to the writer task.
pub(crate) struct Writer {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer task on `conn`; at most `max_group` jobs share one commit.
    pub(crate) fn start(conn: SqliteConnection, max_group: usize) -> Self {
        let (tx, rx) = mpsc::channel(max_group.max(1) * 4);
        let task = tokio::spawn(run_loop(conn, rx, max_group.max(1)));
        Self {
            queue: Mutex::new(Some(tx)),
            task: tokio::sync::Mutex::new(Some(task)),
        }
    }

    /// Runs `op` on `input` in the writer's next group and returns its result once committed.
    pub(crate) async fn transact<I, T, Op>(&self, input: I, op: Op) -> StoreResult<T>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        Op: for<'c> Fn(&'c mut SqliteConnection, &'c I) -> BoxFut<'c, StoreResult<T>>
            + Send
            + Sync
            + 'static,
    {
        self.run(move |c| Box::pin(async move { op(c, &input).await }))
            .await
    }

    /// Runs `f` in the writer's next group and returns its result once committed.
    pub(crate) async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFut<'c, StoreResult<T>> + Send + 'static,
    {
        let (answer_tx, answer_rx) = oneshot::channel::<StoreResult<T>>();
        let slot = Arc::new(Mutex::new(Some(answer_tx)));
        let abort_slot = Arc::clone(&slot);
        let run = job_runner(move |conn| {
            Box::pin(async move {
                let result = f(conn).await;
                let ok = result.is_ok();
                let done: Done = Box::new(move |commit_error| {
                    let answer = match (commit_error, result) {
                        (Some(failure), Ok(_)) => Err(failure.to_store_error()),
                        (_, result) => result,
                    };
                    send(&slot, answer);
                });
                (ok, done)
            })
        });
        let abort = Box::new(move |failure: &GroupFailure| {
            send(&abort_slot, Err(failure.to_store_error()));
        });
        let queue = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let queue = queue.ok_or(StoreError::Closed)?;
        queue
            .send(Job { run, abort })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer_rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops accepting jobs, lets queued ones finish, and closes the connection.
    pub(crate) async fn close(&self) {
        drop(
            self.queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let task = self.task.lock().await.take();
        if let Some(Err(err)) = match task {
            Some(task) => Some(task.await),
            None => None,
        } {
            tracing::error!(%err, "sqlite writer task failed");
        }
    }
}

fn send<T>(slot: &Mutex<Option<oneshot::Sender<T>>>, answer: T) {
    if let Some(tx) = slot.lock().unwrap_or_else(PoisonError::into_inner).take() {
        // The caller may have gone away; the work is done either way.
        let _ = tx.send(answer);
    }
}

async fn run_loop(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Job>, max_group: usize) {
    let mut group = Vec::with_capacity(max_group);
    while let Some(job) = rx.recv().await {
        group.push(job);
        while group.len() < max_group {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        run_group(&mut conn, &mut group).await;
    }
    if let Err(err) = conn.close().await {
        tracing::warn!(%err, "closing the sqlite writer connection failed");
    }
}

async fn run_group(conn: &mut SqliteConnection, group: &mut Vec<Job>) {
    let single = group.len() == 1;
    let mut tx = match conn.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(err) => {
            let failure = GroupFailure::new(err);
            tracing::error!(reason = %failure.err, "sqlite writer could not begin a transaction");
            for job in group.drain(..) {
                (job.abort)(&failure);
            }
            return;
        }
    };
    let mut done = Vec::with_capacity(group.len());
    let mut jobs = group.drain(..);
    let mut broken: Option<GroupFailure> = None;
    let mut single_failed = false;
    for job in jobs.by_ref() {
        if single {
            let (ok, answer) = (job.run)(&mut tx).await;
            single_failed = !ok;
            done.push(answer);
            break;
        }
        let mut savepoint = match tx.begin().await {
            Ok(sp) => sp,
            Err(err) => {
                let failure = GroupFailure::new(err);
                (job.abort)(&failure);
                broken = Some(failure);
                break;
            }
        };
        let (ok, answer) = (job.run)(&mut savepoint).await;
        let closed = if ok {
            savepoint.commit().await
        } else {
            savepoint.rollback().await
        };
        done.push(answer);
        if let Err(err) = closed {
            broken = Some(GroupFailure::new(err));
            break;
        }
    }
    if let Some(failure) = broken {
        for job in jobs {
            (job.abort)(&failure);
        }
        if let Err(err) = tx.rollback().await {
            tracing::error!(%err, "sqlite writer rollback failed");
        }
        for answer in done {
            answer(Some(&failure));
        }
        return;
    }
    let finished = if single_failed {
        tx.rollback().await
    } else {
        tx.commit().await
    };
    let failure = finished.err().map(GroupFailure::new);
    if let Some(failure) = &failure {
        tracing::error!(reason = %failure.err, "sqlite group commit failed");
    }
    for answer in done {
        answer(failure.as_ref());
    }
}
