-- Billing: each user's subscription state as the BillingWorker last applied it (the tier is
-- copied to users.tier in the same transaction), and every Stripe event received, stored once by
-- its id with the job that applies it. An event keeps only what billing acts on (no addresses or
-- card details). `version` is the account's compare-and-set counter; `last_event_at` the
-- `created` of the newest event applied, so an older event arriving late changes nothing.
-- Instants are fixed-width UTC text (see 0004).
CREATE TABLE billing_accounts (
    user_id              TEXT    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    customer_id          TEXT    UNIQUE,
    subscription_id      TEXT,
    tier                 TEXT    NOT NULL CHECK (tier IN ('free', 'pro', 'business')),
    status               TEXT    NOT NULL,
    current_period_end   TEXT,
    cancel_at_period_end INTEGER NOT NULL,
    grace_until          TEXT,
    last_event_at        TEXT,
    version              INTEGER NOT NULL,
    updated_at           TEXT    NOT NULL
);

CREATE TABLE billing_events (
    id           TEXT NOT NULL PRIMARY KEY,
    type         TEXT NOT NULL,
    created      TEXT NOT NULL,
    user_id      TEXT,
    customer_id  TEXT,
    payload      TEXT NOT NULL CHECK (json_valid(payload)),
    received_at  TEXT NOT NULL,
    processed_at TEXT,
    outcome      TEXT
);
CREATE INDEX billing_events_user ON billing_events (user_id);
CREATE INDEX billing_events_customer ON billing_events (customer_id);
