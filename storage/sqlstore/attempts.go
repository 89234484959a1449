package sqlstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// maxLockShift caps the doubling of a lock (Base << shift) before Max is
// used outright, so the shift never overflows.
const maxLockShift = 30

// nextFailures is the failure count after one more attempt: a row whose
// window has passed starts again from one.
const nextFailures = `(CASE WHEN attempts.expires_at <= CAST($2 AS BIGINT) THEN 1 ELSE attempts.failures + 1 END)`

// reserveAttempt counts an attempt unless the key is locked, and sets the
// lock the new count earns, in one statement: concurrent reservations of one
// key serialize on its row, each seeing the count and lock the previous one
// left. Parameters: $1 key hash, $2 now, $3 the lock of a first failure, $4
// expiry, $5 Free, $6 maxLockShift, $7 Max, $8 Base (µs).
var reserveAttempt = strings.ReplaceAll(`INSERT INTO attempts (key_hash, failures, locked_until, expires_at) VALUES ($1, 1, $3, $4)
ON CONFLICT (key_hash) DO UPDATE SET
  failures = {next},
  locked_until = CASE
    WHEN {next} < CAST($5 AS BIGINT) THEN 0
    WHEN {next} - CAST($5 AS BIGINT) >= CAST($6 AS BIGINT) THEN CAST($2 AS BIGINT) + CAST($7 AS BIGINT)
    WHEN (CAST($8 AS BIGINT) << CAST({next} - CAST($5 AS BIGINT) AS INTEGER)) > CAST($7 AS BIGINT) THEN CAST($2 AS BIGINT) + CAST($7 AS BIGINT)
    ELSE CAST($2 AS BIGINT) + (CAST($8 AS BIGINT) << CAST({next} - CAST($5 AS BIGINT) AS INTEGER)) END,
  expires_at = $4
WHERE attempts.locked_until <= CAST($2 AS BIGINT)
RETURNING failures`, "{next}", nextFailures)

func attemptKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// ReserveAttempt counts one attempt for key before its secret is checked.
func (s *Store) ReserveAttempt(ctx context.Context, key string, p storage.AttemptPolicy, now time.Time) (bool, time.Duration, error) {
	if p.Free < 1 || p.Base <= 0 || p.Max < p.Base || p.Window <= 0 {
		return false, 0, errors.New("storage: attempt policy needs Free ≥ 1, Base > 0, Max ≥ Base and a Window")
	}
	k, n := attemptKey(key), ts(now)
	firstLock := int64(0)
	if p.Free == 1 {
		firstLock = n + p.Base.Microseconds()
	}
	exp := n + max(p.Window, p.Max).Microseconds()
	var failures int64
	err := s.q(ctx).QueryRowContext(ctx, reserveAttempt, k, n, firstLock, exp, p.Free, maxLockShift, p.Max.Microseconds(), p.Base.Microseconds()).Scan(&failures)
	if err == nil {
		return true, 0, nil
	}
	if err = s.wrap(err); !errors.Is(err, storage.ErrNotFound) {
		return false, 0, err
	}
	// Locked: nothing was counted. Say for how long.
	var until int64
	if err := s.q(ctx).QueryRowContext(ctx, `SELECT locked_until FROM attempts WHERE key_hash = $1`, k).Scan(&until); err != nil {
		if err = s.wrap(err); errors.Is(err, storage.ErrNotFound) {
			return false, time.Second, nil // collected meanwhile: the caller may try again
		}
		return false, 0, err
	}
	return false, max(time.Duration(until-n)*time.Microsecond, time.Second), nil
}

// ReleaseAttempt takes back a reservation whose attempt succeeded.
func (s *Store) ReleaseAttempt(ctx context.Context, key string, p storage.AttemptPolicy, reset bool) error {
	if reset {
		_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM attempts WHERE key_hash = $1`, attemptKey(key))
		return s.wrap(err)
	}
	_, err := s.q(ctx).ExecContext(ctx, `UPDATE attempts SET failures = failures - 1,
  locked_until = CASE WHEN failures - 1 < CAST($2 AS BIGINT) THEN 0 ELSE locked_until END
WHERE key_hash = $1 AND failures > 0`, attemptKey(key), p.Free)
	return s.wrap(err)
}

// RevokeSubject ends a user's sessions (but keepSession) and deletes every
// protocol record issued for the user, in one transaction.
func (s *Store) RevokeSubject(ctx context.Context, subject string, keepSession []byte) (sessions, tokens int64, err error) {
	if subject == "" {
		return 0, 0, errors.New("storage: revoke needs a subject")
	}
	if keepSession == nil {
		keepSession = []byte{}
	}
	err = s.InTx(ctx, func(ctx context.Context) error {
		res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM browser_sessions WHERE subject = $1 AND id_hash <> $2`, subject, keepSession)
		if err != nil {
			return s.wrap(err)
		}
		sessions = affected(res)
		res, err = s.q(ctx).ExecContext(ctx, `DELETE FROM oauth2_tokens WHERE subject = $1 AND subject <> ''`, subject)
		if err != nil {
			return s.wrap(err)
		}
		tokens = affected(res)
		return nil
	})
	return sessions, tokens, err
}
