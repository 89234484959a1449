package attempt_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore/sqlitetest"
)

func newLimiter(t *testing.T) *attempt.Limiter {
	t.Helper()
	st := sqlitetest.Open(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	return attempt.New(st, func() time.Time { return now })
}

var (
	tight = storage.AttemptPolicy{Free: 2, Base: time.Minute, Max: time.Hour, Window: time.Hour}
	roomy = storage.AttemptPolicy{Free: 100, Base: time.Minute, Max: time.Hour, Window: time.Hour}
)

func TestLimiter(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, l *attempt.Limiter)
	}{
		{"failures lock the key, and ErrLimited says so", func(t *testing.T, l *attempt.Limiter) {
			for i := 0; i < 2; i++ {
				if _, err := l.Reserve(ctx, attempt.Key{Name: "acct", Policy: tight}); err != nil {
					t.Fatal(err)
				}
			}
			_, err := l.Reserve(ctx, attempt.Key{Name: "acct", Policy: tight})
			var le *attempt.LimitedError
			if !errors.Is(err, attempt.ErrLimited) || !errors.As(err, &le) || le.RetryAfter != time.Minute || le.Key != "acct" {
				t.Fatalf("third attempt: %v, want limited for 1m", err)
			}
		}},
		{"a success resets a ResetOnSuccess key", func(t *testing.T, l *attempt.Limiter) {
			for i := 0; i < 5; i++ {
				r, err := l.Reserve(ctx, attempt.Key{Name: "acct", Policy: tight, ResetOnSuccess: true})
				if err != nil {
					t.Fatalf("attempt %d: %v", i, err)
				}
				if err := r.Succeeded(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"an unchecked attempt is given back", func(t *testing.T, l *attempt.Limiter) {
			for i := 0; i < 5; i++ {
				r, err := l.Reserve(ctx, attempt.Key{Name: "acct", Policy: tight, ResetOnSuccess: true})
				if err != nil {
					t.Fatalf("attempt %d: %v", i, err)
				}
				if err := r.Unchecked(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"a locked later key leaves the earlier ones charged", func(t *testing.T, l *attempt.Limiter) {
			addr := attempt.Key{Name: "ip", Policy: storage.AttemptPolicy{Free: 3, Base: time.Minute, Max: time.Hour, Window: time.Hour}}
			acct := attempt.Key{Name: "acct", Policy: tight}
			for i := 0; i < 2; i++ {
				if _, err := l.Reserve(ctx, addr, acct); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := l.Reserve(ctx, addr, acct); !errors.Is(err, attempt.ErrLimited) {
				t.Fatalf("account locked: %v", err)
			}
			if _, err := l.Reserve(ctx, attempt.Key{Name: "ip", Policy: addr.Policy}, attempt.Key{Name: "other", Policy: roomy}); !errors.Is(err, attempt.ErrLimited) {
				t.Fatalf("the address was charged three times and should be locked: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newLimiter(t)) })
	}
}
