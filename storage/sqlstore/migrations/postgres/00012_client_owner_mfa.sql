-- +goose Up
-- Forward-safe: new columns with defaults.
ALTER TABLE clients ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE clients DROP COLUMN require_mfa;
ALTER TABLE clients DROP COLUMN owner;
