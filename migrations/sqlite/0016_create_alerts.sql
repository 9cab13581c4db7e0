-- Alert rules (edited by their user), their evaluation state (written by the AlertEvaluator, kept
-- apart so an edit and an evaluation never overwrite each other), their history (one row per
-- rule and occurrence: a firing recorded twice, by a retry or another node, is one row), and the
-- magic sign-in links (the token's SHA-256 only; single use).
CREATE TABLE alert_rules (
    id             TEXT    NOT NULL PRIMARY KEY,
    user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    region         TEXT    NOT NULL,
    condition      TEXT    NOT NULL CHECK (json_valid(condition)),
    quiet_hours    TEXT    CHECK (quiet_hours IS NULL OR json_valid(quiet_hours)),
    cooldown_secs  INTEGER NOT NULL CHECK (cooldown_secs >= 0),
    enabled        INTEGER NOT NULL,
    email          INTEGER NOT NULL,
    webhook_url    TEXT,
    webhook_secret TEXT,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
);
CREATE INDEX alert_rules_user ON alert_rules (user_id);

CREATE TABLE alert_rule_state (
    rule_id         TEXT NOT NULL PRIMARY KEY REFERENCES alert_rules (id) ON DELETE CASCADE,
    last_fired_at   TEXT,
    last_occurrence TEXT
);

CREATE TABLE alert_history (
    id             TEXT NOT NULL PRIMARY KEY,
    rule_id        TEXT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL,
    region         TEXT NOT NULL,
    occurrence     TEXT NOT NULL,
    fired_at       TEXT NOT NULL,
    interval_start TEXT NOT NULL,
    price          TEXT,
    summary        TEXT NOT NULL,
    channels       TEXT NOT NULL CHECK (json_valid(channels)),
    UNIQUE (rule_id, occurrence)
);
CREATE INDEX alert_history_user ON alert_history (user_id);

CREATE TABLE magic_links (
    token_hash   TEXT NOT NULL PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_url TEXT,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX magic_links_user ON magic_links (user_id);
