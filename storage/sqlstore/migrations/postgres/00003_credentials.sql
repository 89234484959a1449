-- +goose Up
-- Forward-safe: a new table only.
CREATE TABLE credentials (
  id TEXT PRIMARY KEY,
  subject TEXT NOT NULL REFERENCES users(subject) ON DELETE CASCADE,
  type TEXT NOT NULL,
  name TEXT NOT NULL,
  secret BYTEA NOT NULL,
  data BYTEA NOT NULL,
  counter BIGINT NOT NULL,
  version BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT NOT NULL
);
CREATE INDEX credentials_subject ON credentials(subject, type);

-- +goose Down
DROP TABLE credentials;
