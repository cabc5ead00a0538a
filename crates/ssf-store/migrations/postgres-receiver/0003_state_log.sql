-- The state change log: every state write an apply_batch stored, in commit order, so that every
-- receiver node on this database can bring its in-memory state up to date with what the others
-- applied (issue 6: "a decision on any node sees the event applied on another"). PostgreSQL only:
-- one SQLite file serves one node.
--
-- Ids follow commit order: a transaction takes a transaction-scoped advisory lock before it takes
-- ids from the sequence and holds it to its commit, so a reader that saw id N has seen every
-- committed entry below N. Aborted transactions leave gaps, which readers skip.
CREATE TABLE receiver_state_log (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    node       TEXT NOT NULL,
    op         TEXT NOT NULL CHECK (op IN ('put', 'delete')),
    kind       TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    value      TEXT,
    event_time BIGINT NOT NULL
);
CREATE INDEX receiver_state_log_at ON receiver_state_log (at);

-- The highest log id purged so far: a reader whose cursor is below it missed entries and must
-- reload the whole state.
CREATE TABLE receiver_state_log_purged (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    through   BIGINT NOT NULL
);
INSERT INTO receiver_state_log_purged (singleton, through) VALUES (TRUE, 0);
