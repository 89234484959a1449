package password

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"time"
)

// ErrBusy means too many password checks are running or waiting: the
// request is answered 503 with Retry-After instead of queueing without bound.
var ErrBusy = errors.New("too many password checks at once")

// Hasher bounds the memory and CPU that password hashing can take: at most
// cap(slots) argon2id computations run at once (19 MiB each), at most
// maxWaiting more wait, each no longer than maxWait.
type Hasher struct {
	slots      chan struct{}
	waiting    atomic.Int64
	maxWaiting int64
	maxWait    time.Duration
	// ran counts the computations done, busy the ones refused.
	ran, busy atomic.Int64
}

// NewHasher bounds hashing to concurrency computations at once (default:
// one per CPU) and queue more waiting (default: eight per slot), each at
// most maxWait (default 2s); past that a check fails with ErrBusy.
func NewHasher(concurrency, queue int, maxWait time.Duration) *Hasher {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	if queue <= 0 {
		queue = 8 * concurrency
	}
	if maxWait <= 0 {
		maxWait = 2 * time.Second
	}
	return &Hasher{slots: make(chan struct{}, concurrency), maxWaiting: int64(queue), maxWait: maxWait}
}

// run runs fn when a slot is free, or fails with ErrBusy.
func (g *Hasher) run(ctx context.Context, fn func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		if g.waiting.Add(1) > g.maxWaiting {
			g.waiting.Add(-1)
			g.busy.Add(1)
			return ErrBusy
		}
		t := time.NewTimer(g.maxWait)
		select {
		case g.slots <- struct{}{}:
			g.waiting.Add(-1)
			t.Stop()
		case <-t.C:
			g.waiting.Add(-1)
			g.busy.Add(1)
			return ErrBusy
		case <-ctx.Done():
			g.waiting.Add(-1)
			t.Stop()
			return ctx.Err()
		}
	}
	defer func() { <-g.slots }()
	g.ran.Add(1)
	fn()
	return nil
}

// Counts says how many password hashes were computed and how many were
// refused because too many were running or waiting (for metrics).
func (g *Hasher) Counts() (computed, refused int64) {
	return g.ran.Load(), g.busy.Load()
}

// Verify checks a password through the gate. An empty hash (an account
// without a password) is checked against the dummy hash, so it costs what a
// real check costs and answers no.
func (g *Hasher) Verify(ctx context.Context, hash, password string) (rehash bool, err error) {
	usable := hash != ""
	if !usable {
		hash = dummyHash
	}
	if gerr := g.run(ctx, func() { rehash, err = Verify(hash, password) }); gerr != nil {
		return false, gerr
	}
	if !usable && err == nil {
		err = ErrMismatch
	}
	return rehash, err
}

// Hash hashes a new password through the gate.
func (g *Hasher) Hash(ctx context.Context, password string) (h string, err error) {
	if gerr := g.run(ctx, func() { h, err = Hash(password) }); gerr != nil {
		return "", gerr
	}
	return h, err
}
