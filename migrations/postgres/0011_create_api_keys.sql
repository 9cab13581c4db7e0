-- API keys for operators and services: stored as the SHA-256 of the key (the key itself is
-- printed once at creation), with scopes (`read`, `refresh`, `admin`, comma separated) and a
-- revocation time.
CREATE TABLE api_keys (
    id         TEXT        NOT NULL PRIMARY KEY,
    name       TEXT        NOT NULL,
    key_hash   TEXT        NOT NULL UNIQUE,
    prefix     TEXT        NOT NULL,
    scopes     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
