// Package outbox is the sender loop of a durable outbox: side effects
// (email, back-channel logout tokens) are committed with the change that
// causes them, as rows, and a Runner on every replica claims the rows that
// are due (one claimer each, for a lease), delivers them in parallel with a
// bound, and records each result: delivered, due again after a back-off,
// or given up. A delivery and its record cannot be one step, so a replica
// that dies between the two leaves the row to be delivered again when its
// lease lapses; each kind of entry carries an id the receiving side can
// recognise a repeat by. Nothing committed is lost.
package outbox

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// ErrPermanent marks a failure retrying cannot fix: the entry is given up
// at once.
var ErrPermanent = errors.New("permanent delivery failure")

// Entry is what the loop needs to know of a claimed row.
type Entry struct {
	ID        string
	CreatedAt time.Time
	// Attempts counts the claims taken, this one included.
	Attempts int
}

// Options are one outbox's rows and delivery, and the loop's settings.
type Options[T any] struct {
	// Name names the outbox in logs ("mail", "logout").
	Name string
	// Claim takes at most limit due rows for claim until leaseUntil,
	// counting an attempt on each (storage.ErrConflict: another claimer
	// won this round).
	Claim func(ctx context.Context, claim string, now, leaseUntil time.Time, limit int) ([]T, error)
	// Entry describes a row.
	Entry func(T) Entry
	// Deliver sends one row; an error wrapping ErrPermanent gives it up.
	Deliver func(ctx context.Context, item T) error
	// Delivered records a delivery; Failed a failed attempt, due again at
	// retryAt or, when retryAt is zero, given up. Both are done by the
	// holder of claim only.
	Delivered func(ctx context.Context, item T, claim string, at time.Time) error
	Failed    func(ctx context.Context, item T, claim, reason string, at, retryAt time.Time) error
	// GivenUp, when set, is told of each row given up (to audit it).
	GivenUp func(ctx context.Context, item T, err error)
	Now     func() time.Time
	Log     *slog.Logger
	// GiveUpAfter is how long a row is retried (default 48 h).
	GiveUpAfter time.Duration
	// Poll is how often due rows are looked for (default 5 s; Wake starts
	// a pass at once); Lease is how long a claim holds (default 2 min,
	// longer than a delivery may take: each gets half of it).
	Poll, Lease time.Duration
	// Parallel bounds the deliveries at once (default 4).
	Parallel int
	// Backoff is the wait after the n-th failed attempt (default: 30 s
	// doubling to an hour, with ±20 % jitter).
	Backoff func(n int) time.Duration
}

// Runner is the sender loop of one outbox.
type Runner[T any] struct {
	o     Options[T]
	claim string
	wake  chan struct{}
	// sent, failed and abandoned count deliveries, failed attempts and
	// rows given up, for metrics.
	sent, failed, abandoned atomic.Int64
}

// New returns a Runner; run it with Run.
func New[T any](o Options[T]) *Runner[T] {
	if o.GiveUpAfter <= 0 {
		o.GiveUpAfter = 48 * time.Hour
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Backoff == nil {
		o.Backoff = Backoff
	}
	// One claim name per process: a restarted server does not own the
	// claims of the one before, which lapse.
	return &Runner[T]{o: o, claim: httpx.RandomString(12), wake: make(chan struct{}, 1)}
}

// Backoff is how long to wait after the n-th failed attempt: 30 s
// doubling to at most an hour, with ±20 % jitter so replicas do not retry
// in step.
func Backoff(n int) time.Duration {
	d := 30 * time.Second << min(max(n-1, 0), 7)
	d = min(d, time.Hour)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Wake starts a pass now (a row was queued in this process).
func (r *Runner[T]) Wake() {
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// Counts says how many rows were delivered, how many attempts failed,
// and how many rows were given up.
func (r *Runner[T]) Counts() (sent, failed, abandoned int64) {
	return r.sent.Load(), r.failed.Load(), r.abandoned.Load()
}

// Run delivers until ctx is done: at every poll, and at every Wake.
func (r *Runner[T]) Run(ctx context.Context) {
	t := time.NewTicker(r.o.Poll)
	defer t.Stop()
	for {
		for {
			n, err := r.DeliverDue(ctx)
			if err != nil && ctx.Err() == nil {
				r.o.Log.Warn(r.o.Name+": delivery pass", "err", err)
			}
			if n < r.o.Parallel*4 || err != nil || ctx.Err() != nil {
				break // a full batch: there may be more due now
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.wake:
		}
	}
}

// DeliverDue claims the rows due now (one batch), delivers them, and
// records each result. It returns how many it claimed.
func (r *Runner[T]) DeliverDue(ctx context.Context) (int, error) {
	now := r.o.Now()
	due, err := r.o.Claim(ctx, r.claim, now, now.Add(r.o.Lease), r.o.Parallel*4)
	if err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return 0, nil // a concurrent claimer won this round
		}
		return 0, err
	}
	slots := make(chan struct{}, r.o.Parallel)
	var wg sync.WaitGroup
	for _, item := range due {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			r.deliver(ctx, item)
		})
	}
	wg.Wait()
	return len(due), nil
}

func (r *Runner[T]) deliver(ctx context.Context, item T) {
	e := r.o.Entry(item)
	dctx, cancel := context.WithTimeout(ctx, r.o.Lease/2)
	err := r.o.Deliver(dctx, item)
	cancel()
	now := r.o.Now()
	rctx := context.WithoutCancel(ctx)
	if err == nil {
		r.sent.Add(1)
		if rerr := r.o.Delivered(rctx, item, r.claim, now); rerr != nil {
			r.o.Log.Warn(r.o.Name+": delivered but not recorded (it may be delivered again, with the same id)", "id", e.ID, "err", rerr)
		}
		return
	}
	r.failed.Add(1)
	retry := now.Add(r.o.Backoff(e.Attempts))
	if errors.Is(err, ErrPermanent) || retry.Sub(e.CreatedAt) > r.o.GiveUpAfter {
		retry = time.Time{}
		r.abandoned.Add(1)
		r.o.Log.Error(r.o.Name+": given up", "id", e.ID, "attempts", e.Attempts, "err", err)
		if r.o.GivenUp != nil {
			r.o.GivenUp(rctx, item, err)
		}
	} else {
		r.o.Log.Warn(r.o.Name+": delivery failed; will retry", "id", e.ID, "attempts", e.Attempts, "retry_at", retry, "err", err)
	}
	reason := err.Error()
	if len(reason) > 500 {
		reason = reason[:500]
	}
	if rerr := r.o.Failed(rctx, item, r.claim, reason, now, retry); rerr != nil {
		r.o.Log.Warn(r.o.Name+": failure not recorded", "id", e.ID, "err", rerr)
	}
}
