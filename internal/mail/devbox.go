package mail

import (
	"context"
	"log/slog"
	"regexp"

	"github.com/gatehouse-id/gatehouse/storage"
)

// DevBox is the sender under --dev without SMTP: a message is delivered by
// being kept in the outbox (shown at /dev/mail) and logged with its links.
type DevBox struct{ Log *slog.Logger }

// Send logs the message; it stays in the outbox, marked sent.
func (d DevBox) Send(_ context.Context, m storage.Mail, messageID string) error {
	d.Log.Info("mail (dev: not sent; see /dev/mail)", "to", m.To, "subject", m.Subject, "message_id", messageID, "links", Links(m.Text))
	return nil
}

var linkRe = regexp.MustCompile(`https?://[^\s<>"]+`)

// Links are the http(s) links in a text body, in order.
func Links(text string) []string { return linkRe.FindAllString(text, -1) }
