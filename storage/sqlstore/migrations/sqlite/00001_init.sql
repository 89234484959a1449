-- +goose Up
CREATE TABLE clients (
  id TEXT PRIMARY KEY,
  secret_hash BLOB,
  name TEXT NOT NULL,
  redirect_uris TEXT NOT NULL,
  post_logout_redirect_uris TEXT NOT NULL,
  grant_types TEXT NOT NULL,
  response_types TEXT NOT NULL,
  scopes TEXT NOT NULL,
  audience TEXT NOT NULL,
  token_endpoint_auth_method TEXT NOT NULL,
  public BOOLEAN NOT NULL,
  first_party BOOLEAN NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE users (
  subject TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  email_verified BOOLEAN NOT NULL,
  name TEXT NOT NULL,
  given_name TEXT NOT NULL,
  family_name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  disabled BOOLEAN NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE browser_sessions (
  id_hash BLOB PRIMARY KEY,
  sid TEXT NOT NULL UNIQUE,
  subject TEXT NOT NULL REFERENCES users(subject) ON DELETE CASCADE,
  auth_time BIGINT NOT NULL,
  amr TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX browser_sessions_expires ON browser_sessions(expires_at);
CREATE TABLE consents (
  subject TEXT NOT NULL REFERENCES users(subject) ON DELETE CASCADE,
  client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  scopes TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (subject, client_id)
);
CREATE TABLE login_flows (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  version BIGINT NOT NULL,
  data BLOB NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX login_flows_expires ON login_flows(expires_at);
CREATE TABLE oauth2_tokens (
  kind TEXT NOT NULL,
  signature TEXT NOT NULL,
  request_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  active BOOLEAN NOT NULL,
  expires_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (kind, signature)
);
CREATE INDEX oauth2_tokens_request ON oauth2_tokens(kind, request_id);
CREATE INDEX oauth2_tokens_expires ON oauth2_tokens(expires_at);
CREATE TABLE oauth2_jtis (
  jti TEXT PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
CREATE TABLE signing_keys (
  id TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  state TEXT NOT NULL,
  private_sealed BLOB NOT NULL,
  public_jwk BLOB NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE TABLE server_secrets (
  name TEXT PRIMARY KEY,
  value BLOB NOT NULL,
  created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE server_secrets;
DROP TABLE signing_keys;
DROP TABLE oauth2_jtis;
DROP TABLE oauth2_tokens;
DROP TABLE login_flows;
DROP TABLE consents;
DROP TABLE browser_sessions;
DROP TABLE users;
DROP TABLE clients;
