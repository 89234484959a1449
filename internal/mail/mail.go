// Package mail delivers gatehouse's email through a durable outbox. A
// request that sends mail queues the message in its own transaction
// (Outbox.Queue): if the change rolls back, no mail leaves; if it commits,
// the mail will. A Deliverer on every replica claims due messages (one
// claimer each, for a lease), hands them to a Sender (SMTP, or the
// development mailbox), records the result, and retries with back-off what
// failed for a reason that may pass, until it gives up.
//
// A message keeps its Message-ID across attempts. SMTP cannot confirm a
// delivery and record it in one step, so a server that dies between the
// two sends the message again when the claim lapses; the receiving side
// sees the same Message-ID, which is how mail systems recognise a
// duplicate. Nothing queued is lost: a waiting message outlives any crash.
package mail

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/outbox"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Message is an email: multipart, a plain-text body and an HTML one.
type Message struct {
	To, Subject string
	Text, HTML  string
}

// Outbox queues messages.
type Outbox struct {
	store interface {
		EnqueueMail(ctx context.Context, m storage.Mail) error
	}
	now  func() time.Time
	wake func()
}

// NewOutbox queues into store; d (nil: none) is woken when a message is
// queued, so mail leaves at once instead of at the next poll.
func NewOutbox(store interface {
	EnqueueMail(ctx context.Context, m storage.Mail) error
}, now func() time.Time, d *Deliverer) *Outbox {
	o := &Outbox{store: store, now: now}
	if d != nil {
		o.wake = d.Wake
	}
	return o
}

// Queue commits m to the outbox, in ctx's transaction when there is one,
// and returns its id.
func (o *Outbox) Queue(ctx context.Context, m Message) (string, error) {
	if !strings.Contains(m.To, "@") || strings.ContainsAny(m.To, "\r\n") || strings.ContainsAny(m.Subject, "\r\n") {
		return "", fmt.Errorf("mail: %q is not an address to send to", m.To)
	}
	id := httpx.RandomString(24)
	now := o.now().UTC()
	if err := o.store.EnqueueMail(ctx, storage.Mail{ID: id, To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML, CreatedAt: now}); err != nil {
		return "", fmt.Errorf("queue mail: %w", err)
	}
	if o.wake != nil {
		o.wake()
	}
	return id, nil
}

// Sender delivers one message; messageID is its Message-ID, the same on
// every attempt.
type Sender interface {
	Send(ctx context.Context, m storage.Mail, messageID string) error
}

// ErrPermanent marks a failure that retrying cannot fix (the receiving
// server's 5xx: no such mailbox, refused): the message is given up at once.
var ErrPermanent = outbox.ErrPermanent
