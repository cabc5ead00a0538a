-- The receiver's audit log becomes searchable by the SET it records and by subject, and purged on its
-- own retention (decision D-RX-04), longer than the replay window of received_sets. Kept logically
-- identical to migrations/sqlite-receiver.

-- The SET (iss, jti) an entry records; NULL for entries not about one SET (e.g. stream set-up).
ALTER TABLE receiver_audit ADD COLUMN iss TEXT COLLATE "C";
ALTER TABLE receiver_audit ADD COLUMN jti TEXT COLLATE "C";
CREATE INDEX receiver_audit_jti ON receiver_audit (jti, iss);
CREATE INDEX receiver_audit_at ON receiver_audit (at);

-- The subject keys (e.g. a canonical subject pattern and its handle keys) under which the audit entry
-- of the SET (iss, jti) is found. `at` is the entry's time, for the purge.
CREATE TABLE receiver_audit_subjects (
    subject TEXT COLLATE "C" NOT NULL,
    iss     TEXT COLLATE "C" NOT NULL,
    jti     TEXT COLLATE "C" NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (subject, iss, jti)
);
CREATE INDEX receiver_audit_subjects_at ON receiver_audit_subjects (at);
