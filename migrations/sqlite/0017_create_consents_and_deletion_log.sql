-- GDPR: every consent decision as an append-only record (the latest per purpose wins), and the
-- deletion log: one entry per erased account, holding no personal data (a hash of the user id,
-- the categories erased, when, on which legal basis) and no foreign key to users, so it outlives
-- the account. Triggers refuse every UPDATE and DELETE of a log entry.
CREATE TABLE consents (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose         TEXT    NOT NULL,
    consent_given   INTEGER NOT NULL,
    consent_version TEXT    NOT NULL,
    ip_address      TEXT,
    user_agent      TEXT,
    created_at      TEXT    NOT NULL
);
CREATE INDEX consents_user ON consents (user_id, created_at);

CREATE TABLE deletion_log (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_hash    TEXT    NOT NULL,
    categories   TEXT    NOT NULL CHECK (json_valid(categories)),
    legal_basis  TEXT    NOT NULL,
    anonymized   INTEGER NOT NULL,
    deleted_at   TEXT    NOT NULL
);

CREATE TRIGGER deletion_log_no_update BEFORE UPDATE ON deletion_log
BEGIN
    SELECT RAISE(ABORT, 'deletion_log is append-only');
END;

CREATE TRIGGER deletion_log_no_delete BEFORE DELETE ON deletion_log
BEGIN
    SELECT RAISE(ABORT, 'deletion_log is append-only');
END;
