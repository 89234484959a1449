-- +goose Up
-- Forward-safe: new columns with defaults.
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN token_endpoint_auth_signing_alg TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE clients DROP COLUMN token_endpoint_auth_signing_alg;
ALTER TABLE clients DROP COLUMN jwks;
