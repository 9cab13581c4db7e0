-- Accounts signed in through an OAuth/OpenID Connect provider: one row per provider account
-- (the provider's stable subject id), linked to the user whose verified email it carried.
CREATE TABLE oauth_identities (
    provider   TEXT        NOT NULL,
    subject    TEXT        NOT NULL,
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, subject)
);

CREATE INDEX oauth_identities_user ON oauth_identities (user_id);
