package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// DeleteTokensOf removes every token a client holds for a subject.
func (s *Store) DeleteTokensOf(ctx context.Context, subject, clientID string) (int64, error) {
	res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM oauth2_tokens WHERE subject = $1 AND client_id = $2`, subject, clientID)
	if err != nil {
		return 0, s.wrap(err)
	}
	return affected(res), nil
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
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO oauth2_tokens (kind, signature, request_id, client_id, subject, sid, active, expires_at, created_at, data) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
		string(t.Kind), t.Signature, t.RequestID, t.ClientID, t.Subject, t.SID, t.Active, ts(t.ExpiresAt), ts(t.CreatedAt), t.Data)
	return s.wrap(err)
}

// CreateTokens stores several protocol records in one statement.
func (s *Store) CreateTokens(ctx context.Context, tokens []storage.Token) error {
	if len(tokens) == 0 {
		return nil
	}
	if s.d.name == "postgres" {
		// One statement text for any number of rows (arrays, unnested):
		// it is parsed and planned once per connection, where a VALUES
		// list of n rows is a new statement for every n.
		cols := tokenColumns{}
		for _, t := range tokens {
			cols.add(t)
		}
		_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO oauth2_tokens (kind, signature, request_id, client_id, subject, sid, active, expires_at, created_at, data)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::bigint[], $9::bigint[], $10::bytea[])`,
			cols.kind, cols.signature, cols.requestID, cols.clientID, cols.subject, cols.sid, cols.active, cols.expires, cols.created, cols.data)
		return s.wrap(err)
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO oauth2_tokens (kind, signature, request_id, client_id, subject, sid, active, expires_at, created_at, data) VALUES `)
	args := make([]any, 0, 10*len(tokens))
	for i, t := range tokens {
		if i > 0 {
			b.WriteString(",")
		}
		n := len(args)
		fmt.Fprintf(&b, "($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9, n+10)
		args = append(args, string(t.Kind), t.Signature, t.RequestID, t.ClientID, t.Subject, t.SID, t.Active, ts(t.ExpiresAt), ts(t.CreatedAt), t.Data)
	}
	_, err := s.q(ctx).ExecContext(ctx, b.String(), args...)
	return s.wrap(err)
}

// tokenColumns are rows of oauth2_tokens as one array per column (the
// parameters of PostgreSQL's grouped statements).
type tokenColumns struct {
	kind, signature, requestID, clientID, subject, sid []string
	active                                             []bool
	expires, created                                   []int64
	data                                               [][]byte
}

func (c *tokenColumns) add(t storage.Token) {
	c.kind = append(c.kind, string(t.Kind))
	c.signature = append(c.signature, t.Signature)
	c.requestID = append(c.requestID, t.RequestID)
	c.clientID = append(c.clientID, t.ClientID)
	c.subject = append(c.subject, t.Subject)
	c.sid = append(c.sid, t.SID)
	c.active = append(c.active, t.Active)
	c.expires = append(c.expires, ts(t.ExpiresAt))
	c.created = append(c.created, ts(t.CreatedAt))
	c.data = append(c.data, t.Data)
}

// GetTokenFamily loads a record and its relatives of the given kinds in one
// query.
func (s *Store) GetTokenFamily(ctx context.Context, kind storage.TokenKind, signature string, kinds []storage.TokenKind) ([]storage.Token, error) {
	var b strings.Builder
	args := []any{string(kind), signature}
	b.WriteString(`SELECT kind, signature, request_id, client_id, subject, sid, active, expires_at, created_at, data FROM oauth2_tokens WHERE (kind = $1 AND signature = $2)`)
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
	return queryAll(ctx, s, func(r scanner) (storage.Token, error) {
		var t storage.Token
		var k string
		var expires, created int64
		err := r.Scan(&k, &t.Signature, &t.RequestID, &t.ClientID, &t.Subject, &t.SID, &t.Active, &expires, &created, &t.Data)
		t.Kind, t.ExpiresAt, t.CreatedAt = storage.TokenKind(k), fromTS(expires), fromTS(created)
		return t, err
	}, query, args...)
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
	err := s.q(ctx).QueryRowContext(ctx, `SELECT request_id, client_id, subject, sid, active, expires_at, created_at, data FROM oauth2_tokens WHERE kind = $1 AND signature = $2`, string(kind), signature).
		Scan(&t.RequestID, &t.ClientID, &t.Subject, &t.SID, &t.Active, &expires, &created, &t.Data)
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

// Redeem uses a code or refresh token and writes what follows from it, all
// or nothing. On PostgreSQL that is one statement: the used token's UPDATE
// is a CTE every other change depends on, so a request that loses a race
// (the UPDATE finds the token inactive once the winner commits) writes
// nothing, and the statement also says whether the token exists at all. The
// family DELETE sees the table as it was before the statement, so it never
// removes the records the same statement creates. SQLite does the same
// steps in a transaction.
func (s *Store) Redeem(ctx context.Context, r storage.Redemption) error {
	if s.d.name != "postgres" {
		return s.InTx(ctx, func(ctx context.Context) error { return s.redeemSteps(ctx, r) })
	}
	revKinds, revIDs := make([]string, 0, len(r.Revoke)), make([]string, 0, len(r.Revoke))
	for _, f := range r.Revoke {
		revKinds, revIDs = append(revKinds, string(f.Kind)), append(revIDs, f.RequestID)
	}
	del := deletedBy(r)
	delKinds, delSigs := make([]string, 0, len(del)), make([]string, 0, len(del))
	for _, k := range del {
		delKinds, delSigs = append(delKinds, string(k.Kind)), append(delSigs, k.Signature)
	}
	cols := tokenColumns{}
	for _, t := range r.Create {
		cols.add(t)
	}
	var used int
	var exists bool
	err := s.q(ctx).QueryRowContext(ctx, `WITH used AS (
			UPDATE oauth2_tokens SET active = false WHERE kind = $1 AND signature = $2 AND active RETURNING 1
		), revoked AS (
			DELETE FROM oauth2_tokens WHERE (kind, request_id) IN (SELECT * FROM unnest($3::text[], $4::text[])) AND EXISTS (SELECT 1 FROM used)
		), created AS (
			INSERT INTO oauth2_tokens (kind, signature, request_id, client_id, subject, sid, active, expires_at, created_at, data)
			SELECT * FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::boolean[], $12::bigint[], $13::bigint[], $14::bytea[])
			WHERE EXISTS (SELECT 1 FROM used)
		), deleted AS (
			DELETE FROM oauth2_tokens WHERE (kind, signature) IN (SELECT * FROM unnest($15::text[], $16::text[])) AND EXISTS (SELECT 1 FROM used)
		)
		SELECT (SELECT count(*) FROM used), EXISTS (SELECT 1 FROM oauth2_tokens WHERE kind = $1 AND signature = $2)`,
		string(r.Used.Kind), r.Used.Signature, revKinds, revIDs,
		nonNil(cols.kind), nonNil(cols.signature), nonNil(cols.requestID), nonNil(cols.clientID), nonNil(cols.subject), nonNil(cols.sid),
		nonNil(cols.active), nonNil(cols.expires), nonNil(cols.created), nonNil(cols.data), delKinds, delSigs).Scan(&used, &exists)
	switch {
	case err != nil:
		return s.wrap(err)
	case used == 1:
		return nil
	case !exists:
		return storage.ErrNotFound
	}
	return storage.ErrConflict
}

// redeemSteps is Redeem as separate statements, inside a transaction.
func (s *Store) redeemSteps(ctx context.Context, r storage.Redemption) error {
	if err := s.DeactivateToken(ctx, r.Used.Kind, r.Used.Signature); err != nil {
		return err
	}
	for _, f := range r.Revoke {
		if _, err := s.DeleteTokensByRequestID(ctx, f.Kind, f.RequestID); err != nil {
			return err
		}
	}
	if err := s.CreateTokens(ctx, r.Create); err != nil {
		return err
	}
	return s.DeleteTokenKeys(ctx, deletedBy(r))
}

// deletedBy is what r deletes: its Delete without the used token, which
// stays (inactive) and which one statement may not change twice.
func deletedBy(r storage.Redemption) []storage.TokenKey {
	del := make([]storage.TokenKey, 0, len(r.Delete))
	for _, k := range r.Delete {
		if k != r.Used {
			del = append(del, k)
		}
	}
	return del
}

// nonNil is an empty slice for nil, so PostgreSQL gets an empty array, not
// NULL.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
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

// LastTokenUse says, per client, when subject was last issued a token.
func (s *Store) LastTokenUse(ctx context.Context, subject string) (map[string]time.Time, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT client_id, MAX(created_at) FROM oauth2_tokens WHERE subject = $1 GROUP BY client_id`, subject)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var client string
		var at int64
		if err := rows.Scan(&client, &at); err != nil {
			return nil, s.wrap(err)
		}
		out[client] = fromTS(at)
	}
	return out, s.wrap(rows.Err())
}

