-- Alert rules (edited by their user), their evaluation state (written by the AlertEvaluator, kept
-- apart so an edit and an evaluation never overwrite each other), their history (one row per
-- rule and occurrence: a firing recorded twice, by a retry or another node, is one row), and the
-- magic sign-in links (the token's SHA-256 only; single use).
CREATE TABLE alert_rules (
    id             TEXT    NOT NULL PRIMARY KEY,
    user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    region         TEXT    NOT NULL,
    condition      JSONB   NOT NULL,
    quiet_hours    JSONB,
    cooldown_secs  BIGINT  NOT NULL CHECK (cooldown_secs >= 0),
    enabled        BOOLEAN NOT NULL,
    email          BOOLEAN NOT NULL,
    webhook_url    TEXT,
    webhook_secret TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX alert_rules_user ON alert_rules (user_id);

CREATE TABLE alert_rule_state (
    rule_id         TEXT NOT NULL PRIMARY KEY REFERENCES alert_rules (id) ON DELETE CASCADE,
    last_fired_at   TIMESTAMPTZ,
    last_occurrence TEXT
);

CREATE TABLE alert_history (
    id             TEXT NOT NULL PRIMARY KEY,
    rule_id        TEXT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL,
    region         TEXT NOT NULL,
    occurrence     TEXT NOT NULL,
    fired_at       TIMESTAMPTZ NOT NULL,
    interval_start TIMESTAMPTZ NOT NULL,
    price          NUMERIC,
    summary        TEXT NOT NULL,
    channels       JSONB NOT NULL,
    UNIQUE (rule_id, occurrence)
);
CREATE INDEX alert_history_user ON alert_history (user_id);

CREATE TABLE magic_links (
    token_hash   TEXT NOT NULL PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_url TEXT,
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX magic_links_user ON magic_links (user_id);
