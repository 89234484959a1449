package sqlstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

const clientCols = `id, secret_hash, name, redirect_uris, post_logout_redirect_uris, grant_types, response_types, scopes, audience, token_endpoint_auth_method, public, first_party, created_at, updated_at, id_token_signed_response_alg, access_token_format, jwks, token_endpoint_auth_signing_alg, registration_token_hash, metadata, previous_secret_hash, previous_secret_expires_at, jwks_uri, access_token_lifetime, refresh_token_lifetime, id_token_lifetime, owner, require_mfa, require_pkce`

// CreateClient stores a new client.
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	meta, err := json.Marshal(c.Metadata)
	if err != nil {
		return err
	}
	_, err = s.q(ctx).ExecContext(ctx, `INSERT INTO clients (`+clientCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29)`,
		c.ID, c.SecretHash, c.Name, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs), list(c.GrantTypes), list(c.ResponseTypes),
		list(c.Scopes), list(c.Audience), c.TokenEndpointAuthMethod, c.Public, c.FirstParty, ts(c.CreatedAt), ts(c.UpdatedAt), c.IDTokenSignedResponseAlg, c.AccessTokenFormat, c.JWKS, c.TokenEndpointAuthSigningAlg, c.RegistrationTokenHash, string(meta), hex.EncodeToString(c.PreviousSecretHash), ts(c.PreviousSecretExpiresAt), c.JWKSURI,
		int64(c.AccessTokenLifetime.Seconds()), int64(c.RefreshTokenLifetime.Seconds()), int64(c.IDTokenLifetime.Seconds()), c.Owner, c.RequireMFA, c.RequirePKCE)
	return s.wrap(err)
}

func scanClient(r scanner) (storage.Client, error) {
	var c storage.Client
	var ru, plru, gt, rt, sc, aud, meta, prev string
	var prevExp, atl, rtl, itl int64
	var created, updated int64
	if err := r.Scan(&c.ID, &c.SecretHash, &c.Name, &ru, &plru, &gt, &rt, &sc, &aud, &c.TokenEndpointAuthMethod, &c.Public, &c.FirstParty, &created, &updated, &c.IDTokenSignedResponseAlg, &c.AccessTokenFormat, &c.JWKS, &c.TokenEndpointAuthSigningAlg, &c.RegistrationTokenHash, &meta, &prev, &prevExp, &c.JWKSURI, &atl, &rtl, &itl, &c.Owner, &c.RequireMFA, &c.RequirePKCE); err != nil {
		return c, err
	}
	var err error
	for _, f := range []struct {
		src string
		dst *[]string
	}{{ru, &c.RedirectURIs}, {plru, &c.PostLogoutRedirectURIs}, {gt, &c.GrantTypes}, {rt, &c.ResponseTypes}, {sc, &c.Scopes}, {aud, &c.Audience}} {
		if *f.dst, err = unlist(f.src); err != nil {
			return c, err
		}
	}
	c.CreatedAt, c.UpdatedAt = fromTS(created), fromTS(updated)
	if err := json.Unmarshal([]byte(meta), &c.Metadata); err != nil {
		return c, fmt.Errorf("decode client metadata: %w", err)
	}
	if c.PreviousSecretHash, err = hex.DecodeString(prev); err != nil {
		return c, fmt.Errorf("decode previous secret hash: %w", err)
	}
	c.PreviousSecretExpiresAt = fromTS(prevExp)
	c.AccessTokenLifetime, c.RefreshTokenLifetime, c.IDTokenLifetime = time.Duration(atl)*time.Second, time.Duration(rtl)*time.Second, time.Duration(itl)*time.Second
	return c, nil
}

// UpdateClient replaces a client's registration, compare-and-swap on
// updated_at; the id and creation time never change.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(storage.Client) (storage.Client, error)) (storage.Client, error) {
	old, err := s.GetClient(ctx, id)
	if err != nil {
		return old, err
	}
	c, err := fn(old)
	if err != nil {
		return old, err
	}
	c.ID, c.CreatedAt = old.ID, old.CreatedAt
	if !c.UpdatedAt.After(old.UpdatedAt) {
		c.UpdatedAt = old.UpdatedAt.Add(time.Microsecond)
	}
	meta, err := json.Marshal(c.Metadata)
	if err != nil {
		return old, err
	}
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE clients SET secret_hash=$1, name=$2, redirect_uris=$3, post_logout_redirect_uris=$4, grant_types=$5, response_types=$6,
scopes=$7, audience=$8, token_endpoint_auth_method=$9, public=$10, first_party=$11, updated_at=$12, id_token_signed_response_alg=$13, access_token_format=$14,
jwks=$15, token_endpoint_auth_signing_alg=$16, registration_token_hash=$17, metadata=$18, previous_secret_hash=$19, previous_secret_expires_at=$20,
jwks_uri=$21, access_token_lifetime=$22, refresh_token_lifetime=$23, id_token_lifetime=$24, owner=$25, require_mfa=$26, require_pkce=$27 WHERE id=$28 AND updated_at=$29`,
		c.SecretHash, c.Name, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs), list(c.GrantTypes), list(c.ResponseTypes), list(c.Scopes), list(c.Audience),
		c.TokenEndpointAuthMethod, c.Public, c.FirstParty, ts(c.UpdatedAt), c.IDTokenSignedResponseAlg, c.AccessTokenFormat, c.JWKS, c.TokenEndpointAuthSigningAlg,
		c.RegistrationTokenHash, string(meta), hex.EncodeToString(c.PreviousSecretHash), ts(c.PreviousSecretExpiresAt), c.JWKSURI,
		int64(c.AccessTokenLifetime.Seconds()), int64(c.RefreshTokenLifetime.Seconds()), int64(c.IDTokenLifetime.Seconds()), c.Owner, c.RequireMFA, c.RequirePKCE, id, ts(old.UpdatedAt))
	if err != nil {
		return old, s.wrap(err)
	}
	if affected(res) == 0 {
		return old, storage.ErrConflict
	}
	return c, nil
}

// GetClient loads a client by id.
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	c, err := scanClient(s.q(ctx).QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
	return c, s.wrap(err)
}

// ListClients lists every client, ordered by id.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	return queryAll(ctx, s, scanClient, `SELECT `+clientCols+` FROM clients ORDER BY id`)
}

// DeleteClient removes a client and every token issued to it.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM clients WHERE id = $1`, id)
		if err != nil {
			return s.wrap(err)
		}
		if affected(res) == 0 {
			return storage.ErrNotFound
		}
		_, err = s.q(ctx).ExecContext(ctx, `DELETE FROM oauth2_tokens WHERE client_id = $1`, id)
		return s.wrap(err)
	})
}
