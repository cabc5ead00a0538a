//! Push delivery ([RFC 8935](https://www.rfc-editor.org/rfc/rfc8935)) from the durable outbox.
//!
//! A pool of workers ([`worker`]) claims due SETs of enabled push streams in batches under a
//! lease ([`claim_push`](ssf_store::TransmitterStore::claim_push)), POSTs each one
//! ([`attempt`]) and records every outcome of the batch in one transaction
//! ([`record_outcomes`](ssf_store::TransmitterStore::record_outcomes)):
//!
//! | answer | what happens |
//! |---|---|
//! | `202` (any 2xx with `accept_any_2xx`) | delivered, row deleted (PUSH-18) |
//! | `400` with `{"err","description"}` | parked as failed with the reason, never retried (PUSH-17) |
//! | `401`/`403` | configuration failure: logged as an error, retried at most `auth_failure_attempts` times, then failed (D-08) |
//! | `5xx`, `408`, `429`, timeout, connection failure | retried on the schedule with jitter; `Retry-After` honoured up to `retry.max_retry_after` (PUSH-16) |
//! | schedule exhausted | dead-lettered (kept for inspection and replay) |
//! | other `4xx`, `3xx` (never followed), refused destination | failed |
//!
//! Failures are logged per stream at `WARN`, rate-limited, and the streams that keep failing show
//! in `/healthz` and `ssf_push_failing_streams` ([`health`]). Deliveries and failures per stream,
//! push and poll, are counted in memory for operators ([`stats`]).
//!
//! Retries are durable: `next_attempt_at` is in the store, so a restart loses nothing; a worker
//! that dies mid-delivery loses only its lease, and the reaper hands the rows to the next worker.
//! Workers wake the moment a SET is queued (the store's wake-ups), else look again every
//! `idle_poll_interval`, and stop after their current batch when `state.shutdown` fires.

pub(crate) mod attempt;
pub(crate) mod health;
pub(crate) mod stats;
pub(crate) mod worker;
