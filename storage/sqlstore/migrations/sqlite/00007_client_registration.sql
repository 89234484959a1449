-- +goose Up
-- Forward-safe: new columns with defaults.
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE clients DROP COLUMN metadata;
ALTER TABLE clients DROP COLUMN registration_token_hash;
