-- +goose Up
-- Forward-safe: a new table only.
CREATE TABLE federated_identities (
  connector_id TEXT NOT NULL,
  upstream_subject TEXT NOT NULL,
  subject TEXT NOT NULL REFERENCES users(subject) ON DELETE CASCADE,
  email TEXT NOT NULL,
  username TEXT NOT NULL,
  token BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT NOT NULL,
  PRIMARY KEY (connector_id, upstream_subject)
);
CREATE INDEX federated_identities_subject ON federated_identities(subject);

-- +goose Down
DROP TABLE federated_identities;