// RevokeTokenKey records a revoked stateless token until expiresAt.
func (s *Store) RevokeTokenKey(ctx context.Context, key string, expiresAt time.Time) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO token_revocations (key, expires_at) VALUES ($1,$2) ON CONFLICT (key) DO NOTHING`, key, ts(expiresAt))
	return s.wrap(err)
}

// TokenKeyRevoked reports whether key is revoked. A row past its expiry
// still counts: the token it names has expired too. A read outside a
// transaction joins the group read of concurrent callers.
func (s *Store) TokenKeyRevoked(ctx context.Context, key string) (bool, error) {
	if !s.inTx(ctx) {
		return s.groups.revoked.do(ctx, key)
	}
	found, err := s.revokedKeys(ctx, []string{key})
	return found[key], err
}

// revokedKeys returns the revoked ones of keys, in one statement.
func (s *Store) revokedKeys(ctx context.Context, keys []string) (map[string]bool, error) {
	if len(keys) == 0 {
		return map[string]bool{}, nil
	}
	if s.d.name == "postgres" {
		return s.keysFound(ctx, `SELECT key FROM token_revocations WHERE key = ANY($1::text[])`, []any{keys})
	}
	var b strings.Builder
	b.WriteString(`SELECT key FROM token_revocations WHERE key IN (`)
	args := make([]any, len(keys))
	for i, k := range keys {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "$%d", i+1)
		args[i] = k
	}
	b.WriteString(`)`)
	return s.keysFound(ctx, b.String(), args)
}

// keysFound runs a query of one text column and returns the set of values.
func (s *Store) keysFound(ctx context.Context, query string, args []any) (map[string]bool, error) {
	found := map[string]bool{}
	rows, err := s.q(ctx).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, s.wrap(err)
		}
		found[k] = true
	}
	return found, s.wrap(rows.Err())
}
