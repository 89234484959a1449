-- +goose Up
-- Forward-safe: a new table only. The durable outbox of back-channel
-- logout tokens: one row per client to tell that a session ended,
-- committed with the logout and delivered by the sender loop; id is the
-- token's jti, the same on every attempt. subject is the local user (the
-- token says it as the client knows it). expires_at is when a delivered or
-- abandoned row may go (the largest value while it waits).
CREATE TABLE logout_outbox (
  id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  subject TEXT NOT NULL,
  sid TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  next_attempt_at BIGINT NOT NULL,
  attempts INTEGER NOT NULL,
  claim TEXT NOT NULL,
  sent_at BIGINT NOT NULL,
  failed_at BIGINT NOT NULL,
  last_error TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX logout_outbox_due ON logout_outbox(sent_at, failed_at, next_attempt_at);
CREATE INDEX logout_outbox_client ON logout_outbox(client_id);

-- +goose Down
DROP TABLE logout_outbox;
