package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// PutConsent stores or replaces a remembered consent.
func (s *Store) PutConsent(ctx context.Context, c storage.Consent) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO consents (subject, client_id, scopes, created_at, expires_at) VALUES ($1,$2,$3,$4,$5)
ON CONFLICT (subject, client_id) DO UPDATE SET scopes = excluded.scopes, created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.Subject, c.ClientID, list(c.Scopes), ts(c.CreatedAt), ts(c.ExpiresAt))
	return s.wrap(err)
}

// GetConsent loads an unexpired remembered consent.
func (s *Store) GetConsent(ctx context.Context, subject, clientID string, now time.Time) (storage.Consent, error) {
	c := storage.Consent{Subject: subject, ClientID: clientID}
	var scopes string
	var created, expires int64
	err := s.q(ctx).QueryRowContext(ctx, `SELECT scopes, created_at, expires_at FROM consents WHERE subject = $1 AND client_id = $2 AND expires_at > $3`, subject, clientID, ts(now)).
		Scan(&scopes, &created, &expires)
	if err != nil {
		return c, s.wrap(err)
	}
	c.CreatedAt, c.ExpiresAt = fromTS(created), fromTS(expires)
	c.Scopes, err = unlist(scopes)
	return c, err
}

// ListConsents lists a subject's unexpired consents, by client.
func (s *Store) ListConsents(ctx context.Context, subject string, now time.Time) ([]storage.Consent, error) {
	return queryAll(ctx, s, func(r scanner) (storage.Consent, error) {
		c := storage.Consent{Subject: subject}
		var scopes string
		var created, expires int64
		if err := r.Scan(&c.ClientID, &scopes, &created, &expires); err != nil {
			return c, err
		}
		c.CreatedAt, c.ExpiresAt = fromTS(created), fromTS(expires)
		var err error
		c.Scopes, err = unlist(scopes)
		return c, err
	}, `SELECT client_id, scopes, created_at, expires_at FROM consents WHERE subject = $1 AND expires_at > $2 ORDER BY client_id`, subject, ts(now))
}

// DeleteConsent forgets a remembered consent.
func (s *Store) DeleteConsent(ctx context.Context, subject, clientID string) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM consents WHERE subject = $1 AND client_id = $2`, subject, clientID)
	return s.wrap(err)
}
