package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// CreateKey stores a signing key.
func (s *Store) CreateKey(ctx context.Context, k storage.SigningKey) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO signing_keys (id, alg, state, private_sealed, public_jwk, created_at, expires_at, generation, activate_at, retire_at, delete_at)
VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		k.ID, k.Alg, string(k.StateAt(k.CreatedAt)), k.Private, k.Public, ts(k.CreatedAt), ts(k.DeleteAt), k.Generation, ts(k.ActivateAt), ts(k.RetireAt), ts(k.DeleteAt))
	return s.wrap(err)
}

// ListKeys lists every signing key, by algorithm and generation.
func (s *Store) ListKeys(ctx context.Context) ([]storage.SigningKey, error) {
	return queryAll(ctx, s, func(r scanner) (storage.SigningKey, error) {
		var k storage.SigningKey
		var created, activate, retire, del int64
		err := r.Scan(&k.ID, &k.Alg, &k.Generation, &k.Private, &k.Public, &created, &activate, &retire, &del)
		k.CreatedAt, k.ActivateAt, k.RetireAt, k.DeleteAt = fromTS(created), fromTS(activate), fromTS(retire), fromTS(del)
		return k, err
	}, `SELECT id, alg, generation, private_sealed, public_jwk, created_at, activate_at, retire_at, delete_at FROM signing_keys ORDER BY alg, generation, id`)
}

// ScheduleKey sets a key's retirement and deletion.
func (s *Store) ScheduleKey(ctx context.Context, id string, retireAt, deleteAt time.Time) error {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE signing_keys SET retire_at = $1, delete_at = $2, expires_at = $2 WHERE id = $3`, ts(retireAt), ts(deleteAt), id)
	if err != nil {
		return s.wrap(err)
	}
	if affected(res) == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// ResealKey replaces a key's sealed private part.
func (s *Store) ResealKey(ctx context.Context, id string, sealed []byte) error {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE signing_keys SET private_sealed = $1 WHERE id = $2`, sealed, id)
	if err != nil {
		return s.wrap(err)
	}
	if affected(res) == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// PutSecretIfAbsent stores a secret unless one with the name exists, and
// returns the stored one.
func (s *Store) PutSecretIfAbsent(ctx context.Context, sec storage.Secret) (storage.Secret, error) {
	if _, err := s.q(ctx).ExecContext(ctx, `INSERT INTO server_secrets (name, value, created_at) VALUES ($1,$2,$3) ON CONFLICT (name) DO NOTHING`, sec.Name, sec.Value, ts(sec.CreatedAt)); err != nil {
		return sec, s.wrap(err)
	}
	return s.GetSecret(ctx, sec.Name)
}

// GetSecret loads a named secret.
func (s *Store) GetSecret(ctx context.Context, name string) (storage.Secret, error) {
	sec := storage.Secret{Name: name}
	var created int64
	err := s.q(ctx).QueryRowContext(ctx, `SELECT value, created_at FROM server_secrets WHERE name = $1`, name).Scan(&sec.Value, &created)
	sec.CreatedAt = fromTS(created)
	return sec, s.wrap(err)
}

// ListSecrets lists every named secret.
func (s *Store) ListSecrets(ctx context.Context) ([]storage.Secret, error) {
	return queryAll(ctx, s, func(r scanner) (storage.Secret, error) {
		var sec storage.Secret
		var created int64
		err := r.Scan(&sec.Name, &sec.Value, &created)
		sec.CreatedAt = fromTS(created)
		return sec, err
	}, `SELECT name, value, created_at FROM server_secrets ORDER BY name`)
}

// ResealSecret replaces a secret's value.
func (s *Store) ResealSecret(ctx context.Context, name string, value []byte) error {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE server_secrets SET value = $1 WHERE name = $2`, value, name)
	if err != nil {
		return s.wrap(err)
	}
	if affected(res) == 0 {
		return storage.ErrNotFound
	}
	return nil
}
