-- +goose Up
-- Forward-safe: new columns with defaults; the old state/expires_at columns
-- stay (written for older binaries) until a later release drops them.
ALTER TABLE signing_keys ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE signing_keys ADD COLUMN activate_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE signing_keys ADD COLUMN retire_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE signing_keys ADD COLUMN delete_at BIGINT NOT NULL DEFAULT 0;
UPDATE signing_keys SET activate_at = created_at, generation = 1 WHERE generation = 0;
CREATE UNIQUE INDEX signing_keys_generation ON signing_keys(alg, generation);
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE clients DROP COLUMN id_token_signed_response_alg;
DROP INDEX signing_keys_generation;
ALTER TABLE signing_keys DROP COLUMN delete_at;
ALTER TABLE signing_keys DROP COLUMN retire_at;
ALTER TABLE signing_keys DROP COLUMN activate_at;
ALTER TABLE signing_keys DROP COLUMN generation;
