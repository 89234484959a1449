package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// CreateSession stores a browser session.
func (s *Store) CreateSession(ctx context.Context, bs storage.BrowserSession) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO browser_sessions (id_hash, sid, subject, auth_time, amr, created_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		bs.IDHash, bs.SID, bs.Subject, ts(bs.AuthTime), list(bs.AMR), ts(bs.CreatedAt), ts(bs.ExpiresAt))
	return s.wrap(err)
}

// StepUpSession records a stronger authentication on an existing session.
func (s *Store) StepUpSession(ctx context.Context, idHash []byte, amr []string, authTime time.Time) error {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE browser_sessions SET amr = $1, auth_time = $2 WHERE id_hash = $3`, list(amr), ts(authTime), idHash)
	if err != nil {
		return s.wrap(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.wrap(err)
	} else if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// GetSession loads an unexpired browser session by the hash of its id.
func (s *Store) GetSession(ctx context.Context, idHash []byte, now time.Time) (storage.BrowserSession, error) {
	var bs storage.BrowserSession
	var authTime, created, expires int64
	var amr string
	var clients string
	err := s.q(ctx).QueryRowContext(ctx, `SELECT id_hash, sid, subject, auth_time, amr, created_at, expires_at, `+s.sessionClientsSQL()+`
FROM browser_sessions WHERE id_hash = $1 AND expires_at > $2`, idHash, ts(now)).
		Scan(&bs.IDHash, &bs.SID, &bs.Subject, &authTime, &amr, &created, &expires, &clients)
	if err != nil {
		return bs, s.wrap(err)
	}
	bs.Clients = splitClients(clients)
	bs.AuthTime, bs.CreatedAt, bs.ExpiresAt = fromTS(authTime), fromTS(created), fromTS(expires)
	bs.AMR, err = unlist(amr)
	return bs, err
}

// RenewSession moves the session at oldHash to bs.IDHash with a new
// authentication, keeping its sid.
func (s *Store) RenewSession(ctx context.Context, oldHash []byte, bs storage.BrowserSession) error {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE browser_sessions SET id_hash = $1, amr = $2, auth_time = $3, expires_at = $4
WHERE id_hash = $5 AND subject = $6 AND sid = $7`, bs.IDHash, list(bs.AMR), ts(bs.AuthTime), ts(bs.ExpiresAt), oldHash, bs.Subject, bs.SID)
	if err != nil {
		return s.wrap(err)
	}
	if affected(res) == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// DeleteSession removes a browser session and the protocol records that
// live with it; deleting a missing one is not an error.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.q(ctx).ExecContext(ctx, `DELETE FROM oauth2_tokens WHERE sid <> '' AND sid IN (SELECT sid FROM browser_sessions WHERE id_hash = $1)`, idHash); err != nil {
			return s.wrap(err)
		}
		_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM browser_sessions WHERE id_hash = $1`, idHash)
		return s.wrap(err)
	})
}

// ListSessions lists a subject's unexpired browser sessions.
func (s *Store) ListSessions(ctx context.Context, subject string, now time.Time) ([]storage.BrowserSession, error) {
	return queryAll(ctx, s, func(r scanner) (storage.BrowserSession, error) {
		var bs storage.BrowserSession
		var amr, clients string
		var authTime, created, expires int64
		if err := r.Scan(&bs.IDHash, &bs.SID, &bs.Subject, &authTime, &amr, &created, &expires, &clients); err != nil {
			return bs, err
		}
		bs.AuthTime, bs.CreatedAt, bs.ExpiresAt = fromTS(authTime), fromTS(created), fromTS(expires)
		bs.Clients = splitClients(clients)
		var err error
		bs.AMR, err = unlist(amr)
		return bs, err
	}, `SELECT id_hash, sid, subject, auth_time, amr, created_at, expires_at, `+s.sessionClientsSQL()+`
FROM browser_sessions WHERE subject = $1 AND expires_at > $2 ORDER BY created_at`, subject, ts(now))
}

// DeleteSessions removes every session of a subject and the protocol
// records that live with them (offline_access grants survive).
func (s *Store) DeleteSessions(ctx context.Context, subject string) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.q(ctx).ExecContext(ctx, `DELETE FROM oauth2_tokens WHERE sid <> '' AND sid IN (SELECT sid FROM browser_sessions WHERE subject = $1)`, subject); err != nil {
			return s.wrap(err)
		}
		res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM browser_sessions WHERE subject = $1`, subject)
		if err != nil {
			return s.wrap(err)
		}
		n = affected(res)
		return nil
	})
	return n, err
}

// AddSessionClient records that the session sid signed in to clientID.
func (s *Store) AddSessionClient(ctx context.Context, sid, clientID string, now time.Time) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO session_clients (sid, client_id, created_at)
SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM browser_sessions WHERE sid = $1)
ON CONFLICT (sid, client_id) DO NOTHING`, sid, clientID, ts(now))
	return s.wrap(err)
}

// ListSessionClients lists the clients the session sid signed in to.
func (s *Store) ListSessionClients(ctx context.Context, sid string) ([]string, error) {
	return queryAll(ctx, s, func(r scanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	}, `SELECT client_id FROM session_clients WHERE sid = $1 ORDER BY created_at, client_id`, sid)
}

// sessionClientsSQL is the column of a browser_sessions row's clients,
// joined by 0x1f (splitClients).
func (s *Store) sessionClientsSQL() string {
	return `COALESCE((SELECT ` + s.d.joinSep("client_id") + ` FROM session_clients c WHERE c.sid = browser_sessions.sid), '')`
}

func splitClients(joined string) []string {
	if joined == "" {
		return nil
	}
	return strings.Split(joined, "\x1f")
}
