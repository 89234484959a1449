package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

type scanner interface{ Scan(dest ...any) error }

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
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT `+clientCols+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []storage.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, s.wrap(err)
		}
		out = append(out, c)
	}
	return out, s.wrap(rows.Err())
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

const userCols = `subject, email, email_verified, name, given_name, family_name, password_hash, disabled, created_at, updated_at, profile`

// selectUser reads a user with, in the same statement, whether the user
// has a second factor (an authenticator app or a passkey).
const selectUser = `SELECT ` + userCols + `, EXISTS (SELECT 1 FROM credentials c WHERE c.subject = users.subject AND c.type IN ('totp', 'webauthn')) FROM users`

func scanUser(r scanner) (storage.User, error) {
	var u storage.User
	var created, updated int64
	var profile string
	err := r.Scan(&u.Subject, &u.Email, &u.EmailVerified, &u.Name, &u.GivenName, &u.FamilyName, &u.PasswordHash, &u.Disabled, &created, &updated, &profile, &u.SecondFactor)
	u.CreatedAt, u.UpdatedAt = fromTS(created), fromTS(updated)
	if err == nil && profile != "{}" {
		if jerr := json.Unmarshal([]byte(profile), &u.Profile); jerr != nil {
			return u, fmt.Errorf("decode user profile: %w", jerr)
		}
	}
	return u, err
}

func profileJSON(p storage.Profile) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode user profile: %w", err)
	}
	return string(b), nil
}

// normalizeEmail is the one place emails are folded for lookups.
func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// CreateUser stores a new user; the email must be unique (case-insensitive).
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	profile, err := profileJSON(u.Profile)
	if err != nil {
		return err
	}
	_, err = s.q(ctx).ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		u.Subject, normalizeEmail(u.Email), u.EmailVerified, u.Name, u.GivenName, u.FamilyName, u.PasswordHash, u.Disabled, ts(u.CreatedAt), ts(u.UpdatedAt), profile)
	return s.wrap(err)
}

// GetUser loads a user by subject.
func (s *Store) GetUser(ctx context.Context, subject string) (storage.User, error) {
	if u, ok := storage.MemoUser(ctx, subject); ok {
		return u, nil
	}
	u, err := scanUser(s.q(ctx).QueryRowContext(ctx, selectUser+` WHERE subject = $1`, subject))
	if err == nil {
		storage.RememberUser(ctx, u)
	}
	return u, s.wrap(err)
}

// GetUserByEmail loads a user by email, case-insensitively.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (storage.User, error) {
	u, err := scanUser(s.q(ctx).QueryRowContext(ctx, selectUser+` WHERE email = $1`, normalizeEmail(email)))
	return u, s.wrap(err)
}

// ListUsers lists every user, ordered by email.
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	rows, err := s.q(ctx).QueryContext(ctx, selectUser+` ORDER BY email`)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []storage.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, s.wrap(err)
		}
		out = append(out, u)
	}
	return out, s.wrap(rows.Err())
}

// UpdateUser is a compare-and-swap on updated_at.
func (s *Store) UpdateUser(ctx context.Context, subject string, fn func(storage.User) (storage.User, error)) (storage.User, error) {
	storage.ForgetUser(ctx, subject) // compare against the row, not a memo
	old, err := s.GetUser(ctx, subject)
	storage.ForgetUser(ctx, subject)
	if err != nil {
		return old, err
	}
	nu, err := fn(old)
	if err != nil {
		return old, err
	}
	nu.Subject = old.Subject
	if !nu.UpdatedAt.After(old.UpdatedAt) {
		nu.UpdatedAt = old.UpdatedAt.Add(time.Microsecond)
	}
	profile, err := profileJSON(nu.Profile)
	if err != nil {
		return old, err
	}
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE users SET email=$1, email_verified=$2, name=$3, given_name=$4, family_name=$5, password_hash=$6, disabled=$7, updated_at=$8, profile=$9 WHERE subject=$10 AND updated_at=$11`,
		normalizeEmail(nu.Email), nu.EmailVerified, nu.Name, nu.GivenName, nu.FamilyName, nu.PasswordHash, nu.Disabled, ts(nu.UpdatedAt), profile, subject, ts(old.UpdatedAt))
	if err != nil {
		return old, s.wrap(err)
	}
	if affected(res) == 0 {
		return old, storage.ErrConflict
	}
	return nu, nil
}

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
	storage.ForgetUser(ctx, c.Subject)
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
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT `+credentialCols+`, version FROM credentials WHERE subject = $1 AND (CAST($2 AS TEXT) = '' OR type = $2) ORDER BY created_at, id`, subject, string(typ))
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []storage.Credential
	for rows.Next() {
		c, _, err := scanCredential(rows)
		if err != nil {
			return nil, s.wrap(err)
		}
		out = append(out, c)
	}
	return out, s.wrap(rows.Err())
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
	storage.ForgetUser(ctx, subject)
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
	storage.ForgetUser(ctx, subject)
	res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM credentials WHERE subject = $1 AND type = $2`, subject, string(typ))
	if err != nil {
		return 0, s.wrap(err)
	}
	return affected(res), nil
}

