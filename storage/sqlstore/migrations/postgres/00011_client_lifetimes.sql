-- +goose Up
-- Forward-safe: new columns with defaults (0 = the server's lifetime).
ALTER TABLE clients ADD COLUMN access_token_lifetime BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN refresh_token_lifetime BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN id_token_lifetime BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE clients DROP COLUMN id_token_lifetime;
ALTER TABLE clients DROP COLUMN refresh_token_lifetime;
ALTER TABLE clients DROP COLUMN access_token_lifetime;
