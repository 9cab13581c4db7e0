-- The outbox: work queued in the same transaction as the change that causes it (an email, a
-- webhook delivery, a Stripe call, a deletion), claimed by workers, done at least once and made
-- idempotent by its key. Instants are fixed-width UTC text (see 0004).
CREATE TABLE jobs (
    id              TEXT    NOT NULL PRIMARY KEY,
    queue           TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    idempotency_key TEXT    NOT NULL UNIQUE,
    user_id         TEXT,
    status          TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    run_at          TEXT    NOT NULL,
    locked_by       TEXT,
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
);

-- Workers claim due jobs of their queue.
CREATE INDEX jobs_due ON jobs (queue, status, run_at);
-- Exports and deletions find a user's jobs.
CREATE INDEX jobs_user ON jobs (user_id) WHERE user_id IS NOT NULL;
