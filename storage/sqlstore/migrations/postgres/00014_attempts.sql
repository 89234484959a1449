-- +goose Up
-- Forward-safe: a new table and a partial index.
-- Attempt counters of the attempt limiter, keyed by a hash of the key
-- (an account, a device or an address); collected after expires_at.
CREATE TABLE attempts (
  key_hash BYTEA PRIMARY KEY,
  failures BIGINT NOT NULL,
  locked_until BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX attempts_expires ON attempts(expires_at);
-- Revoking a user's tokens (account disabled, password changed) finds
-- them by subject; tokens without one (client_credentials) stay out of it.
CREATE INDEX oauth2_tokens_subject ON oauth2_tokens(subject) WHERE subject <> '';

-- +goose Down
DROP INDEX oauth2_tokens_subject;
DROP TABLE attempts;
