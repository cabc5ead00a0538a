-- Every verification request a receiver sent, per stream (SSF 1.0 §8.1.4.2), kept for a day: with
-- several receiver nodes on one database each node requests verification on its own schedule, so a
-- verification event must be accepted when its `state` is any one the receiver sent, not only the
-- last one (SSF-RXV-10, SSF-VERIFY-10). Kept logically identical to the PostgreSQL receiver
-- migration 0004 (PostgreSQL's 0003 is its state log, which SQLite does not need).
CREATE TABLE receiver_verification_requests (
    stream_key   TEXT NOT NULL,
    state        TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    PRIMARY KEY (stream_key, state)
);
