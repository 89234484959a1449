-- +goose Up
-- Forward-safe: a new table only. The durable outbox of email: a message is
-- committed with the change that causes it and delivered by the sender
-- loop; id is also the local part of its Message-ID, the same on every
-- attempt. expires_at is when a delivered or abandoned row may go (the
-- largest value while it waits).
CREATE TABLE mail_outbox (
  id TEXT PRIMARY KEY,
  recipient TEXT NOT NULL,
  subject TEXT NOT NULL,
  text_body TEXT NOT NULL,
  html_body TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  next_attempt_at BIGINT NOT NULL,
  attempts INTEGER NOT NULL,
  claim TEXT NOT NULL,
  sent_at BIGINT NOT NULL,
  failed_at BIGINT NOT NULL,
  last_error TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox(sent_at, failed_at, next_attempt_at);
CREATE INDEX mail_outbox_created ON mail_outbox(created_at);

-- +goose Down
DROP TABLE mail_outbox;
