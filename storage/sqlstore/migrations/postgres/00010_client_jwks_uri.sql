-- +goose Up
-- Forward-safe: a new column with a default.
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE clients DROP COLUMN jwks_uri;
