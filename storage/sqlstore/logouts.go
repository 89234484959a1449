package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

const logoutCols = `id, client_id, subject, sid, created_at, next_attempt_at, attempts, sent_at, failed_at, last_error`

func scanLogout(r scanner) (storage.Logout, error) {
	var l storage.Logout
	var created, next, sent, failed int64
	err := r.Scan(&l.ID, &l.ClientID, &l.Subject, &l.SID, &created, &next, &l.Attempts, &sent, &failed, &l.LastError)
	l.CreatedAt, l.NextAttemptAt, l.SentAt, l.FailedAt = fromTS(created), fromTS(next), fromTS(sent), fromTS(failed)
	return l, err
}

// EnqueueLogout stores a logout token due at l.NextAttemptAt (its creation
// time when zero), in the caller's transaction if there is one.
func (s *Store) EnqueueLogout(ctx context.Context, l storage.Logout) error {
	if l.NextAttemptAt.IsZero() {
		l.NextAttemptAt = l.CreatedAt
	}
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO logout_outbox (`+logoutCols+`, claim, expires_at) VALUES ($1,$2,$3,$4,$5,$6,0,0,0,'','',$7)`,
		l.ID, l.ClientID, l.Subject, l.SID, ts(l.CreatedAt), ts(l.NextAttemptAt), int64(outboxWaiting))
	return s.wrap(err)
}

// ClaimLogouts takes due rows for a claim (see claimOutbox).
func (s *Store) ClaimLogouts(ctx context.Context, claim string, now, leaseUntil time.Time, limit int) ([]storage.Logout, error) {
	return claimOutbox(ctx, s, logoutOutbox, scanLogout, claim, now, leaseUntil, limit)
}

// LogoutSent records a delivery.
func (s *Store) LogoutSent(ctx context.Context, id, claim string, at, keepUntil time.Time) error {
	return s.outboxSent(ctx, logoutOutbox, id, claim, at, keepUntil)
}

// LogoutFailed records a failed attempt: due again at retryAt, or given up.
func (s *Store) LogoutFailed(ctx context.Context, id, claim, reason string, at, retryAt, keepUntil time.Time) error {
	return s.outboxFailed(ctx, logoutOutbox, id, claim, reason, at, retryAt, keepUntil)
}

// ListLogouts lists the newest rows.
func (s *Store) ListLogouts(ctx context.Context, limit int) ([]storage.Logout, error) {
	return queryAll(ctx, s, scanLogout, `SELECT `+logoutCols+` FROM logout_outbox ORDER BY created_at DESC, id LIMIT $1`, limit)
}

// LogoutsWaiting counts the rows not delivered nor given up.
func (s *Store) LogoutsWaiting(ctx context.Context) (int64, error) {
	return s.outboxWaitingCount(ctx, logoutOutbox)
}
