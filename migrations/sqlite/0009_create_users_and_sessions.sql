-- Accounts: users (email normalised to lower case, unique; argon2id hash; tier) and their
-- refresh-token sessions. A session family is one sign-in; every refresh rotates its token, and
-- presenting a token already used revokes the family. Tokens are stored hashed. Instants are
-- fixed-width UTC text (see 0004).
CREATE TABLE users (
    id             TEXT    NOT NULL PRIMARY KEY,
    email          TEXT    NOT NULL UNIQUE,
    password_hash  TEXT,
    name           TEXT,
    email_verified INTEGER NOT NULL DEFAULT 0,
    tier           TEXT    NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'pro', 'business')),
    created_at     TEXT    NOT NULL,
    last_login_at  TEXT
);

CREATE TABLE refresh_tokens (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    family_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TEXT    NOT NULL,
    used_at    TEXT,
    revoked    INTEGER NOT NULL DEFAULT 0,
    ip         TEXT,
    user_agent TEXT,
    created_at TEXT    NOT NULL
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
