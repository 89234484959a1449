-- +goose Up
-- Forward-safe: a column with a default and a partial index. The browser
-- session a protocol record lives and dies with: ending that session
-- (logout, a device signed out) deletes the records issued in it.
-- Empty for records that outlive sessions: grants with offline_access,
-- client credentials, device and token-exchange grants, and every record
-- written before this migration (they keep their old behaviour).
ALTER TABLE oauth2_tokens ADD COLUMN sid TEXT NOT NULL DEFAULT '';
CREATE INDEX oauth2_tokens_sid ON oauth2_tokens(sid) WHERE sid <> '';

-- +goose Down
DROP INDEX oauth2_tokens_sid;
ALTER TABLE oauth2_tokens DROP COLUMN sid;
