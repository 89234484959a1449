package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// PathDevMail is the development mailbox (serve --dev without SMTP).
const PathDevMail = "/dev/mail"

// MailSender is how mail leaves: SMTP when email.host is set, the
// development mailbox under --dev without it, and nothing otherwise.
func MailSender(cfg config.Config, log *slog.Logger) (mail.Sender, error) {
	e := cfg.Email
	switch {
	case e.Host != "":
		var password string
		if e.Username != "" {
			var err error
			if password, err = config.Secret("email.password", e.Password); err != nil {
				return nil, err
			}
		}
		return mail.NewSMTP(mail.SMTPConfig{Host: e.Host, Port: e.Port, From: e.From, Username: e.Username, Password: password,
			TLS: e.TLS, Timeout: e.Timeout.Duration})
	case cfg.Dev:
		return mail.DevBox{Log: log}, nil
	}
	return nil, nil
}

// devMailbox shows the newest mail in the outbox, links clickable.
func devMailbox(st interface {
	ListMail(ctx context.Context, limit int) ([]storage.Mail, error)
}, pages *templates.Renderer, log *slog.Logger) http.HandlerFunc {
	type view struct {
		To, Subject, Created, Status, Text string
		Links                              []string
	}
	return func(w http.ResponseWriter, r *http.Request) {
		list, err := st.ListMail(r.Context(), 50)
		if err != nil {
			log.Error("dev mailbox", "err", err)
			http.Error(w, "the outbox could not be read", http.StatusServiceUnavailable)
			return
		}
		out := make([]view, 0, len(list))
		for _, m := range list {
			v := view{To: m.To, Subject: m.Subject, Created: m.CreatedAt.Format(time.RFC3339), Status: "waiting", Text: m.Text}
			switch {
			case !m.SentAt.IsZero():
				v.Status = "delivered"
			case !m.FailedAt.IsZero():
				v.Status = "given up: " + m.LastError
			}
			for _, l := range mail.Links(m.Text) {
				if u, err := url.Parse(l); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
					v.Links = append(v.Links, l)
				}
			}
			out = append(out, v)
		}
		if err := pages.Render(w, http.StatusOK, "dev_mail", httpx.Nonce(r.Context()), out); err != nil {
			log.Error("render", "page", "dev_mail", "err", err)
		}
	}
}
