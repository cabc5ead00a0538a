-- Receiver schema (PostgreSQL). Kept logically identical to migrations/sqlite-receiver. It may share a
-- database (and schema) with the transmitter's tables: its migrations are tracked in their own table,
-- `_ssf_receiver_migrations`. Times are BIGINT epoch milliseconds; JSON is TEXT; keys are COLLATE "C"
-- (bytewise order, as on SQLite).

-- Every SET this receiver recorded, keyed by (iss, jti): the durable de-duplication set shared by every
-- receiver node (RFC 8935 §2, SSF-RXV-13, SSF-SEC-06). Rows older than the replay window are purged
-- (SSF-RXV-20).
CREATE TABLE received_sets (
    iss         TEXT COLLATE "C" NOT NULL,
    jti         TEXT COLLATE "C" NOT NULL,
    received_at BIGINT NOT NULL,
    stream_key  TEXT COLLATE "C" NOT NULL,
    event_type  TEXT NOT NULL,
    PRIMARY KEY (iss, jti)
);
CREATE INDEX received_sets_received_at ON received_sets (received_at);

-- The materialised state the receiver's handlers build: (kind, key) -> (value, event_time). A write
-- replaces a row only if it is not older (event_time), so effects are idempotent and commute.
CREATE TABLE receiver_state (
    kind       TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    value      TEXT NOT NULL,
    event_time BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, key)
);

-- The receiver's audit log. `stream_id` holds the receiver's stream key.
CREATE TABLE receiver_audit (
    id        BIGSERIAL PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    stream_id TEXT,
    detail    TEXT NOT NULL
);
CREATE INDEX receiver_audit_stream ON receiver_audit (stream_id, id);

-- The receiver's own streams at its transmitters (SSF 1.0 §8.1.1), keyed by the receiver's local
-- stream key (the last segment of its push URL).
CREATE TABLE receiver_streams (
    stream_key                  TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    peer                        TEXT NOT NULL,
    issuer                      TEXT NOT NULL,
    stream_id                   TEXT,
    delivery                    TEXT NOT NULL CHECK (delivery IN ('push', 'poll')),
    status                      TEXT NOT NULL CHECK (status IN ('enabled', 'paused', 'disabled')),
    status_reason               TEXT,
    push_auth_sha256            TEXT,
    config                      TEXT NOT NULL,
    expected_verification_state TEXT,
    verification_requested_at   BIGINT,
    last_verified_at            BIGINT,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL
);
