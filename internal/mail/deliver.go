package mail

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// DeliveryStore is what delivery needs of the outbox.
type DeliveryStore interface {
	ClaimMail(ctx context.Context, claim string, now, leaseUntil time.Time, limit int) ([]storage.Mail, error)
	MailSent(ctx context.Context, id, claim string, at, keepUntil time.Time) error
	MailFailed(ctx context.Context, id, claim, reason string, at, retryAt, keepUntil time.Time) error
	MailWaiting(ctx context.Context) (int64, error)
}

// Options configure a Deliverer.
type Options struct {
	Store  DeliveryStore
	Sender Sender
	// Domain is the right-hand side of Message-IDs (the issuer's host).
	Domain string
	Now    func() time.Time
	Log    *slog.Logger
	// GiveUpAfter is how long a message is retried (default 48 h); Keep is
	// how long a delivered or abandoned one stays (default 24 h).
	GiveUpAfter, Keep time.Duration
	// Poll is how often due messages are looked for (default 5 s; a queued
	// message wakes the loop at once); Lease is how long a claim holds
	// (default 2 min, longer than a send may take).
	Poll, Lease time.Duration
	// Parallel bounds the messages sent at once (default 4).
	Parallel int
}

// Deliverer is the sender loop.
type Deliverer struct {
	o     Options
	claim string
	wake  chan struct{}
	// sent, failed and abandoned count attempts, for metrics.
	sent, failed, abandoned atomic.Int64
}

// NewDeliverer returns a Deliverer; run it with Run.
func NewDeliverer(o Options) *Deliverer {
	if o.GiveUpAfter <= 0 {
		o.GiveUpAfter = 48 * time.Hour
	}
	if o.Keep <= 0 {
		o.Keep = 24 * time.Hour
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
	// One claim name per process: a restarted server does not own the
	// claims of the one before, which lapse.
	return &Deliverer{o: o, claim: httpx.RandomString(12), wake: make(chan struct{}, 1)}
}

// Counts says how many messages were delivered, how many attempts failed,
// and how many messages were given up.
func (d *Deliverer) Counts() (sent, failed, abandoned int64) {
	return d.sent.Load(), d.failed.Load(), d.abandoned.Load()
}

// Waiting counts the messages not yet delivered nor given up.
func (d *Deliverer) Waiting(ctx context.Context) (int64, error) { return d.o.Store.MailWaiting(ctx) }

// Run delivers until ctx is done: at every poll, and whenever a message is
// queued in this process.
func (d *Deliverer) Run(ctx context.Context) {
	t := time.NewTicker(d.o.Poll)
	defer t.Stop()
	for {
		for {
			n, err := d.DeliverDue(ctx)
			if err != nil && ctx.Err() == nil {
				d.o.Log.Warn("mail: delivery pass", "err", err)
			}
			if n < d.o.Parallel*4 || err != nil || ctx.Err() != nil {
				break // a full batch: there may be more due now
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
	}
}

// DeliverDue claims the messages due now (one batch), sends them, and
// records each result. It returns how many it claimed.
func (d *Deliverer) DeliverDue(ctx context.Context) (int, error) {
	now := d.o.Now()
	due, err := d.o.Store.ClaimMail(ctx, d.claim, now, now.Add(d.o.Lease), d.o.Parallel*4)
	if err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return 0, nil // a concurrent claimer won this round
		}
		return 0, err
	}
	slots := make(chan struct{}, d.o.Parallel)
	var wg sync.WaitGroup
	for _, m := range due {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			d.deliver(ctx, m)
		})
	}
	wg.Wait()
	return len(due), nil
}

func (d *Deliverer) deliver(ctx context.Context, m storage.Mail) {
	sctx, cancel := context.WithTimeout(ctx, d.o.Lease/2)
	err := d.o.Sender.Send(sctx, m, m.ID+"@"+d.o.Domain)
	cancel()
	now := d.o.Now()
	if err == nil {
		d.sent.Add(1)
		if rerr := d.o.Store.MailSent(context.WithoutCancel(ctx), m.ID, d.claim, now, now.Add(d.o.Keep)); rerr != nil {
			d.o.Log.Warn("mail: delivered but not recorded (it may be sent again, with the same Message-ID)", "id", m.ID, "err", rerr)
		}
		return
	}
	d.failed.Add(1)
	retry := now.Add(backoff(m.Attempts))
	if errors.Is(err, ErrPermanent) || retry.Sub(m.CreatedAt) > d.o.GiveUpAfter {
		retry = time.Time{}
		d.abandoned.Add(1)
		d.o.Log.Error("mail: given up", "id", m.ID, "attempts", m.Attempts, "err", err)
	} else {
		d.o.Log.Warn("mail: delivery failed; will retry", "id", m.ID, "attempts", m.Attempts, "retry_at", retry, "err", err)
	}
	reason := err.Error()
	if len(reason) > 500 {
		reason = reason[:500]
	}
	if rerr := d.o.Store.MailFailed(context.WithoutCancel(ctx), m.ID, d.claim, reason, now, retry, now.Add(d.o.Keep)); rerr != nil {
		d.o.Log.Warn("mail: failure not recorded", "id", m.ID, "err", rerr)
	}
}
