//! The SQL of the verification requests a receiver sent (`receiver_verification_requests`),
//! shared by both backends (`$N` placeholders work on SQLite and PostgreSQL).

/// Records (or renews) the request with `state` on a stream: `$1` stream key, `$2` state, `$3`
/// now.
pub(crate) const INSERT: &str = "INSERT INTO receiver_verification_requests \
    (stream_key, state, requested_at) VALUES ($1, $2, $3) \
    ON CONFLICT (stream_key, state) DO UPDATE SET requested_at = excluded.requested_at";

/// Forgets a stream's requests older than `$2`.
pub(crate) const PRUNE: &str =
    "DELETE FROM receiver_verification_requests WHERE stream_key = $1 AND requested_at < $2";

/// Forgets every request of a stream (the stream was deleted).
pub(crate) const DELETE_STREAM: &str =
    "DELETE FROM receiver_verification_requests WHERE stream_key = $1";

/// How many requests of stream `$1` with state `$2` were sent at or after `$3` (0 or 1).
pub(crate) const COUNT_SINCE: &str = "SELECT COUNT(*) FROM receiver_verification_requests \
    WHERE stream_key = $1 AND state = $2 AND requested_at >= $3";
