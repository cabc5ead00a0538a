//! Portable SQL text shared by the backends: `$N` placeholders, BIGINT epoch milliseconds, TEXT
//! JSON, `TRUE`/`FALSE` literals. Engine-specific statements (the claim, notification) live with
//! their backend.

/// Columns of a `streams` row, in [`StreamRow`](crate::rows::StreamRow) order.
macro_rules! stream_cols {
    () => {
        "stream_id, client_id, delivery, status, status_reason, default_subjects, config, revision, \
         inactivity_timeout_secs, min_verification_interval_secs, created_at, updated_at, \
         last_activity_at, last_verification_at"
    };
}

/// Columns of a `stream_subjects` row.
macro_rules! subject_cols {
    () => {
        "x.stream_id, x.subject_key, x.subject, x.included, x.verified, x.updated_at"
    };
}

/// Columns of a full outbox row.
macro_rules! outbox_cols {
    () => {
        "id, stream_id, jti, subject_key, state, set_jwt, attempts, created_at, next_attempt_at, \
         error_code, error_detail, finished_at"
    };
}

/// The state a row takes when it becomes ready: `pending` on an enabled stream, else `held`.
macro_rules! ready_state {
    () => {
        "(SELECT CASE s.status WHEN 'enabled' THEN 'pending' ELSE 'held' END \
          FROM streams s WHERE s.stream_id = outbox.stream_id)"
    };
}

/// States of rows still to deliver.
macro_rules! queued_states {
    () => {
        "('waiting', 'pending', 'held', 'leased')"
    };
}

// --- streams ---------------------------------------------------------------------------------

pub(crate) const INSERT_STREAM: &str = "INSERT INTO streams (stream_id, client_id, delivery, \
    status, status_reason, default_subjects, config, revision, inactivity_timeout_secs, \
    min_verification_interval_secs, created_at, updated_at, last_activity_at) \
    VALUES ($1, $2, $3, $4, NULL, $5, $6, 1, $7, $8, $9, $9, $9)";
pub(crate) const SELECT_STREAM_SCOPED: &str = concat!(
    "SELECT ",
    stream_cols!(),
    " FROM streams WHERE stream_id = $1 AND client_id = $2"
);
pub(crate) const SELECT_STREAM: &str = concat!(
    "SELECT ",
    stream_cols!(),
    " FROM streams WHERE stream_id = $1"
);
pub(crate) const SELECT_CLIENT_STREAMS: &str = concat!(
    "SELECT ",
    stream_cols!(),
    " FROM streams WHERE client_id = $1 ORDER BY created_at, stream_id"
);
pub(crate) const SELECT_ALL_STREAMS: &str = concat!(
    "SELECT ",
    stream_cols!(),
    " FROM streams WHERE stream_id > $1 ORDER BY stream_id LIMIT $2"
);
pub(crate) const SELECT_INACTIVE_STREAMS: &str = concat!(
    "SELECT ",
    stream_cols!(),
    " FROM streams WHERE status <> 'disabled' AND inactivity_timeout_secs IS NOT NULL \
     AND last_activity_at + inactivity_timeout_secs * 1000 <= $1 ORDER BY stream_id"
);
pub(crate) const SELECT_STREAM_STATE_SCOPED: &str =
    "SELECT status, delivery, revision FROM streams WHERE stream_id = $1 AND client_id = $2";
pub(crate) const SELECT_STREAM_STATE: &str =
    "SELECT status, delivery FROM streams WHERE stream_id = $1";
pub(crate) const UPDATE_STREAM_CONFIG: &str = "UPDATE streams SET config = $2, delivery = $3, \
    inactivity_timeout_secs = $4, min_verification_interval_secs = $5, revision = revision + 1, \
    updated_at = $6 WHERE stream_id = $1";
pub(crate) const UPDATE_STREAM_STATUS: &str =
    "UPDATE streams SET status = $2, status_reason = $3, updated_at = $4 WHERE stream_id = $1";
pub(crate) const DELETE_STREAM: &str =
    "DELETE FROM streams WHERE stream_id = $1 AND client_id = $2";
pub(crate) const TOUCH_STREAM: &str =
    "UPDATE streams SET last_activity_at = $3 WHERE stream_id = $1 AND client_id = $2";
pub(crate) const SELECT_VERIFICATION: &str = "SELECT min_verification_interval_secs, \
    last_verification_at FROM streams WHERE stream_id = $1 AND client_id = $2";
pub(crate) const RECORD_VERIFICATION: &str =
    "UPDATE streams SET last_verification_at = $2, last_activity_at = $2 WHERE stream_id = $1";

// --- subjects --------------------------------------------------------------------------------

