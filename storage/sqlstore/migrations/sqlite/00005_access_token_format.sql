-- +goose Up
-- Forward-safe: a new column with a default.
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE clients DROP COLUMN access_token_format;
