package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// CreateFlow stores a new login flow.
func (s *Store) CreateFlow(ctx context.Context, f storage.Flow) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO login_flows (id, state, version, data, created_at, expires_at) VALUES ($1,$2,1,$3,$4,$5)`,
		f.ID, f.State, f.Data, ts(f.CreatedAt), ts(f.ExpiresAt))
	return s.wrap(err)
}

func (s *Store) getFlow(ctx context.Context, id string, now time.Time) (storage.Flow, int64, error) {
	f := storage.Flow{ID: id}
	var version, created, expires int64
	err := s.q(ctx).QueryRowContext(ctx, `SELECT state, version, data, created_at, expires_at FROM login_flows WHERE id = $1 AND expires_at > $2`, id, ts(now)).
		Scan(&f.State, &version, &f.Data, &created, &expires)
	f.CreatedAt, f.ExpiresAt = fromTS(created), fromTS(expires)
	return f, version, s.wrap(err)
}

// GetFlow loads an unexpired flow.
func (s *Store) GetFlow(ctx context.Context, id string, now time.Time) (storage.Flow, error) {
	f, _, err := s.getFlow(ctx, id, now)
	return f, err
}

// UpdateFlow is a compare-and-swap on the row version.
func (s *Store) UpdateFlow(ctx context.Context, id string, now time.Time, fn func(storage.Flow) (storage.Flow, error)) (storage.Flow, error) {
	old, version, err := s.getFlow(ctx, id, now)
	if err != nil {
		return old, err
	}
	nf, err := fn(old)
	if err != nil {
		return old, err
	}
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE login_flows SET state = $1, data = $2, expires_at = $3, version = version + 1 WHERE id = $4 AND version = $5`,
		nf.State, nf.Data, ts(nf.ExpiresAt), id, version)
	if err != nil {
		return old, s.wrap(err)
	}
	if affected(res) == 0 {
		return old, storage.ErrConflict
	}
	nf.ID = id
	return nf, nil
}
