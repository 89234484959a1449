package sqlstore

import (
	"context"

	"github.com/gatehouse-id/gatehouse/storage"
)

const credentialCols = `id, subject, type, name, secret, data, counter, created_at, last_used_at`

func scanCredential(r scanner) (storage.Credential, int64, error) {
	var c storage.Credential
	var typ string
	var version, created, used int64
	err := r.Scan(&c.ID, &c.Subject, &typ, &c.Name, &c.Secret, &c.Data, &c.Counter, &created, &used, &version)
	c.Type, c.CreatedAt, c.LastUsedAt = storage.CredentialType(typ), fromTS(created), fromTS(used)
	return c, version, err
}

// CreateCredential stores a credential.
func (s *Store) CreateCredential(ctx context.Context, c storage.Credential) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO credentials (`+credentialCols+`, version) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,1)`,
		c.ID, c.Subject, string(c.Type), c.Name, c.Secret, c.Data, c.Counter, ts(c.CreatedAt), ts(c.LastUsedAt))
	return s.wrap(err)
}

func (s *Store) getCredential(ctx context.Context, id string) (storage.Credential, int64, error) {
	c, v, err := scanCredential(s.q(ctx).QueryRowContext(ctx, `SELECT `+credentialCols+`, version FROM credentials WHERE id = $1`, id))
	return c, v, s.wrap(err)
}

// GetCredential loads a credential by id.
func (s *Store) GetCredential(ctx context.Context, id string) (storage.Credential, error) {
	c, _, err := s.getCredential(ctx, id)
	return c, err
}

// ListCredentials lists a subject's credentials, oldest first.
func (s *Store) ListCredentials(ctx context.Context, subject string, typ storage.CredentialType) ([]storage.Credential, error) {
	return queryAll(ctx, s, func(r scanner) (storage.Credential, error) {
		c, _, err := scanCredential(r)
		return c, err
	}, `SELECT `+credentialCols+`, version FROM credentials WHERE subject = $1 AND (CAST($2 AS TEXT) = '' OR type = $2) ORDER BY created_at, id`, subject, string(typ))
}

// UpdateCredential is a compare-and-swap on the row version.
func (s *Store) UpdateCredential(ctx context.Context, id string, fn func(storage.Credential) (storage.Credential, error)) (storage.Credential, error) {
	old, version, err := s.getCredential(ctx, id)
	if err != nil {
		return old, err
	}
	nc, err := fn(old)
	if err != nil {
		return old, err
	}
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE credentials SET name = $1, secret = $2, data = $3, counter = $4, last_used_at = $5, version = version + 1 WHERE id = $6 AND version = $7`,
		nc.Name, nc.Secret, nc.Data, nc.Counter, ts(nc.LastUsedAt), id, version)
	if err != nil {
		return old, s.wrap(err)
	}
	if affected(res) == 0 {
		return old, storage.ErrConflict
	}
	nc.ID, nc.Subject, nc.Type, nc.CreatedAt = old.ID, old.Subject, old.Type, old.CreatedAt
	return nc, nil
}

// DeleteCredential removes one of a subject's credentials.
func (s *Store) DeleteCredential(ctx context.Context, subject, id string) error {
	res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM credentials WHERE id = $1 AND subject = $2`, id, subject)
	if err != nil {
		return s.wrap(err)
	}
	if affected(res) == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// DeleteCredentials removes a subject's credentials of one type.
func (s *Store) DeleteCredentials(ctx context.Context, subject string, typ storage.CredentialType) (int64, error) {
	res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM credentials WHERE subject = $1 AND type = $2`, subject, string(typ))
	if err != nil {
		return 0, s.wrap(err)
	}
	return affected(res), nil
}
