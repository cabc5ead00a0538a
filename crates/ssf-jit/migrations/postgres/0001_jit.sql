-- Just-in-time access bridge (PostgreSQL): the same tables as migrations/sqlite, so both
-- backends share every query. Times are BIGINT epoch milliseconds; JSON is TEXT. The only
-- difference is the spelling of the sequence columns (BIGINT GENERATED ALWAYS AS IDENTITY).
-- Tracked in its own table (_ssf_jit_migrations), so it can share a database and schema with
-- the transmitter's and receiver's tables. Several bridge nodes use one database; how they
-- stay consistent is in crates/ssf-jit/README.md ("Several nodes").

-- Every accepted webhook delivery, for replay protection: a second delivery with the same
-- (system, delivery_id) is answered "duplicate" and changes nothing. Pruned after
-- jit.delivery_retention.
CREATE TABLE jit_deliveries (
    system      TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    ticket_id   TEXT,
    received_at BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    PRIMARY KEY (system, delivery_id)
);
CREATE INDEX jit_deliveries_received_at ON jit_deliveries (received_at);

-- What the bridge knows of each ticket, as of its newest applied event (ticket-system time).
CREATE TABLE jit_tickets (
    system        TEXT NOT NULL,
    ticket_id     TEXT NOT NULL,
    state         TEXT NOT NULL,   -- lifecycle::TicketState as JSON
    is_open       BIGINT NOT NULL, -- 1 open, 0 closed (a copy of state.open for queries)
    last_event_at BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (system, ticket_id)
);

-- One row per grant a ticket gave one user on one asset; ended rows stay for the audit trail
-- (and an expired row stops the same assignment from being granted again).
CREATE TABLE jit_grants (
    grant_id    TEXT PRIMARY KEY NOT NULL,
    system      TEXT NOT NULL,
    ticket_id   TEXT NOT NULL,
    subject_key TEXT NOT NULL,
    subject     TEXT NOT NULL,     -- sub_id JSON
    asset_type  TEXT NOT NULL,
    asset_id    TEXT NOT NULL,
    access      TEXT NOT NULL,
    claim_names TEXT NOT NULL,     -- ClaimNames JSON of the system's rules
    assigned_at BIGINT NOT NULL,   -- event time of the assignment it belongs to
    granted_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'expired')),
    ended_at    BIGINT,
    end_reason  TEXT,
    grant_txn   TEXT NOT NULL,
    end_txn     TEXT
);
CREATE INDEX jit_grants_ticket ON jit_grants (system, ticket_id, status);
CREATE INDEX jit_grants_key ON jit_grants (subject_key, asset_type, asset_id, status);
CREATE INDEX jit_grants_expiry ON jit_grants (status, expires_at);

-- What the app was last told per (user, asset): the effective access over all active grants.
-- An event is queued exactly when this changes. access NULL: revoked.
CREATE TABLE jit_effective (
    subject_key TEXT NOT NULL,
    asset_type  TEXT NOT NULL,
    asset_id    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    claim_names TEXT NOT NULL,
    access      TEXT,
    expires_at  BIGINT,
    last_txn    TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (subject_key, asset_type, asset_id)
);

-- Events to send to the transmitter's POST /events, written in the same transaction as the
-- grant change. Sent in seq order per order_key (user + asset), so a revoke never overtakes the
-- grant it revokes. 'failed' rows (a 4xx answer) are kept for inspection.
CREATE TABLE jit_outbox (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_key       TEXT NOT NULL,
    system          TEXT NOT NULL,
    ticket_id       TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('grant', 'revoke')),
    txn             TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    response        TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX jit_outbox_due ON jit_outbox (status, next_attempt_at, seq);
CREATE INDEX jit_outbox_order ON jit_outbox (order_key, status, seq);

-- The audit trail: ticket event -> decision -> grant change -> queued event -> SET jtis.
CREATE TABLE jit_audit (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    system      TEXT,
    ticket_id   TEXT,
    txn         TEXT,
    action      TEXT NOT NULL,
    subject_key TEXT,
    asset       TEXT,
    detail      TEXT NOT NULL
);
CREATE INDEX jit_audit_ticket ON jit_audit (system, ticket_id, id);
CREATE INDEX jit_audit_txn ON jit_audit (txn);
