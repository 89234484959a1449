// Package attempt is the one limiter for every secret a person types
// (passwords, authenticator-app codes, backup codes): an attempt is reserved
// in the database before the secret is checked, so concurrent guesses cannot
// exceed the limit and every replica sees the same counts, and it is given
// back only when the secret was right.
package attempt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Key is one counter an attempt is charged to.
type Key struct {
	// Name identifies the counter ("pwd:acct:alice@example.com").
	Name   string
	Policy storage.AttemptPolicy
	// ResetOnSuccess forgets every failure of the key when the attempt
	// succeeds (an account's owner proved the secret); otherwise a success
	// only gives its own reservation back (an address shared by many).
	ResetOnSuccess bool
}

// LimitedError says an attempt was refused, and for how long.
type LimitedError struct {
	Key        string
	RetryAfter time.Duration
}

func (e *LimitedError) Error() string {
	return fmt.Sprintf("too many failed attempts; retry in %v", e.RetryAfter.Round(time.Second))
}

// ErrLimited matches every LimitedError with errors.Is.
var ErrLimited = errors.New("attempt limited")

// Is makes errors.Is(err, ErrLimited) true for a LimitedError.
func (e *LimitedError) Is(target error) bool { return target == ErrLimited }

// Limiter reserves attempts.
type Limiter struct {
	store storage.AttemptStore
	now   func() time.Time
}

// New returns a limiter over store; now is the clock (time.Now when nil).
func New(store storage.AttemptStore, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{store: store, now: now}
}

// Reservation is an attempt charged to its keys, to be given back if the
// secret turns out right (or was never checked).
type Reservation struct {
	l    *Limiter
	keys []Key
}

// Reserve charges one attempt to every key, in order, before the secret is
// checked. When a key is locked it returns a *LimitedError; the keys before
// it stay charged (an attempt that reached a locked account still counts
// against its address).
func (l *Limiter) Reserve(ctx context.Context, keys ...Key) (*Reservation, error) {
	now := l.now()
	for _, k := range keys {
		ok, wait, err := l.store.ReserveAttempt(ctx, k.Name, k.Policy, now)
		for try := 0; errors.Is(err, storage.ErrConflict) && try < 3; try++ {
			ok, wait, err = l.store.ReserveAttempt(ctx, k.Name, k.Policy, now) // a serialization failure: once more
		}
		if err != nil {
			return nil, fmt.Errorf("reserve attempt: %w", err)
		}
		if !ok {
			return nil, &LimitedError{Key: k.Name, RetryAfter: wait}
		}
	}
	return &Reservation{l: l, keys: keys}, nil
}

// Succeeded gives the attempt back: the secret was right.
func (r *Reservation) Succeeded(ctx context.Context) error {
	return r.release(ctx, true)
}

// Unchecked gives the attempt back without a verdict: the secret was never
// checked (the server was too busy), so it must not count as a failure.
func (r *Reservation) Unchecked(ctx context.Context) error {
	return r.release(ctx, false)
}

func (r *Reservation) release(ctx context.Context, success bool) error {
	var errs []error
	for _, k := range r.keys {
		if err := r.l.store.ReleaseAttempt(ctx, k.Name, k.Policy, success && k.ResetOnSuccess); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release attempt: %w", err)
	}
	return nil
}
