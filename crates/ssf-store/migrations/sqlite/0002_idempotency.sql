-- Idempotency keys of POST /events (decision D-TX-16). One row per (client, key): the fingerprint of the
-- first request and its response, replayed to retries until `expires_at`. Written in the transaction that
-- queues the request's SETs. Kept logically identical to migrations/postgres.
CREATE TABLE idempotency_keys (
    client_id    TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (client_id, idem_key)
);
-- Purge of expired keys.
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
