-- +goose Up
-- Forward-safe: new tables only; older binaries ignore them.
CREATE TABLE refresh_grace (
  signature TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  response BYTEA NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX refresh_grace_expires ON refresh_grace(expires_at);
CREATE TABLE audit_events (
  id TEXT PRIMARY KEY,
  at BIGINT NOT NULL,
  type TEXT NOT NULL,
  actor TEXT NOT NULL,
  subject TEXT NOT NULL,
  client_id TEXT NOT NULL,
  ip TEXT NOT NULL,
  request_id TEXT NOT NULL,
  details TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events(at);
CREATE INDEX audit_events_subject ON audit_events(subject, at);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE refresh_grace;
