-- GDPR: every consent decision as an append-only record (the latest per purpose wins), and the
-- deletion log: one entry per erased account, holding no personal data (a hash of the user id,
-- the categories erased, when, on which legal basis) and no foreign key to users, so it outlives
-- the account. Triggers refuse every UPDATE, DELETE and TRUNCATE of the log.
CREATE TABLE consents (
    id              TEXT        NOT NULL PRIMARY KEY,
    user_id         TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose         TEXT        NOT NULL,
    consent_given   BOOLEAN     NOT NULL,
    consent_version TEXT        NOT NULL,
    ip_address      TEXT,
    user_agent      TEXT,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX consents_user ON consents (user_id, created_at);

CREATE TABLE deletion_log (
    id           TEXT        NOT NULL PRIMARY KEY,
    user_hash    TEXT        NOT NULL,
    categories   JSONB       NOT NULL,
    legal_basis  TEXT        NOT NULL,
    anonymized   BOOLEAN     NOT NULL,
    deleted_at   TIMESTAMPTZ NOT NULL
);

CREATE FUNCTION deletion_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'deletion_log is append-only';
END;
$$;

CREATE TRIGGER deletion_log_no_change BEFORE UPDATE OR DELETE ON deletion_log
    FOR EACH ROW EXECUTE FUNCTION deletion_log_append_only();

CREATE TRIGGER deletion_log_no_truncate BEFORE TRUNCATE ON deletion_log
    FOR EACH STATEMENT EXECUTE FUNCTION deletion_log_append_only();
