-- Idempotency keys of POST /events (decision D-TX-16). One row per (client, key): the fingerprint of the
-- first request and its response, replayed to retries until `expires_at`. Written in the transaction that
-- queues the request's SETs; a second request with the same key waits on the primary key until the first
-- commits, then finds its row. Kept logically identical to migrations/sqlite.
CREATE TABLE idempotency_keys (
    client_id    TEXT COLLATE "C" NOT NULL,
    idem_key     TEXT COLLATE "C" NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (client_id, idem_key)
);
-- Purge of expired keys.
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
