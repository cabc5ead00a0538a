-- The receiver's audit log becomes searchable by the SET it records and by subject, and purged on its
-- own retention (decision D-RX-04), longer than the replay window of received_sets.

-- The SET (iss, jti) an entry records; NULL for entries not about one SET (e.g. stream set-up).
ALTER TABLE receiver_audit ADD COLUMN iss TEXT;
ALTER TABLE receiver_audit ADD COLUMN jti TEXT;
CREATE INDEX receiver_audit_jti ON receiver_audit (jti, iss);
CREATE INDEX receiver_audit_at ON receiver_audit (at);

-- The subject keys (e.g. a canonical subject pattern and its handle keys) under which the audit entry
-- of the SET (iss, jti) is found. `at` is the entry's time, for the purge.
CREATE TABLE receiver_audit_subjects (
    subject TEXT NOT NULL,
    iss     TEXT NOT NULL,
    jti     TEXT NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (subject, iss, jti)
) WITHOUT ROWID;
CREATE INDEX receiver_audit_subjects_at ON receiver_audit_subjects (at);
