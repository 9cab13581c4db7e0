-- API keys a business account creates for itself: the key acts as its owner (tier, rate limits)
-- with the `read` scope; operator keys (made with `wattline apikey create`) have no owner.
-- An owner's keys go with the account.
ALTER TABLE api_keys ADD COLUMN user_id TEXT REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX api_keys_user ON api_keys (user_id);
