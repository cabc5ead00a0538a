-- Every verification request a receiver sent, per stream (SSF 1.0 §8.1.4.2), kept for a day: each
-- receiver node requests verification on its own schedule, so a verification event must be accepted
-- when its `state` is any one the receiver sent, not only the last one (SSF-RXV-10, SSF-VERIFY-10).
-- Kept logically identical to the SQLite receiver migration 0003.
CREATE TABLE receiver_verification_requests (
    stream_key   TEXT COLLATE "C" NOT NULL,
    state        TEXT COLLATE "C" NOT NULL,
    requested_at BIGINT NOT NULL,
    PRIMARY KEY (stream_key, state)
);