// DeleteUser removes a user and everything issued to them.
func (s *Store) DeleteUser(ctx context.Context, subject string) error {
	storage.ForgetUser(ctx, subject)
	return s.InTx(ctx, func(ctx context.Context) error {
		res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM users WHERE subject = $1`, subject)
		if err != nil {
			return s.wrap(err)
		}
		if affected(res) == 0 {
			return storage.ErrNotFound
		}
		_, _, err = s.RevokeSubject(ctx, subject, nil) // the sessions went with the user (ON DELETE CASCADE)
		return err
	})
}

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
	err := s.q(ctx).QueryRowContext(ctx, `SELECT id_hash, sid, subject, auth_time, amr, created_at, expires_at FROM browser_sessions WHERE id_hash = $1 AND expires_at > $2`, idHash, ts(now)).
		Scan(&bs.IDHash, &bs.SID, &bs.Subject, &authTime, &amr, &created, &expires)
	if err != nil {
		return bs, s.wrap(err)
	}
	bs.AuthTime, bs.CreatedAt, bs.ExpiresAt = fromTS(authTime), fromTS(created), fromTS(expires)
	bs.AMR, err = unlist(amr)
	return bs, err
}

// DeleteSession removes a browser session; deleting a missing one is not an error.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM browser_sessions WHERE id_hash = $1`, idHash)
	return s.wrap(err)
}

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
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT client_id, scopes, created_at, expires_at FROM consents WHERE subject = $1 AND expires_at > $2 ORDER BY client_id`, subject, ts(now))
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []storage.Consent
	for rows.Next() {
		c := storage.Consent{Subject: subject}
		var scopes string
		var created, expires int64
		if err := rows.Scan(&c.ClientID, &scopes, &created, &expires); err != nil {
			return nil, s.wrap(err)
		}
		c.CreatedAt, c.ExpiresAt = fromTS(created), fromTS(expires)
		if c.Scopes, err = unlist(scopes); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, s.wrap(rows.Err())
}

// DeleteTokensOf removes every token a client holds for a subject.
func (s *Store) DeleteTokensOf(ctx context.Context, subject, clientID string) (int64, error) {
	res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM oauth2_tokens WHERE subject = $1 AND client_id = $2`, subject, clientID)
	if err != nil {
		return 0, s.wrap(err)
	}
	return affected(res), nil
}

