package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

const federatedCols = `connector_id, upstream_subject, subject, email, username, token, created_at, last_used_at`

// CreateFederatedIdentity links an upstream account to a user.
func (s *Store) CreateFederatedIdentity(ctx context.Context, fi storage.FederatedIdentity) error {
	if fi.Token == nil {
		fi.Token = []byte{}
	}
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO federated_identities (`+federatedCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
		fi.ConnectorID, fi.UpstreamSubject, fi.Subject, fi.Email, fi.Username, fi.Token, ts(fi.CreatedAt), ts(fi.LastUsedAt))
	return s.wrap(err)
}

func scanFederated(r scanner) (storage.FederatedIdentity, error) {
	var fi storage.FederatedIdentity
	var created, used int64
	err := r.Scan(&fi.ConnectorID, &fi.UpstreamSubject, &fi.Subject, &fi.Email, &fi.Username, &fi.Token, &created, &used)
	fi.CreatedAt, fi.LastUsedAt = fromTS(created), fromTS(used)
	return fi, err
}

// GetFederatedIdentity loads a link by upstream account.
func (s *Store) GetFederatedIdentity(ctx context.Context, connectorID, upstreamSubject string) (storage.FederatedIdentity, error) {
	fi, err := scanFederated(s.q(ctx).QueryRowContext(ctx, `SELECT `+federatedCols+` FROM federated_identities WHERE connector_id = $1 AND upstream_subject = $2`, connectorID, upstreamSubject))
	return fi, s.wrap(err)
}

// ListFederatedIdentities lists a user's links, oldest first.
func (s *Store) ListFederatedIdentities(ctx context.Context, subject string) ([]storage.FederatedIdentity, error) {
	return queryAll(ctx, s, scanFederated, `SELECT `+federatedCols+` FROM federated_identities WHERE subject = $1 ORDER BY created_at, connector_id, upstream_subject`, subject)
}

// TouchFederatedIdentity records a sign-in through a link.
func (s *Store) TouchFederatedIdentity(ctx context.Context, connectorID, upstreamSubject string, at time.Time, token []byte) error {
	var res sql.Result
	var err error
	if token == nil {
		res, err = s.q(ctx).ExecContext(ctx, `UPDATE federated_identities SET last_used_at = $1 WHERE connector_id = $2 AND upstream_subject = $3`, ts(at), connectorID, upstreamSubject)
	} else {
		res, err = s.q(ctx).ExecContext(ctx, `UPDATE federated_identities SET last_used_at = $1, token = $2 WHERE connector_id = $3 AND upstream_subject = $4`, ts(at), token, connectorID, upstreamSubject)
	}
	if err != nil {
		return s.wrap(err)
	}
	if affected(res) == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// DeleteFederatedIdentity unlinks one of a user's upstream accounts.
func (s *Store) DeleteFederatedIdentity(ctx context.Context, subject, connectorID, upstreamSubject string) error {
	res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM federated_identities WHERE subject = $1 AND connector_id = $2 AND upstream_subject = $3`, subject, connectorID, upstreamSubject)
	if err != nil {
		return s.wrap(err)
	}
	if affected(res) == 0 {
		return storage.ErrNotFound
	}
	return nil
}
