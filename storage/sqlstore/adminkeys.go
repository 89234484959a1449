package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// CreateAdminKey stores an admin API key.
func (s *Store) CreateAdminKey(ctx context.Context, k storage.AdminKey) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO admin_keys (id, hash, name, roles, created_at, revoked_at) VALUES ($1,$2,$3,$4,$5,$6)`,
		k.ID, k.Hash, k.Name, list(k.Roles), ts(k.CreatedAt), ts(k.RevokedAt))
	return s.wrap(err)
}

func scanAdminKey(r scanner) (storage.AdminKey, error) {
	var k storage.AdminKey
	var roles string
	var created, revoked int64
	if err := r.Scan(&k.ID, &k.Hash, &k.Name, &roles, &created, &revoked); err != nil {
		return k, err
	}
	k.CreatedAt, k.RevokedAt = fromTS(created), fromTS(revoked)
	var err error
	k.Roles, err = unlist(roles)
	return k, err
}

// GetAdminKey loads an admin key by its public id.
func (s *Store) GetAdminKey(ctx context.Context, id string) (storage.AdminKey, error) {
	k, err := scanAdminKey(s.q(ctx).QueryRowContext(ctx, `SELECT id, hash, name, roles, created_at, revoked_at FROM admin_keys WHERE id = $1`, id))
	return k, s.wrap(err)
}

// ListAdminKeys lists admin keys, oldest first.
func (s *Store) ListAdminKeys(ctx context.Context) ([]storage.AdminKey, error) {
	return queryAll(ctx, s, scanAdminKey, `SELECT id, hash, name, roles, created_at, revoked_at FROM admin_keys ORDER BY created_at, id`)
}

// RevokeAdminKey marks an admin key revoked.
func (s *Store) RevokeAdminKey(ctx context.Context, id string, at time.Time) error {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE admin_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0`, ts(at), id)
	if err != nil {
		return s.wrap(err)
	}
	if affected(res) == 0 {
		return storage.ErrNotFound
	}
	return nil
}