// DeleteConsent forgets a remembered consent.
func (s *Store) DeleteConsent(ctx context.Context, subject, clientID string) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM consents WHERE subject = $1 AND client_id = $2`, subject, clientID)
	return s.wrap(err)
}

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

// CreateToken stores a protocol record.
func (s *Store) CreateToken(ctx context.Context, t storage.Token) error {
	if s.inTx(ctx) {
		return s.insertToken(ctx, t)
	}
	_, err := s.groups.writes.do(ctx, t)
	return err
}

// inTx says whether ctx carries a transaction of this store (whose
// statements cannot join a group).
func (s *Store) inTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{s}).(*sql.Tx)
	return ok
}

// insertToken writes one record with its own statement.
func (s *Store) insertToken(ctx context.Context, t storage.Token) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO oauth2_tokens (kind, signature, request_id, client_id, subject, active, expires_at, created_at, data) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
		string(t.Kind), t.Signature, t.RequestID, t.ClientID, t.Subject, t.Active, ts(t.ExpiresAt), ts(t.CreatedAt), t.Data)
	return s.wrap(err)
}

// CreateTokens stores several protocol records in one statement.
func (s *Store) CreateTokens(ctx context.Context, tokens []storage.Token) error {
	if len(tokens) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO oauth2_tokens (kind, signature, request_id, client_id, subject, active, expires_at, created_at, data) VALUES `)
	args := make([]any, 0, 9*len(tokens))
	for i, t := range tokens {
		if i > 0 {
			b.WriteString(",")
		}
		n := len(args)
		fmt.Fprintf(&b, "($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9)
		args = append(args, string(t.Kind), t.Signature, t.RequestID, t.ClientID, t.Subject, t.Active, ts(t.ExpiresAt), ts(t.CreatedAt), t.Data)
	}
	_, err := s.q(ctx).ExecContext(ctx, b.String(), args...)
	return s.wrap(err)
}

// GetTokenFamily loads a record and its relatives of the given kinds in one
// query.
func (s *Store) GetTokenFamily(ctx context.Context, kind storage.TokenKind, signature string, kinds []storage.TokenKind) ([]storage.Token, error) {
	var b strings.Builder
	args := []any{string(kind), signature}
	b.WriteString(`SELECT kind, signature, request_id, client_id, subject, active, expires_at, created_at, data FROM oauth2_tokens WHERE (kind = $1 AND signature = $2)`)
	if len(kinds) > 0 {
		b.WriteString(` OR (kind IN (`)
		for i, k := range kinds {
			if i > 0 {
				b.WriteString(",")
			}
			args = append(args, string(k))
			fmt.Fprintf(&b, "$%d", len(args))
		}
		b.WriteString(`) AND request_id = (SELECT request_id FROM oauth2_tokens WHERE kind = $1 AND signature = $2))`)
	}
	out, err := s.queryTokens(ctx, b.String(), args)
	if err != nil {
		return nil, err
	}
	for _, t := range out {
		if t.Kind == kind && t.Signature == signature {
			return out, nil
		}
	}
	return nil, storage.ErrNotFound
}

// queryTokens runs a query selecting whole token rows.
func (s *Store) queryTokens(ctx context.Context, query string, args []any) ([]storage.Token, error) {
	rows, err := s.q(ctx).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []storage.Token
	for rows.Next() {
		var t storage.Token
		var k string
		var expires, created int64
		if err := rows.Scan(&k, &t.Signature, &t.RequestID, &t.ClientID, &t.Subject, &t.Active, &expires, &created, &t.Data); err != nil {
			return nil, s.wrap(err)
		}
		t.Kind, t.ExpiresAt, t.CreatedAt = storage.TokenKind(k), fromTS(expires), fromTS(created)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err)
	}
	return out, nil
}

// DeleteTokenKeys removes several records in one statement.
func (s *Store) DeleteTokenKeys(ctx context.Context, keys []storage.TokenKey) error {
	if len(keys) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(`DELETE FROM oauth2_tokens WHERE `)
	args := make([]any, 0, 2*len(keys))
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" OR ")
		}
		fmt.Fprintf(&b, "(kind = $%d AND signature = $%d)", len(args)+1, len(args)+2)
		args = append(args, string(k.Kind), k.Signature)
	}
	_, err := s.q(ctx).ExecContext(ctx, b.String(), args...)
	return s.wrap(err)
}

// GetToken loads a protocol record, active or not.
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, signature string) (storage.Token, error) {
	if s.inTx(ctx) {
		return s.selectToken(ctx, kind, signature)
	}
	return s.groups.reads.do(ctx, storage.TokenKey{Kind: kind, Signature: signature})
}

