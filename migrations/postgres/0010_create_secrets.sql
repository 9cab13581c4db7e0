-- Secrets a single node generates for itself and keeps with its data (the token signing key
-- when none is configured), so they survive restarts.
CREATE TABLE secrets (
    name       TEXT        NOT NULL PRIMARY KEY,
    value      TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
