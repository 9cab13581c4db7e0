-- Billing: each user's subscription state as the BillingWorker last applied it (the tier is
-- copied to users.tier in the same transaction), and every Stripe event received, stored once by
-- its id with the job that applies it. An event keeps only what billing acts on (no addresses or
-- card details). `version` is the account's compare-and-set counter; `last_event_at` the
-- `created` of the newest event applied, so an older event arriving late changes nothing.
CREATE TABLE billing_accounts (
    user_id              TEXT        NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    customer_id          TEXT        UNIQUE,
    subscription_id      TEXT,
    tier                 TEXT        NOT NULL CHECK (tier IN ('free', 'pro', 'business')),
    status               TEXT        NOT NULL,
    current_period_end   TIMESTAMPTZ,
    cancel_at_period_end BOOLEAN     NOT NULL,
    grace_until          TIMESTAMPTZ,
    last_event_at        TIMESTAMPTZ,
    version              BIGINT      NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);

CREATE TABLE billing_events (
    id           TEXT        NOT NULL PRIMARY KEY,
    type         TEXT        NOT NULL,
    created      TIMESTAMPTZ NOT NULL,
    user_id      TEXT,
    customer_id  TEXT,
    payload      JSONB       NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    processed_at TIMESTAMPTZ,
    outcome      TEXT
);
CREATE INDEX billing_events_user ON billing_events (user_id);
CREATE INDEX billing_events_customer ON billing_events (customer_id);
