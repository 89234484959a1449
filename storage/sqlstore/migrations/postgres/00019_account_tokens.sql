-- +goose Up
-- Forward-safe: a new table only. Single-use links mailed to a user
-- (recovery, verification, invitation, email change): only a hash of each
-- is stored, with its purpose and a fingerprint of the account state it
-- was issued for.
CREATE TABLE account_tokens (
  hash BYTEA PRIMARY KEY,
  purpose TEXT NOT NULL,
  subject TEXT NOT NULL REFERENCES users(subject) ON DELETE CASCADE,
  binding BYTEA NOT NULL,
  data TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT NOT NULL
);
CREATE INDEX account_tokens_subject ON account_tokens(subject, purpose);

-- +goose Down
DROP TABLE account_tokens;
