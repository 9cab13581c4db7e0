-- Beta sign-ups: one per (lower-cased) email, each with its code (BETA-<year>-<8 hex>, unique).
-- The welcome email is queued in the outbox (jobs) in the same transaction as the row.
CREATE TABLE beta_signups (
    id               TEXT NOT NULL PRIMARY KEY,
    email            TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    postcode         TEXT NOT NULL,
    current_supplier TEXT NOT NULL,
    monthly_bill     TEXT NOT NULL,
    hear_about       TEXT NOT NULL,
    beta_code        TEXT NOT NULL UNIQUE,
    created_at       TIMESTAMPTZ NOT NULL
);
