package sqlstore

import (
	"context"
	"math"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// mailWaiting is a waiting row's expires_at: never collected.
const mailWaiting = math.MaxInt64

const mailCols = `id, recipient, subject, text_body, html_body, created_at, next_attempt_at, attempts, sent_at, failed_at, last_error`

func scanMail(r scanner) (storage.Mail, error) {
	var m storage.Mail
	var created, next, sent, failed int64
	err := r.Scan(&m.ID, &m.To, &m.Subject, &m.Text, &m.HTML, &created, &next, &m.Attempts, &sent, &failed, &m.LastError)
	m.CreatedAt, m.NextAttemptAt, m.SentAt, m.FailedAt = fromTS(created), fromTS(next), fromTS(sent), fromTS(failed)
	return m, err
}

// EnqueueMail stores a message due at m.NextAttemptAt (its creation time
// when zero), in the caller's transaction if there is one.
func (s *Store) EnqueueMail(ctx context.Context, m storage.Mail) error {
	if m.NextAttemptAt.IsZero() {
		m.NextAttemptAt = m.CreatedAt
	}
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO mail_outbox (`+mailCols+`, claim, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,0,0,0,'','',$8)`,
		m.ID, m.To, m.Subject, m.Text, m.HTML, ts(m.CreatedAt), ts(m.NextAttemptAt), int64(mailWaiting))
	return s.wrap(err)
}

// ClaimMail takes due messages for a claim. The conditions are repeated
// outside the subquery: on PostgreSQL a concurrent claimer that locked a
// row first has moved its next_attempt_at past now, so the re-checked row
// no longer matches and each message goes to one claimer.
func (s *Store) ClaimMail(ctx context.Context, claim string, now, leaseUntil time.Time, limit int) ([]storage.Mail, error) {
	return queryAll(ctx, s, scanMail, `UPDATE mail_outbox SET claim = $1, next_attempt_at = $2, attempts = attempts + 1
WHERE sent_at = 0 AND failed_at = 0 AND next_attempt_at <= $3
  AND id IN (SELECT id FROM mail_outbox WHERE sent_at = 0 AND failed_at = 0 AND next_attempt_at <= $3 ORDER BY next_attempt_at LIMIT $4)
RETURNING `+mailCols, claim, ts(leaseUntil), ts(now), limit)
}

// MailSent records a delivery.
func (s *Store) MailSent(ctx context.Context, id, claim string, at, keepUntil time.Time) error {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE mail_outbox SET sent_at = $1, claim = '', expires_at = $2, last_error = '' WHERE id = $3 AND claim = $4 AND sent_at = 0 AND failed_at = 0`,
		ts(at), ts(keepUntil), id, claim)
	if err != nil {
		return s.wrap(err)
	}
	if affected(res) == 0 {
		return storage.ErrConflict
	}
	return nil
}

// MailFailed records a failed attempt: due again at retryAt, or given up.
func (s *Store) MailFailed(ctx context.Context, id, claim, reason string, at, retryAt, keepUntil time.Time) error {
	failed, next, expires := int64(0), ts(retryAt), int64(mailWaiting)
	if retryAt.IsZero() {
		failed, next, expires = ts(at), ts(at), ts(keepUntil)
	}
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE mail_outbox SET failed_at = $1, next_attempt_at = $2, expires_at = $3, last_error = $4, claim = '' WHERE id = $5 AND claim = $6 AND sent_at = 0 AND failed_at = 0`,
		failed, next, expires, reason, id, claim)
	if err != nil {
		return s.wrap(err)
	}
	if affected(res) == 0 {
		return storage.ErrConflict
	}
	return nil
}

// ListMail lists the newest messages.
func (s *Store) ListMail(ctx context.Context, limit int) ([]storage.Mail, error) {
	return queryAll(ctx, s, scanMail, `SELECT `+mailCols+` FROM mail_outbox ORDER BY created_at DESC, id LIMIT $1`, limit)
}

// MailWaiting counts the messages not delivered nor given up.
func (s *Store) MailWaiting(ctx context.Context) (int64, error) {
	var n int64
	err := s.q(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM mail_outbox WHERE sent_at = 0 AND failed_at = 0`).Scan(&n)
	return n, s.wrap(err)
}
