-- Transmitter schema (PostgreSQL). Kept logically identical to migrations/sqlite: times are BIGINT epoch
-- milliseconds, JSON is TEXT (stored and returned byte for byte, read by the same row types as on SQLite),
-- ids are BIGSERIAL (never reused, so a stale worker can never touch a newer row). Keys are COLLATE "C":
-- ordered and paged bytewise, as on SQLite, whatever the database's locale.

-- Streams (SSF 1.0 §8.1.1). The configuration the receiver sees is `config` (JSON); the columns next
-- to it are the ones the store itself filters on.
CREATE TABLE streams (
    stream_id                      TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    client_id                      TEXT COLLATE "C" NOT NULL,
    delivery                       TEXT NOT NULL CHECK (delivery IN ('push', 'poll')),
    status                         TEXT NOT NULL CHECK (status IN ('enabled', 'paused', 'disabled')),
    status_reason                  TEXT,
    default_subjects               TEXT NOT NULL CHECK (default_subjects IN ('ALL', 'NONE')),
    config                         TEXT NOT NULL,
    revision                       BIGINT NOT NULL,
    inactivity_timeout_secs        BIGINT,
    min_verification_interval_secs BIGINT,
    created_at                     BIGINT NOT NULL,
    updated_at                     BIGINT NOT NULL,
    last_activity_at               BIGINT NOT NULL,
    last_verification_at           BIGINT
);
CREATE INDEX streams_client ON streams (client_id, created_at);

-- Subjects added to (included = TRUE) or removed from (included = FALSE) a stream (SSF 1.0 §8.1.3).
CREATE TABLE stream_subjects (
    stream_id   TEXT COLLATE "C" NOT NULL REFERENCES streams (stream_id) ON DELETE CASCADE,
    subject_key TEXT COLLATE "C" NOT NULL,
    subject     TEXT NOT NULL,
    included    BOOLEAN NOT NULL,
    verified    BOOLEAN,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (stream_id, subject_key)
);
CREATE INDEX stream_subjects_key ON stream_subjects (subject_key);

-- The outbox: one row per signed SET per stream, from enqueue until delivered/acknowledged (deleted) or
-- parked (failed/dead). Workers on every node claim rows with FOR UPDATE SKIP LOCKED under a lease.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    stream_id       TEXT COLLATE "C" NOT NULL REFERENCES streams (stream_id) ON DELETE CASCADE,
    jti             TEXT COLLATE "C" NOT NULL,
    subject_key     TEXT COLLATE "C" NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('push', 'poll')),
    state           TEXT NOT NULL
                    CHECK (state IN ('waiting', 'pending', 'held', 'leased', 'failed', 'dead')),
    set_jwt         TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    error_code      TEXT,
    error_detail    TEXT,
    finished_at     BIGINT
);
-- Push claim: due rows, oldest first.
CREATE INDEX outbox_push_due ON outbox (next_attempt_at, id) WHERE state = 'pending' AND channel = 'push';
-- Poll hand-out, pause/resume/drop of one stream, per-stream counts.
CREATE INDEX outbox_stream_state ON outbox (stream_id, state, id);
-- Per-subject order: the head of each (stream, subject) queue.
CREATE INDEX outbox_subject ON outbox (stream_id, subject_key, id);
-- PostgreSQL only: at most one ready, held or leased push SET per (stream, subject key), so SETs of one
-- subject are delivered in order (SSF-STATUS-14) even when several nodes enqueue and finish SETs at once.
-- SQLite's single writer guarantees this without an index.
CREATE UNIQUE INDEX outbox_one_in_flight ON outbox (stream_id, subject_key)
    WHERE channel = 'push' AND state IN ('pending', 'held', 'leased');
-- Poll ack/setErrs by jti; a jti is unique within its stream.
CREATE UNIQUE INDEX outbox_jti ON outbox (stream_id, jti);
-- Lease reaper.
CREATE INDEX outbox_leases ON outbox (lease_until) WHERE state = 'leased';
-- Dead letters and permanent failures, for inspection and replay.
CREATE INDEX outbox_parked ON outbox (id) WHERE state IN ('failed', 'dead');

-- Audit log of management actions. No foreign key: entries outlive their stream.
CREATE TABLE audit_log (
    id        BIGSERIAL PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    stream_id TEXT COLLATE "C",
    detail    TEXT NOT NULL
);
CREATE INDEX audit_log_stream ON audit_log (stream_id, id);

-- OAuth clients of the transmitter's token endpoint (receivers and event producers).
CREATE TABLE oauth_clients (
    client_id   TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    secret_hash TEXT,
    scopes      TEXT NOT NULL,
    audience    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