// selectToken reads one record with its own statement.
func (s *Store) selectToken(ctx context.Context, kind storage.TokenKind, signature string) (storage.Token, error) {
	t := storage.Token{Kind: kind, Signature: signature}
	var expires, created int64
	err := s.q(ctx).QueryRowContext(ctx, `SELECT request_id, client_id, subject, active, expires_at, created_at, data FROM oauth2_tokens WHERE kind = $1 AND signature = $2`, string(kind), signature).
		Scan(&t.RequestID, &t.ClientID, &t.Subject, &t.Active, &expires, &created, &t.Data)
	t.ExpiresAt, t.CreatedAt = fromTS(expires), fromTS(created)
	return t, s.wrap(err)
}

// DeleteToken removes a protocol record; a missing one is not an error.
func (s *Store) DeleteToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM oauth2_tokens WHERE kind = $1 AND signature = $2`, string(kind), signature)
	return s.wrap(err)
}

// DeactivateToken flips active to false exactly once.
func (s *Store) DeactivateToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE oauth2_tokens SET active = $1 WHERE kind = $2 AND signature = $3 AND active = $4`, false, string(kind), signature, true)
	if err != nil {
		return s.wrap(err)
	}
	if affected(res) == 1 {
		return nil
	}
	var one int
	err = s.q(ctx).QueryRowContext(ctx, `SELECT 1 FROM oauth2_tokens WHERE kind = $1 AND signature = $2`, string(kind), signature).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	} else if err != nil {
		return s.wrap(err)
	}
	return storage.ErrConflict
}

// DeleteTokensByRequestID removes a token family of one kind.
func (s *Store) DeleteTokensByRequestID(ctx context.Context, kind storage.TokenKind, requestID string) (int64, error) {
	res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM oauth2_tokens WHERE kind = $1 AND request_id = $2`, string(kind), requestID)
	if err != nil {
		return 0, s.wrap(err)
	}
	return affected(res), nil
}

// MarkJTIUsed records a client-assertion jti once.
func (s *Store) MarkJTIUsed(ctx context.Context, jti string, expiresAt, now time.Time) error {
	res, err := s.q(ctx).ExecContext(ctx, `INSERT INTO oauth2_jtis (jti, expires_at) VALUES ($1,$2) ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at WHERE oauth2_jtis.expires_at <= $3`,
		jti, ts(expiresAt), ts(now))
	if err != nil {
		return s.wrap(err)
	}
	if affected(res) == 0 {
		return storage.ErrAlreadyExists
	}
	return nil
}

// JTIUsed reports whether an unexpired jti is recorded.
func (s *Store) JTIUsed(ctx context.Context, jti string, now time.Time) (bool, error) {
	var one int
	err := s.q(ctx).QueryRowContext(ctx, `SELECT 1 FROM oauth2_jtis WHERE jti = $1 AND expires_at > $2`, jti, ts(now)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, s.wrap(err)
}

// PutRefreshGrace stores a rotation's sealed response; the first one stays.
func (s *Store) PutRefreshGrace(ctx context.Context, g storage.RefreshGrace) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO refresh_grace (signature, client_id, response, expires_at) VALUES ($1,$2,$3,$4) ON CONFLICT (signature) DO NOTHING`,
		g.Signature, g.ClientID, g.Response, ts(g.ExpiresAt))
	return s.wrap(err)
}

// GetRefreshGrace loads an unexpired grace record.
func (s *Store) GetRefreshGrace(ctx context.Context, signature string, now time.Time) (storage.RefreshGrace, error) {
	g := storage.RefreshGrace{Signature: signature}
	var exp int64
	err := s.q(ctx).QueryRowContext(ctx, `SELECT client_id, response, expires_at FROM refresh_grace WHERE signature = $1 AND expires_at > $2`, signature, ts(now)).
		Scan(&g.ClientID, &g.Response, &exp)
	g.ExpiresAt = fromTS(exp)
	return g, s.wrap(err)
}

