package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

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
		m.ID, m.To, m.Subject, m.Text, m.HTML, ts(m.CreatedAt), ts(m.NextAttemptAt), int64(outboxWaiting))
	return s.wrap(err)
}

// ClaimMail takes due messages for a claim (see claimOutbox).
func (s *Store) ClaimMail(ctx context.Context, claim string, now, leaseUntil time.Time, limit int) ([]storage.Mail, error) {
	return claimOutbox(ctx, s, mailOutbox, scanMail, claim, now, leaseUntil, limit)
}

// MailSent records a delivery.
func (s *Store) MailSent(ctx context.Context, id, claim string, at, keepUntil time.Time) error {
	return s.outboxSent(ctx, mailOutbox, id, claim, at, keepUntil)
}

// MailFailed records a failed attempt: due again at retryAt, or given up.
func (s *Store) MailFailed(ctx context.Context, id, claim, reason string, at, retryAt, keepUntil time.Time) error {
	return s.outboxFailed(ctx, mailOutbox, id, claim, reason, at, retryAt, keepUntil)
}

// ListMail lists the newest messages.
func (s *Store) ListMail(ctx context.Context, limit int) ([]storage.Mail, error) {
	return queryAll(ctx, s, scanMail, `SELECT `+mailCols+` FROM mail_outbox ORDER BY created_at DESC, id LIMIT $1`, limit)
}

// MailWaiting counts the messages not delivered nor given up.
func (s *Store) MailWaiting(ctx context.Context) (int64, error) {
	return s.outboxWaitingCount(ctx, mailOutbox)
}
