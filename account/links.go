package account

import (
	"context"
	"net/url"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// Mailer renders account mail from the templates and queues it in the
// outbox (in the caller's transaction).
type Mailer struct {
	Mail  *mail.Outbox
	Pages *templates.Renderer
	// Issuer is the server's URL (links); Product names it.
	Issuer, Product string
}

// Queue renders message name with data (Product and Issuer added) and
// queues it to to.
func (m Mailer) Queue(ctx context.Context, to, name string, data map[string]any) error {
	data["Product"], data["Issuer"] = m.Product, m.Issuer
	subject, text, html, err := m.Pages.Mail(name, data)
	if err != nil {
		return err
	}
	_, err = m.Mail.Queue(ctx, mail.Message{To: to, Subject: subject, Text: text, HTML: html})
	return err
}

// LinkStore is what issuing a mailed link needs.
type LinkStore interface {
	CreateAccountToken(ctx context.Context, t storage.AccountToken) error
	DeleteAccountTokens(ctx context.Context, subject, purpose string) error
	storage.TxRunner
}

// link is a kind of mailed link: its purpose, lifetime, page and message.
type link struct {
	purpose, path, message, valid string
	lifetime                      time.Duration
}

var (
	recoveryLink = link{purpose: purposeRecover, path: PathReset, message: "recover", valid: "15 minutes", lifetime: recoveryLifetime}
	verifyLink   = link{purpose: purposeVerify, path: PathVerify, message: "verify", valid: "24 hours", lifetime: verifyLifetime}
	inviteLink   = link{purpose: purposeInvite, path: PathInvite, message: "invite", valid: "7 days", lifetime: 7 * 24 * time.Hour}
)

// issue replaces u's links of l's purpose with a new one, bound to u as it
// is, and queues its message, in one transaction.
func (l link) issue(ctx context.Context, st LinkStore, m Mailer, u storage.User, now time.Time) error {
	plain, hash := linkToken()
	data := map[string]any{"Email": u.Email, "Valid": l.valid, "RecoverLink": m.Issuer + PathRecover,
		"Link": m.Issuer + l.path + "?" + url.Values{"token": {plain}}.Encode()}
	return st.InTx(ctx, func(ctx context.Context) error {
		if err := st.DeleteAccountTokens(ctx, u.Subject, l.purpose); err != nil {
			return err
		}
		if err := st.CreateAccountToken(ctx, storage.AccountToken{Hash: hash, Purpose: l.purpose, Subject: u.Subject,
			Binding: binding(l.purpose, u), CreatedAt: now, ExpiresAt: now.Add(l.lifetime)}); err != nil {
			return err
		}
		return m.Queue(ctx, u.Email, l.message, data)
	})
}

// SendRecoveryLink mails u a new password-recovery link (the older ones
// die): "forgot password", or an operator forcing a reset.
func SendRecoveryLink(ctx context.Context, st LinkStore, m Mailer, u storage.User, now time.Time) error {
	return recoveryLink.issue(ctx, st, m, u, now)
}

// SendVerifyLink mails u a new link confirming its address (the older
// ones die): sign-up, or an operator resending it.
func SendVerifyLink(ctx context.Context, st LinkStore, m Mailer, u storage.User, now time.Time) error {
	return verifyLink.issue(ctx, st, m, u, now)
}

// SendInviteLink mails u (an invited account, without a password yet) a
// link to choose its password (the older ones die).
func SendInviteLink(ctx context.Context, st LinkStore, m Mailer, u storage.User, now time.Time) error {
	return inviteLink.issue(ctx, st, m, u, now)
}

// confirmView is a page that shows what a mailed link does and asks to
// confirm it with a POSTed form: opening a link never acts by itself, so a
// mail scanner that fetches every link changes nothing.
type confirmView struct {
	Title, Message, Error, Note string
	// Action is where the form posts; CSRF and Token go with it.
	Action, CSRF, Token string
	// Password, when set, labels a password field the form asks for;
	// Email is its username (for password managers).
	Password, Email string
	// Button is the submit button's id, Label its text.
	Button, Label string
}