// AppendAudit writes one audit event.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEvent) error {
	details, err := json.Marshal(e.Details)
	if err != nil {
		return fmt.Errorf("encode audit details: %w", err)
	}
	_, err = s.q(ctx).ExecContext(ctx, `INSERT INTO audit_events (id, at, type, actor, subject, client_id, ip, request_id, details) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
		e.ID, ts(e.At), e.Type, e.Actor, e.Subject, e.ClientID, e.IP, e.RequestID, string(details))
	return s.wrap(err)
}

// CountAudit appends an event or adds one to its count.
func (s *Store) CountAudit(ctx context.Context, e storage.AuditEvent) error {
	details, err := json.Marshal(e.Details)
	if err != nil {
		return fmt.Errorf("encode audit details: %w", err)
	}
	_, err = s.q(ctx).ExecContext(ctx, `INSERT INTO audit_events (id, at, type, actor, subject, client_id, ip, request_id, details, count) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,1)
ON CONFLICT (id) DO UPDATE SET count = audit_events.count + 1, at = excluded.at, actor = excluded.actor, request_id = excluded.request_id, details = excluded.details`,
		e.ID, ts(e.At), e.Type, e.Actor, e.Subject, e.ClientID, e.IP, e.RequestID, string(details))
	return s.wrap(err)
}

// DeleteAuditBefore removes events older than before, in bounded batches.
func (s *Store) DeleteAuditBefore(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.q(ctx).ExecContext(ctx, fmt.Sprintf(`DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < $1 LIMIT %d)`, gcBatch), ts(before))
		if err != nil {
			return total, fmt.Errorf("gc audit_events: %w", s.wrap(err))
		}
		n := affected(res)
		total += n
		if n < gcBatch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// ListAudit lists events newest first.
func (s *Store) ListAudit(ctx context.Context, subject string, before time.Time, limit int) ([]storage.AuditEvent, error) {
	if before.IsZero() {
		before = time.Now().Add(time.Second)
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q := `SELECT id, at, type, actor, subject, client_id, ip, request_id, details, count FROM audit_events WHERE at < $1 AND (CAST($2 AS TEXT) = '' OR subject = $2) ORDER BY at DESC, id DESC LIMIT $3`
	rows, err := s.q(ctx).QueryContext(ctx, q, ts(before), subject, limit)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []storage.AuditEvent
	for rows.Next() {
		var e storage.AuditEvent
		var at int64
		var details string
		if err := rows.Scan(&e.ID, &at, &e.Type, &e.Actor, &e.Subject, &e.ClientID, &e.IP, &e.RequestID, &details, &e.Count); err != nil {
			return nil, s.wrap(err)
		}
		e.At = fromTS(at)
		if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
			return nil, fmt.Errorf("decode audit details: %w", err)
		}
		out = append(out, e)
	}
	return out, s.wrap(rows.Err())
}

// CreateKey stores a signing key.
func (s *Store) CreateKey(ctx context.Context, k storage.SigningKey) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO signing_keys (id, alg, state, private_sealed, public_jwk, created_at, expires_at, generation, activate_at, retire_at, delete_at)
VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		k.ID, k.Alg, string(k.StateAt(k.CreatedAt)), k.Private, k.Public, ts(k.CreatedAt), ts(k.DeleteAt), k.Generation, ts(k.ActivateAt), ts(k.RetireAt), ts(k.DeleteAt))
	return s.wrap(err)
}

// ListKeys lists every signing key, by algorithm and generation.
func (s *Store) ListKeys(ctx context.Context) ([]storage.SigningKey, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT id, alg, generation, private_sealed, public_jwk, created_at, activate_at, retire_at, delete_at FROM signing_keys ORDER BY alg, generation, id`)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []storage.SigningKey
	for rows.Next() {
		var k storage.SigningKey
		var created, activate, retire, del int64
		if err := rows.Scan(&k.ID, &k.Alg, &k.Generation, &k.Private, &k.Public, &created, &activate, &retire, &del); err != nil {
			return nil, s.wrap(err)
		}
		k.CreatedAt, k.ActivateAt, k.RetireAt, k.DeleteAt = fromTS(created), fromTS(activate), fromTS(retire), fromTS(del)
		out = append(out, k)
	}
	return out, s.wrap(rows.Err())
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
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT name, value, created_at FROM server_secrets ORDER BY name`)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []storage.Secret
	for rows.Next() {
		var sec storage.Secret
		var created int64
		if err := rows.Scan(&sec.Name, &sec.Value, &created); err != nil {
			return nil, s.wrap(err)
		}
		sec.CreatedAt = fromTS(created)
		out = append(out, sec)
	}
	return out, s.wrap(rows.Err())
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

// gcBatch bounds each GC statement so a large backlog never holds long locks.
const gcBatch = 1000

// GarbageCollect removes expired rows in bounded batches.
func (s *Store) GarbageCollect(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, table := range []string{"oauth2_tokens", "oauth2_jtis", "login_flows", "browser_sessions", "consents", "refresh_grace", "attempts"} {
		key := map[string]string{"oauth2_tokens": "kind, signature", "oauth2_jtis": "jti", "login_flows": "id", "browser_sessions": "id_hash",
			"consents": "subject, client_id", "refresh_grace": "signature", "attempts": "key_hash"}[table]
		for {
			// Row-value IN works on both PostgreSQL and SQLite (3.15+).
			res, err := s.q(ctx).ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE (%s) IN (SELECT %s FROM %s WHERE expires_at <= $1 LIMIT %d)`, table, key, key, table, gcBatch), ts(now))
			if err != nil {
				return total, fmt.Errorf("gc %s: %w", table, s.wrap(err))
			}
			n := affected(res)
			total += n
			if n < gcBatch {
				break
			}
			if err := ctx.Err(); err != nil {
				return total, err
			}
		}
	}
	// Keys past their deletion time are no longer published: remove them.
	res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM signing_keys WHERE delete_at <> 0 AND delete_at <= $1`, ts(now))
	if err != nil {
		return total, fmt.Errorf("gc signing_keys: %w", s.wrap(err))
	}
	return total + affected(res), nil
}

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
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT id, hash, name, roles, created_at, revoked_at FROM admin_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []storage.AdminKey
	for rows.Next() {
		k, err := scanAdminKey(rows)
		if err != nil {
			return nil, s.wrap(err)
		}
		out = append(out, k)
	}
	return out, s.wrap(rows.Err())
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

// ListSessions lists a subject's unexpired browser sessions.
func (s *Store) ListSessions(ctx context.Context, subject string, now time.Time) ([]storage.BrowserSession, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT id_hash, sid, subject, auth_time, amr, created_at, expires_at FROM browser_sessions WHERE subject = $1 AND expires_at > $2 ORDER BY created_at`, subject, ts(now))
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []storage.BrowserSession
	for rows.Next() {
		var bs storage.BrowserSession
		var amr string
		var authTime, created, expires int64
		if err := rows.Scan(&bs.IDHash, &bs.SID, &bs.Subject, &authTime, &amr, &created, &expires); err != nil {
			return nil, s.wrap(err)
		}
		bs.AuthTime, bs.CreatedAt, bs.ExpiresAt = fromTS(authTime), fromTS(created), fromTS(expires)
		if bs.AMR, err = unlist(amr); err != nil {
			return nil, err
		}
		out = append(out, bs)
	}
	return out, s.wrap(rows.Err())
}

// DeleteSessions removes every session of a subject.
func (s *Store) DeleteSessions(ctx context.Context, subject string) (int64, error) {
	res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM browser_sessions WHERE subject = $1`, subject)
	if err != nil {
		return 0, s.wrap(err)
	}
	return affected(res), nil
}

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
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT `+federatedCols+` FROM federated_identities WHERE subject = $1 ORDER BY created_at, connector_id, upstream_subject`, subject)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []storage.FederatedIdentity
	for rows.Next() {
		fi, err := scanFederated(rows)
		if err != nil {
			return nil, s.wrap(err)
		}
		out = append(out, fi)
	}
	return out, s.wrap(rows.Err())
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
