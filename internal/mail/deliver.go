package mail

import (
	"context"
	"log/slog"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/outbox"
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

// Deliverer is the mail outbox's sender loop (an outbox.Runner).
type Deliverer struct {
	*outbox.Runner[storage.Mail]
	store DeliveryStore
}

// NewDeliverer returns a Deliverer; run it with Run.
func NewDeliverer(o Options) *Deliverer {
	if o.Keep <= 0 {
		o.Keep = 24 * time.Hour
	}
	return &Deliverer{store: o.Store, Runner: outbox.New(outbox.Options[storage.Mail]{
		Name:  "mail",
		Claim: o.Store.ClaimMail,
		Entry: func(m storage.Mail) outbox.Entry {
			return outbox.Entry{ID: m.ID, CreatedAt: m.CreatedAt, Attempts: m.Attempts}
		},
		Deliver: func(ctx context.Context, m storage.Mail) error { return o.Sender.Send(ctx, m, m.ID+"@"+o.Domain) },
		Delivered: func(ctx context.Context, m storage.Mail, claim string, at time.Time) error {
			return o.Store.MailSent(ctx, m.ID, claim, at, at.Add(o.Keep))
		},
		Failed: func(ctx context.Context, m storage.Mail, claim, reason string, at, retryAt time.Time) error {
			return o.Store.MailFailed(ctx, m.ID, claim, reason, at, retryAt, at.Add(o.Keep))
		},
		Now: o.Now, Log: o.Log, GiveUpAfter: o.GiveUpAfter, Poll: o.Poll, Lease: o.Lease, Parallel: o.Parallel,
	})}
}

// Waiting counts the messages not yet delivered nor given up.
func (d *Deliverer) Waiting(ctx context.Context) (int64, error) { return d.store.MailWaiting(ctx) }
