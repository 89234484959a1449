-- +goose Up
-- Forward-safe: a new table only. Revocations of the access tokens that
-- are not stored (stateless JWT access tokens): one row per revoked token
-- (key "jti:" + its jti), read by introspection and userinfo with one
-- primary-key lookup, collected once the token would have expired anyway.
CREATE TABLE token_revocations (
  key TEXT PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
CREATE INDEX token_revocations_expires ON token_revocations(expires_at);

-- +goose Down
DROP TABLE token_revocations;
