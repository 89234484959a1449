-- +goose Up
-- Forward-safe: a column with a default. A client that needs PKCE even
-- when the server's policy (pkce.required: public) would not ask for it.
ALTER TABLE clients ADD COLUMN require_pkce BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE clients DROP COLUMN require_pkce;
