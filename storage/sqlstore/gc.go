package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// gcBatch bounds each GC statement so a large backlog never holds long locks.
const gcBatch = 1000

// GarbageCollect removes expired rows in bounded batches.
func (s *Store) GarbageCollect(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, table := range []string{"oauth2_tokens", "oauth2_jtis", "login_flows", "browser_sessions", "consents", "refresh_grace", "attempts", "mail_outbox", "account_tokens", "logout_outbox", "token_revocations"} {
		key := map[string]string{"oauth2_tokens": "kind, signature", "oauth2_jtis": "jti", "login_flows": "id", "browser_sessions": "id_hash",
			"consents": "subject, client_id", "refresh_grace": "signature", "attempts": "key_hash", "mail_outbox": "id", "account_tokens": "hash", "logout_outbox": "id", "token_revocations": "key"}[table]
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