pub(crate) const UPSERT_SUBJECT: &str = "INSERT INTO stream_subjects (stream_id, subject_key, \
    subject, included, verified, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (stream_id, subject_key) DO UPDATE SET subject = excluded.subject, \
    included = excluded.included, verified = excluded.verified, updated_at = excluded.updated_at";
pub(crate) const SELECT_SUBJECT: &str = concat!(
    "SELECT ",
    subject_cols!(),
    " FROM stream_subjects x JOIN streams s ON s.stream_id = x.stream_id \
     WHERE x.stream_id = $1 AND s.client_id = $2 AND x.subject_key = $3"
);
pub(crate) const LIST_SUBJECTS: &str = concat!(
    "SELECT ",
    subject_cols!(),
    " FROM stream_subjects x JOIN streams s ON s.stream_id = x.stream_id \
     WHERE x.stream_id = $1 AND s.client_id = $2 AND x.subject_key > $3 \
     ORDER BY x.subject_key LIMIT $4"
);
/// Followed by `(<key placeholders>) ORDER BY ...`.
pub(crate) const SUBJECT_ENTRIES_PREFIX: &str = concat!(
    "SELECT ",
    subject_cols!(),
    " FROM stream_subjects x WHERE x.subject_key IN "
);
pub(crate) const COUNT_SUBJECTS: &str = "SELECT included, COUNT(*) FROM stream_subjects \
    WHERE stream_id = $1 GROUP BY included";
pub(crate) const COUNT_SUBJECTS_BY_STREAM: &str = "SELECT stream_id, included, COUNT(*) \
    FROM stream_subjects GROUP BY stream_id, included";
pub(crate) const COUNT_STREAMS: &str = "SELECT COUNT(*) FROM streams";
pub(crate) const MATCH_WITHOUT_KEYS: &str = "SELECT stream_id FROM streams \
    WHERE status <> 'disabled' AND default_subjects = 'ALL' ORDER BY stream_id";

/// The matching rule with `keys` standing for a placeholder list such as `($1, $2)`.
pub(crate) fn match_streams(keys: &str) -> String {
    format!(
        "SELECT s.stream_id FROM streams s WHERE s.status <> 'disabled' AND ( \
         EXISTS (SELECT 1 FROM stream_subjects x WHERE x.stream_id = s.stream_id \
                 AND x.included = TRUE AND x.subject_key IN {keys}) \
         OR (s.default_subjects = 'ALL' AND NOT EXISTS (SELECT 1 FROM stream_subjects x \
                 WHERE x.stream_id = s.stream_id AND x.included = FALSE \
                 AND x.subject_key IN {keys}))) ORDER BY s.stream_id"
    )
}

// --- outbox ----------------------------------------------------------------------------------

/// Keys of `$1` with a queued row, among an `IN` list of keys starting at `$2`.
pub(crate) const QUEUED_KEYS_PREFIX: &str = concat!(
    "SELECT DISTINCT subject_key FROM outbox WHERE stream_id = $1 AND state IN ",
    queued_states!(),
    " AND subject_key IN "
);
/// Keys of `$1` with a waiting row, among an `IN` list of keys starting at `$2`.
pub(crate) const WAITING_KEYS_PREFIX: &str = "SELECT DISTINCT subject_key FROM outbox \
    WHERE stream_id = $1 AND state = 'waiting' AND subject_key IN ";
/// Followed by rows of [`INSERT_ROW_PARAMS`] placeholders; `$1` is the enqueue time.
pub(crate) const INSERT_OUTBOX_PREFIX: &str = "INSERT INTO outbox (stream_id, jti, subject_key, \
    channel, state, set_jwt, attempts, created_at, next_attempt_at) VALUES ";
/// Placeholders per inserted outbox row.
pub(crate) const INSERT_ROW_PARAMS: usize = 6;
/// Releases the oldest waiting SET of `($1, $2)` unless one of that key is still in flight.
pub(crate) const PROMOTE: &str = concat!(
    "UPDATE outbox SET state = ",
    ready_state!(),
    " WHERE id = (SELECT MIN(w.id) FROM outbox w WHERE w.stream_id = $1 AND w.subject_key = $2 \
       AND w.state = 'waiting') \
     AND NOT EXISTS (SELECT 1 FROM outbox q WHERE q.stream_id = $1 AND q.subject_key = $2 \
       AND q.state IN ('pending', 'held', 'leased'))"
);
/// Followed by an id placeholder list.
pub(crate) const DELETE_DELIVERED_PREFIX: &str =
    "DELETE FROM outbox WHERE state IN ('pending', 'held', 'leased') AND id IN ";
pub(crate) const DELETE_DELIVERED_RETURNING: &str =
    " RETURNING stream_id, subject_key, channel, id";
