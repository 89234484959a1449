-- +goose Up
-- Forward-safe: a column with a default. The OpenID Connect standard
-- claims beyond the name (profile, address, phone) as one JSON document.
ALTER TABLE users ADD COLUMN profile TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE users DROP COLUMN profile;
