package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TLS modes of an SMTP connection.
const (
	// TLSStartTLS upgrades a plain connection with STARTTLS, and refuses a
	// server that does not offer it (submission, port 587).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465).
	TLSImplicit = "implicit"
	// TLSNone sends in the clear: a relay on the same host or network only.
	TLSNone = "none"
)

// SMTPConfig is where and how mail is submitted.
type SMTPConfig struct {
	Host string
	Port int
	// From is the sender address ("gatehouse <no-reply@example.com>").
	From string
	// Username and Password authenticate (AUTH PLAIN or LOGIN, whichever
	// the server offers); none when Username is empty.
	Username, Password string
	TLS                string
	Timeout            time.Duration
	// RootCAs verify the server's certificate (nil: the system's).
	TLSConfig *tls.Config
}

// SMTP submits messages to a mail server.
type SMTP struct{ c SMTPConfig }

// NewSMTP checks c and returns the sender.
func NewSMTP(c SMTPConfig) (*SMTP, error) {
	switch {
	case c.Host == "" || c.Port <= 0 || c.Port > 65535:
		return nil, errors.New("email: host and port are required")
	case c.From == "":
		return nil, errors.New("email: from is required")
	case c.TLS != TLSStartTLS && c.TLS != TLSImplicit && c.TLS != TLSNone:
		return nil, fmt.Errorf("email: tls %q: use starttls, implicit or none", c.TLS)
	}
	if c.Timeout <= 0 {
		c.Timeout = 15 * time.Second
	}
	return &SMTP{c: c}, nil
}

// Send submits one message: multipart/alternative, text and HTML, with
// the Message-ID <messageID> (given without the angle brackets). An error
// wrapping ErrPermanent is the server refusing the message itself (a 5xx
// to MAIL, RCPT or DATA); anything else, including a refused login or TLS
// handshake, is worth retrying once the settings are fixed.
func (s *SMTP) Send(ctx context.Context, m storage.Mail, messageID string) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.c.From); err != nil {
		return fmt.Errorf("%w: from: %v", ErrPermanent, err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("%w: to: %v", ErrPermanent, err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(messageID)
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	opts := []gomail.Option{gomail.WithPort(s.c.Port), gomail.WithTimeout(s.c.Timeout)}
	switch s.c.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.c.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(s.c.TLSConfig))
	}
	if s.c.Username != "" {
		auth := gomail.SMTPAuthAutoDiscover
		if s.c.TLS == TLSNone {
			// Credentials in the clear only when asked for: a local relay.
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(s.c.Username), gomail.WithPassword(s.c.Password))
	}
	client, err := gomail.NewClient(s.c.Host, opts...)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	err = client.DialAndSendWithContext(ctx, msg)
	var se *gomail.SendError
	if errors.As(err, &se) && se.ErrorCode() >= 500 {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	return err
}