pub(crate) const RETRY: &str = concat!(
    "UPDATE outbox SET state = ",
    ready_state!(),
    ", next_attempt_at = $3, lease_owner = NULL, lease_until = NULL, error_code = $4, \
     error_detail = $5 WHERE id = $1 AND state = 'leased' AND lease_owner = $2"
);
pub(crate) const PARK: &str = "UPDATE outbox SET state = $3, lease_owner = NULL, \
    lease_until = NULL, error_code = $4, error_detail = $5, finished_at = $6 \
    WHERE id = $1 AND state = 'leased' AND lease_owner = $2 \
    RETURNING stream_id, subject_key, channel";
pub(crate) const REAP: &str = concat!(
    "UPDATE outbox SET state = ",
    ready_state!(),
    ", lease_owner = NULL, lease_until = NULL WHERE state = 'leased' AND lease_until <= $1"
);
pub(crate) const NEXT_PUSH_DUE: &str =
    "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending' AND channel = 'push'";
pub(crate) const HOLD_STREAM: &str =
    "UPDATE outbox SET state = 'held' WHERE stream_id = $1 AND state = 'pending'";
pub(crate) const RELEASE_STREAM: &str =
    "UPDATE outbox SET state = 'pending' WHERE stream_id = $1 AND state = 'held'";
pub(crate) const DROP_QUEUED: &str = concat!(
    "DELETE FROM outbox WHERE stream_id = $1 AND state IN ",
    queued_states!()
);
pub(crate) const SET_CHANNEL: &str = "UPDATE outbox SET channel = $2 WHERE stream_id = $1";
pub(crate) const RELEASE_WAITING: &str =
    "UPDATE outbox SET state = $2 WHERE stream_id = $1 AND state = 'waiting'";
pub(crate) const SELECT_IN_FLIGHT: &str = "SELECT id, subject_key, state FROM outbox \
    WHERE stream_id = $1 AND state IN ('pending', 'held', 'leased') ORDER BY id";
pub(crate) const MAKE_WAITING: &str =
    "UPDATE outbox SET state = 'waiting' WHERE id = $1 AND state IN ('pending', 'held')";
pub(crate) const LIST_PARKED: &str = concat!(
    "SELECT ",
    outbox_cols!(),
    " FROM outbox WHERE state IN ('failed', 'dead') AND id > $1 \
     AND ($2 IS NULL OR stream_id = $2) AND ($3 IS NULL OR state = $3) ORDER BY id LIMIT $4"
);
pub(crate) const SELECT_PARKED_BY_ID: &str = "SELECT id, stream_id, subject_key, channel \
    FROM outbox WHERE id = $1 AND state IN ('failed', 'dead')";
pub(crate) const SELECT_PARKED_OF_STREAM: &str = "SELECT id, stream_id, subject_key, channel \
    FROM outbox WHERE stream_id = $1 AND state IN ('failed', 'dead') ORDER BY id";
pub(crate) const REQUEUE: &str = "UPDATE outbox SET state = $2, attempts = 0, \
    next_attempt_at = $3, finished_at = NULL, lease_owner = NULL, lease_until = NULL WHERE id = $1";
pub(crate) const PURGE_PARKED: &str =
    "DELETE FROM outbox WHERE state IN ('failed', 'dead') AND finished_at < $1";
pub(crate) const COUNT_ALL: &str = "SELECT state, COUNT(*) FROM outbox GROUP BY state";
pub(crate) const COUNT_STREAM: &str =
    "SELECT state, COUNT(*) FROM outbox WHERE stream_id = $1 GROUP BY state";
pub(crate) const COUNT_BY_STREAM: &str =
    "SELECT stream_id, state, COUNT(*) FROM outbox GROUP BY stream_id, state";

// --- poll ------------------------------------------------------------------------------------

/// Followed by a jti placeholder list starting at `$2`; `$1` is the stream.
pub(crate) const ACK_PREFIX: &str = concat!(
    "DELETE FROM outbox WHERE stream_id = $1 AND state IN ",
    queued_states!(),
    " AND jti IN "
);
pub(crate) const ACK_RETURNING: &str = " RETURNING jti, subject_key, channel";
pub(crate) const SET_ERR: &str = concat!(
    "UPDATE outbox SET state = 'failed', lease_owner = NULL, lease_until = NULL, \
     error_code = $3, error_detail = $4, finished_at = $5 \
     WHERE stream_id = $1 AND jti = $2 AND state IN ",
    queued_states!(),
    " RETURNING subject_key, channel"
);
pub(crate) const POLL_REAP: &str = "UPDATE outbox SET state = 'pending', lease_owner = NULL, \
    lease_until = NULL WHERE stream_id = $1 AND state = 'leased' AND lease_until <= $2";
pub(crate) const POLL_MORE: &str =
    "SELECT id FROM outbox WHERE stream_id = $1 AND state = 'pending' LIMIT 1";
pub(crate) const SELECT_POLL_STREAM: &str = "SELECT status, delivery FROM streams \
    WHERE stream_id = $1 AND client_id = $2";

