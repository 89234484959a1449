package sqlstore

import (
	"context"
	"math"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// outboxWaiting is a waiting row's expires_at: never collected.
const outboxWaiting = math.MaxInt64

// outboxTable is one durable outbox (mail, logout tokens): its table and
// the columns its rows are read with. Every outbox table has id,
// created_at, next_attempt_at, attempts, claim, sent_at, failed_at,
// last_error and expires_at, and the same claim discipline.
type outboxTable struct{ name, cols string }

var (
	mailOutbox   = outboxTable{"mail_outbox", mailCols}
	logoutOutbox = outboxTable{"logout_outbox", logoutCols}
)

// claimOutbox takes due rows for a claim. The conditions are repeated
// outside the subquery: on PostgreSQL a concurrent claimer that locked a
// row first has moved its next_attempt_at past now, so the re-checked row
// no longer matches and each row goes to one claimer.
func claimOutbox[T any](ctx context.Context, s *Store, t outboxTable, scan func(scanner) (T, error), claim string, now, leaseUntil time.Time, limit int) ([]T, error) {
	return queryAll(ctx, s, scan, `UPDATE `+t.name+` SET claim = $1, next_attempt_at = $2, attempts = attempts + 1
WHERE sent_at = 0 AND failed_at = 0 AND next_attempt_at <= $3
  AND id IN (SELECT id FROM `+t.name+` WHERE sent_at = 0 AND failed_at = 0 AND next_attempt_at <= $3 ORDER BY next_attempt_at LIMIT $4)
RETURNING `+t.cols, claim, ts(leaseUntil), ts(now), limit)
}

// outboxSent records a delivery by the holder of claim.
func (s *Store) outboxSent(ctx context.Context, t outboxTable, id, claim string, at, keepUntil time.Time) error {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE `+t.name+` SET sent_at = $1, claim = '', expires_at = $2, last_error = '' WHERE id = $3 AND claim = $4 AND sent_at = 0 AND failed_at = 0`,
		ts(at), ts(keepUntil), id, claim)
	if err != nil {
		return s.wrap(err)
	}
	if affected(res) == 0 {
		return storage.ErrConflict
	}
	return nil
}

// outboxFailed records a failed attempt: due again at retryAt, or given
// up (kept until keepUntil) when retryAt is zero.
func (s *Store) outboxFailed(ctx context.Context, t outboxTable, id, claim, reason string, at, retryAt, keepUntil time.Time) error {
	failed, next, expires := int64(0), ts(retryAt), int64(outboxWaiting)
	if retryAt.IsZero() {
		failed, next, expires = ts(at), ts(at), ts(keepUntil)
	}
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE `+t.name+` SET failed_at = $1, next_attempt_at = $2, expires_at = $3, last_error = $4, claim = '' WHERE id = $5 AND claim = $6 AND sent_at = 0 AND failed_at = 0`,
		failed, next, expires, reason, id, claim)
	if err != nil {
		return s.wrap(err)
	}
	if affected(res) == 0 {
		return storage.ErrConflict
	}
	return nil
}

// outboxWaitingCount counts the rows not delivered nor given up.
func (s *Store) outboxWaitingCount(ctx context.Context, t outboxTable) (int64, error) {
	var n int64
	err := s.q(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.name+` WHERE sent_at = 0 AND failed_at = 0`).Scan(&n)
	return n, s.wrap(err)
}
