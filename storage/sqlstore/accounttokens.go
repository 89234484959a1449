package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

const accountTokenCols = `hash, purpose, subject, binding, data, created_at, expires_at, used_at`

func scanAccountToken(r scanner) (storage.AccountToken, error) {
	var t storage.AccountToken
	var created, expires, used int64
	err := r.Scan(&t.Hash, &t.Purpose, &t.Subject, &t.Binding, &t.Data, &created, &expires, &used)
	t.CreatedAt, t.ExpiresAt, t.UsedAt = fromTS(created), fromTS(expires), fromTS(used)
	return t, err
}

// CreateAccountToken stores a mailed link.
func (s *Store) CreateAccountToken(ctx context.Context, t storage.AccountToken) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO account_tokens (`+accountTokenCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,0)`,
		t.Hash, t.Purpose, t.Subject, t.Binding, t.Data, ts(t.CreatedAt), ts(t.ExpiresAt))
	return s.wrap(err)
}

// GetAccountToken reads an unused, unexpired link.
func (s *Store) GetAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (storage.AccountToken, error) {
	t, err := scanAccountToken(s.q(ctx).QueryRowContext(ctx, `SELECT `+accountTokenCols+` FROM account_tokens WHERE hash = $1 AND purpose = $2 AND used_at = 0 AND expires_at > $3`,
		hash, purpose, ts(now)))
	return t, s.wrap(err)
}

// UseAccountToken marks a link used, once.
func (s *Store) UseAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (storage.AccountToken, error) {
	t, err := scanAccountToken(s.q(ctx).QueryRowContext(ctx, `UPDATE account_tokens SET used_at = $1 WHERE hash = $2 AND purpose = $3 AND used_at = 0 AND expires_at > $1
RETURNING `+accountTokenCols, ts(now), hash, purpose))
	return t, s.wrap(err)
}

// DeleteAccountTokens removes a user's links of a purpose.
func (s *Store) DeleteAccountTokens(ctx context.Context, subject, purpose string) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM account_tokens WHERE subject = $1 AND purpose = $2`, subject, purpose)
	return s.wrap(err)
}
