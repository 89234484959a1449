-- +goose Up
-- Forward-safe: a new table only. Which clients a browser session signed
-- in to (an authorization granted in it), so ending the session can tell
-- each of them (back-channel and front-channel logout) and name them on
-- the signed-out page. Rows go with their session.
CREATE TABLE session_clients (
  sid TEXT NOT NULL REFERENCES browser_sessions(sid) ON DELETE CASCADE,
  client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (sid, client_id)
);
CREATE INDEX session_clients_client ON session_clients(client_id);

-- +goose Down
DROP TABLE session_clients;
