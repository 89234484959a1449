-- +goose Up
-- Forward-safe: a new table only.
CREATE TABLE admin_keys (
  id TEXT PRIMARY KEY,
  hash BLOB NOT NULL,
  name TEXT NOT NULL,
  roles TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE admin_keys;
