-- +goose Up
-- Forward-safe: a column with a default. Repeated failures (wrong
-- passwords, throttled attempts) are one row per account, address and
-- window with a count, instead of a row each.
ALTER TABLE audit_events ADD COLUMN count BIGINT NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE audit_events DROP COLUMN count;