// --- audit and clients -----------------------------------------------------------------------

pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_log (at, actor, action, stream_id, \
    detail) VALUES ($1, $2, $3, $4, $5) RETURNING id";
pub(crate) const LIST_AUDIT: &str = "SELECT id, at, actor, action, stream_id, detail \
    FROM audit_log WHERE id > $1 AND ($2 IS NULL OR stream_id = $2) ORDER BY id LIMIT $3";
pub(crate) const UPSERT_CLIENT: &str = "INSERT INTO oauth_clients (client_id, secret_hash, \
    scopes, audience, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
    ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash, \
    scopes = excluded.scopes, audience = excluded.audience, updated_at = excluded.updated_at";
pub(crate) const SELECT_CLIENT: &str = "SELECT client_id, secret_hash, scopes, audience, \
    created_at, updated_at FROM oauth_clients WHERE client_id = $1";
pub(crate) const LIST_CLIENTS: &str = "SELECT client_id, secret_hash, scopes, audience, \
    created_at, updated_at FROM oauth_clients ORDER BY client_id";
pub(crate) const DELETE_CLIENT: &str = "DELETE FROM oauth_clients WHERE client_id = $1";

// --- dynamic SQL helpers ---------------------------------------------------------------------

/// `($first, $first+1, ..., $first+n-1)`: a placeholder list for `IN`.
pub(crate) fn param_list(first: usize, n: usize) -> String {
    let mut out = String::with_capacity(n * 5 + 2);
    out.push('(');
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('$');
        out.push_str(&(first + i).to_string());
    }
    out.push(')');
    out
}

/// `($2, ..., $7, 0, $1, $1), (...)`: VALUES rows for an outbox insert of `n` rows.
pub(crate) fn outbox_values(n: usize) -> String {
    let mut out = String::with_capacity(n * 40);
    for row in 0..n {
        if row > 0 {
            out.push_str(", ");
        }
        let first = 2 + row * INSERT_ROW_PARAMS;
        let list = param_list(first, INSERT_ROW_PARAMS);
        out.push_str(&list[..list.len() - 1]);
        out.push_str(", 0, $1, $1)");
    }
    out
}

/// Splits `items` into chunks whose sizes are powers of two no larger than `max` (a power of
/// two), so a statement built per chunk size has few distinct shapes for the statement cache.
pub(crate) fn pow2_chunks<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = max.min(1 << rest.len().ilog2());
        let (head, tail) = rest.split_at(size);
        rest = tail;
        Some(head)
    })
}

/// A duration in milliseconds, saturating.
pub(crate) fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

// --- Idempotency keys (D-TX-16) -------------------------------------------------------------

/// Claims a key for a request: inserts it with an empty response, or takes over a row whose
/// window has passed (`$6` is now). Returns a row only when the claim succeeded; a live row of
/// an earlier request is left alone (on PostgreSQL after waiting for its transaction to end).
pub(crate) const CLAIM_IDEMPOTENCY: &str = "INSERT INTO idempotency_keys (client_id, idem_key, \
    request_hash, status, body, created_at, expires_at) VALUES ($1, $2, $3, 0, '', $4, $5) \
    ON CONFLICT (client_id, idem_key) DO UPDATE SET request_hash = excluded.request_hash, \
    status = 0, body = '', created_at = excluded.created_at, expires_at = excluded.expires_at \
    WHERE idempotency_keys.expires_at <= $6 RETURNING client_id";
/// Stores the response of a claimed key, in the claim's transaction.
pub(crate) const RESPOND_IDEMPOTENCY: &str = "UPDATE idempotency_keys SET status = $3, body = $4 \
    WHERE client_id = $1 AND idem_key = $2";
pub(crate) const SELECT_IDEMPOTENCY: &str = "SELECT client_id, idem_key, request_hash, status, \
    body, created_at, expires_at FROM idempotency_keys WHERE client_id = $1 AND idem_key = $2";
pub(crate) const PURGE_IDEMPOTENCY: &str = "DELETE FROM idempotency_keys WHERE expires_at <= $1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_lists() {
        assert_eq!(param_list(2, 3), "($2, $3, $4)");
        assert_eq!(
            outbox_values(2),
            "($2, $3, $4, $5, $6, $7, 0, $1, $1), ($8, $9, $10, $11, $12, $13, 0, $1, $1)"
        );
    }

    #[test]
    fn chunks_are_powers_of_two() {
        let items: Vec<u32> = (0..203).collect();
        let sizes: Vec<usize> = pow2_chunks(&items, 64).map(<[u32]>::len).collect();
        assert_eq!(sizes, vec![64, 64, 64, 8, 2, 1]);
        assert_eq!(pow2_chunks::<u32>(&[], 64).count(), 0);
    }
}
