package account

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// Paths of the email change.
const (
	PathEmail        = "/account/email"
	PathEmailConfirm = "/account/email/confirm"
	PathEmailUndo    = "/account/email/undo"
)

// Purposes of the email change's links.
const (
	purposeEmailChange = "email_change"
	purposeEmailUndo   = "email_undo"
)

// How long the links work: confirming the new address, and undoing a
// change from the old one.
const (
	emailChangeLifetime = 24 * time.Hour
	emailUndoLifetime   = 7 * 24 * time.Hour
)

// EmailStore is what the email change needs.
type EmailStore interface {
	GetUser(ctx context.Context, subject string) (storage.User, error)
	GetUserByEmail(ctx context.Context, email string) (storage.User, error)
	UpdateUser(ctx context.Context, subject string, fn func(storage.User) (storage.User, error)) (storage.User, error)
	CreateAccountToken(ctx context.Context, t storage.AccountToken) error
	GetAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (storage.AccountToken, error)
	UseAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (storage.AccountToken, error)
	DeleteAccountTokens(ctx context.Context, subject, purpose string) error
	storage.Revoker
	storage.TxRunner
	storage.AttemptStore
}

// emailChangePolicy limits how often one account asks for a change, and
// how often one address is written to by changes (a signed-in account
// must not make the server mail a stranger over and over).
var emailChangePolicy = storage.AttemptPolicy{Free: 5, Base: 5 * time.Minute, Max: time.Hour, Window: time.Hour}

// EmailOptions configure the email change.
type EmailOptions struct {
	Web             *web.Kit
	Store           EmailStore
	SignIn          SignIn
	Mail            *mail.Outbox
	Pages           *templates.Renderer
	Issuer, Product string
	// ReauthenticateAfter is how old a login may be to ask for a change.
	ReauthenticateAfter time.Duration
	Log                 *slog.Logger
	Now                 func() time.Time
}

// EmailChange moves an account to a new address: asked with a recent
// login, done when a link mailed to the new address is opened, told to the
// old address with a link that undoes it (and ends every session and
// token) for 7 days.
type EmailChange struct {
	o        EmailOptions
	attempts *attempt.Limiter
}

// NewEmailChange returns the email change.
func NewEmailChange(o EmailOptions) *EmailChange {
	if o.ReauthenticateAfter <= 0 {
		o.ReauthenticateAfter = 5 * time.Minute
	}
	if o.Product == "" {
		o.Product = "gatehouse"
	}
	return &EmailChange{o: o, attempts: attempt.New(o.Store, o.Now)}
}

// Register mounts the email change.
func (e *EmailChange) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathEmail, e.page)
	mux.HandleFunc("POST "+PathEmail, e.request)
	mux.HandleFunc("GET "+PathEmailConfirm, e.confirmPage)
	mux.HandleFunc("POST "+PathEmailConfirm, e.confirm)
	mux.HandleFunc("GET "+PathEmailUndo, e.undoPage)
	mux.HandleFunc("POST "+PathEmailUndo, e.undo)
}

type emailView struct {
	CSRF, Email, Error, Notice string
	Fresh                      bool
}

func (e *EmailChange) fresh(bs storage.BrowserSession) bool {
	return e.o.Now().Sub(bs.AuthTime) <= e.o.ReauthenticateAfter
}

func (e *EmailChange) page(w http.ResponseWriter, r *http.Request) {
	bs, ok, err := e.o.Web.Session(r.Context(), r)
	if err != nil {
		e.o.Web.Fail(w, r, err)
		return
	}
	if !ok {
		e.o.SignIn.SignIn(w, r, PathEmail, nil, "")
		return
	}
	e.render(w, r, http.StatusOK, bs, "", "")
}

func (e *EmailChange) render(w http.ResponseWriter, r *http.Request, status int, bs storage.BrowserSession, msg, notice string) {
	u, err := e.o.Store.GetUser(r.Context(), bs.Subject)
	if err != nil {
		e.o.Web.Fail(w, r, err)
		return
	}
	e.o.Web.Render(w, r, status, "email_change", emailView{CSRF: e.o.Web.CSRFToken(w, r, "email\x00"+bs.SID), Email: u.Email, Error: msg, Notice: notice, Fresh: e.fresh(bs)})
}

func (e *EmailChange) queue(ctx context.Context, to, name string, data map[string]any) error {
	return Mailer{Mail: e.o.Mail, Pages: e.o.Pages, Issuer: e.o.Issuer, Product: e.o.Product}.Queue(ctx, to, name, data)
}

// request mails a confirmation link to the new address (or, when another
// account uses it, a message saying so: the page is the same).
func (e *EmailChange) request(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, web.MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		e.o.Web.ErrorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	ctx := r.Context()
	bs, ok, err := e.o.Web.Session(ctx, r)
	if err != nil {
		e.o.Web.Fail(w, r, err)
		return
	}
	if !ok || !e.o.Web.CheckCSRF(r, "email\x00"+bs.SID) {
		e.o.Web.ErrorPage(w, r, http.StatusForbidden, "Your session has expired", "The form was not submitted from this site or is too old. Go back and try again.")
		return
	}
	if !e.fresh(bs) {
		e.o.Web.ErrorPage(w, r, http.StatusForbidden, "Confirm it is you", "Changing your address needs a recent sign-in. Go back to your account page and sign in again.")
		return
	}
	u, err := e.o.Store.GetUser(ctx, bs.Subject)
	if err != nil {
		e.o.Web.Fail(w, r, err)
		return
	}
	to := strings.ToLower(strings.TrimSpace(r.PostForm.Get("new_email")))
	switch {
	case !strings.Contains(to, "@") || len(to) > 320 || strings.ContainsAny(to, "\r\n \t"):
		e.render(w, r, http.StatusBadRequest, bs, "Enter the new address.", "")
		return
	case strings.EqualFold(to, u.Email):
		e.render(w, r, http.StatusBadRequest, bs, "That is your address already.", "")
		return
	}
	_, err = e.attempts.Reserve(ctx, attempt.Key{Name: "emailchange:acct:" + u.Subject, Policy: emailChangePolicy},
		attempt.Key{Name: "emailchange:to:" + to, Policy: emailChangePolicy})
	if errors.Is(err, attempt.ErrLimited) {
		web.TooManyAttempts(w, err)
		e.render(w, r, http.StatusTooManyRequests, bs, "Too many changes asked for. Wait a while, then try again.", "")
		return
	}
	if err != nil {
		e.o.Web.Fail(w, r, err)
		return
	}
	now := e.o.Now().UTC()
	data := map[string]any{"Email": u.Email, "NewEmail": to, "Valid": "24 hours", "RecoverLink": e.o.Issuer + PathRecover}
	err = e.o.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := e.o.Store.GetUserByEmail(ctx, to); err == nil {
			return e.queue(ctx, to, "email_taken", data)
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		plain, hash := linkToken()
		data["Link"] = e.o.Issuer + PathEmailConfirm + "?" + url.Values{"token": {plain}}.Encode()
		if err := e.o.Store.DeleteAccountTokens(ctx, u.Subject, purposeEmailChange); err != nil {
			return err
		}
		if err := e.o.Store.CreateAccountToken(ctx, storage.AccountToken{Hash: hash, Purpose: purposeEmailChange, Subject: u.Subject,
			Binding: binding(purposeEmailChange, u), Data: to, CreatedAt: now, ExpiresAt: now.Add(emailChangeLifetime)}); err != nil {
			return err
		}
		return e.queue(ctx, to, "email_change", data)
	})
	if err != nil {
		e.o.Web.Fail(w, r, err)
		return
	}
	e.o.Web.Audit(ctx, r, "user.email_change_requested", bs.Subject, "", nil)
	e.render(w, r, http.StatusOK, bs, "", "We sent a link to "+to+". Your address changes when you open it.")
}

func (e *EmailChange) result(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	e.o.Web.Render(w, r, status, "email_changed", map[string]string{"Title": title, "Message": msg})
}

// CSRF purposes of the confirmation forms.
const (
	emailConfirmCSRF = "email-confirm"
	emailUndoCSRF    = "email-undo"
)

// confirmPage shows the change the link confirms, with a button: opening
// the link changes nothing by itself.
func (e *EmailChange) confirmPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	t, u, err := e.peek(r.Context(), token, purposeEmailChange)
	if errors.Is(err, storage.ErrNotFound) {
		e.result(w, r, http.StatusBadRequest, "This link has expired", "It was used already, is older than 24 hours, or the account changed since. Ask again from your account page.")
		return
	}
	if err != nil {
		e.o.Web.Fail(w, r, err)
		return
	}
	e.o.Web.Render(w, r, http.StatusOK, "confirm_link", confirmView{Title: "Change your address",
		Message: "Your " + e.o.Product + " account will use " + t.Data + " instead of " + u.Email + ". " + u.Email + " will be told, and can undo it for 7 days.",
		Action:  PathEmailConfirm, CSRF: e.o.Web.CSRFToken(w, r, emailConfirmCSRF), Token: token, Button: "confirm-email-change", Label: "Use " + t.Data})
}

// undoPage shows the change the link undoes, with a button.
func (e *EmailChange) undoPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	t, u, err := e.peek(r.Context(), token, purposeEmailUndo)
	if errors.Is(err, storage.ErrNotFound) {
		e.result(w, r, http.StatusBadRequest, "This link has expired", "It was used already, is older than 7 days, or the account changed since.")
		return
	}
	if err != nil {
		e.o.Web.Fail(w, r, err)
		return
	}
	e.o.Web.Render(w, r, http.StatusOK, "confirm_link", confirmView{Title: "Undo the address change",
		Message: "The " + e.o.Product + " account that used " + t.Data + " now uses " + u.Email + ". Undoing it moves the account back to " + t.Data + " and signs out every session and app.",
		Action:  PathEmailUndo, CSRF: e.o.Web.CSRFToken(w, r, emailUndoCSRF), Token: token, Button: "undo-email-change", Label: "Undo the change"})
}

// form reads a confirmation form with its CSRF token; false when it has
// answered.
func (e *EmailChange) form(w http.ResponseWriter, r *http.Request, csrf string) (string, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, web.MaxFormBytes)
	if err := r.ParseForm(); err != nil || !e.o.Web.CheckCSRF(r, csrf) {
		e.o.Web.ErrorPage(w, r, http.StatusForbidden, "Your session has expired", "The form was not submitted from this site or is too old. Go back and try again.")
		return "", false
	}
	return r.PostForm.Get("token"), true
}

// confirm moves the account to the new address and tells the old one.
func (e *EmailChange) confirm(w http.ResponseWriter, r *http.Request) {
	token, ok := e.form(w, r, emailConfirmCSRF)
	if !ok {
		return
	}
	ctx := r.Context()
	now := e.o.Now().UTC()
	var old, moved storage.User
	err := e.o.Store.InTx(ctx, func(ctx context.Context) error {
		t, u, err := e.use(ctx, token, purposeEmailChange)
		if err != nil {
			return err
		}
		old = u
		if moved, err = e.o.Store.UpdateUser(ctx, u.Subject, func(cur storage.User) (storage.User, error) {
			cur.Email, cur.EmailVerified, cur.UpdatedAt = t.Data, true, now
			return cur, nil
		}); err != nil {
			return err
		}
		plain, hash := linkToken()
		if err := e.o.Store.DeleteAccountTokens(ctx, u.Subject, purposeEmailUndo); err != nil {
			return err
		}
		if err := e.o.Store.CreateAccountToken(ctx, storage.AccountToken{Hash: hash, Purpose: purposeEmailUndo, Subject: u.Subject,
			Binding: undoBinding(moved), Data: old.Email, CreatedAt: now, ExpiresAt: now.Add(emailUndoLifetime)}); err != nil {
			return err
		}
		return e.queue(ctx, old.Email, "email_changed", map[string]any{"Email": old.Email, "NewEmail": moved.Email, "Valid": "7 days",
			"When": now.Format("2 January 2006 15:04 MST"), "Link": e.o.Issuer + PathEmailUndo + "?" + url.Values{"token": {plain}}.Encode()})
	})
	switch {
	case errors.Is(err, storage.ErrNotFound):
		e.result(w, r, http.StatusBadRequest, "This link has expired", "It was used already, is older than 24 hours, or the account changed since. Ask again from your account page.")
		return
	case errors.Is(err, storage.ErrAlreadyExists):
		e.result(w, r, http.StatusConflict, "That address is taken", "Another account uses it now, so nothing changed.")
		return
	case err != nil:
		e.o.Web.Fail(w, r, err)
		return
	}
	e.o.Web.Audit(ctx, r, "user.email_changed", moved.Subject, "", nil)
	e.result(w, r, http.StatusOK, "Your address is changed", "The account now uses "+moved.Email+". "+old.Email+" was told, and can undo it for 7 days.")
}

// undo moves the account back to its old address, ends every session and
// token (someone else may have made the change), and invites a new password.
func (e *EmailChange) undo(w http.ResponseWriter, r *http.Request) {
	token, ok := e.form(w, r, emailUndoCSRF)
	if !ok {
		return
	}
	ctx := r.Context()
	now := e.o.Now().UTC()
	var back storage.User
	err := e.o.Store.InTx(ctx, func(ctx context.Context) error {
		t, u, err := e.use(ctx, token, purposeEmailUndo)
		if err != nil {
			return err
		}
		if back, err = e.o.Store.UpdateUser(ctx, u.Subject, func(cur storage.User) (storage.User, error) {
			cur.Email, cur.EmailVerified, cur.UpdatedAt = t.Data, true, now
			return cur, nil
		}); err != nil {
			return err
		}
		_, _, err = e.o.Store.RevokeSubject(ctx, u.Subject, nil)
		return err
	})
	switch {
	case errors.Is(err, storage.ErrNotFound):
		e.result(w, r, http.StatusBadRequest, "This link has expired", "It was used already, is older than 7 days, or the account changed since.")
		return
	case errors.Is(err, storage.ErrAlreadyExists):
		e.result(w, r, http.StatusConflict, "That address is taken", "Another account uses the old address now, so nothing changed. Contact support.")
		return
	case err != nil:
		e.o.Web.Fail(w, r, err)
		return
	}
	e.o.Web.Audit(ctx, r, "user.email_change_undone", back.Subject, "", nil)
	e.result(w, r, http.StatusOK, "The change is undone", "The account uses "+back.Email+" again, and every session was signed out. If you did not make the change, set a new password now at "+PathRecover+".")
}

// use takes a link of purpose once, with its account as it must still be.
func (e *EmailChange) use(ctx context.Context, token, purpose string) (storage.AccountToken, storage.User, error) {
	return e.link(ctx, token, purpose, e.o.Store.UseAccountToken)
}

// peek is use without taking the link.
func (e *EmailChange) peek(ctx context.Context, token, purpose string) (storage.AccountToken, storage.User, error) {
	return e.link(ctx, token, purpose, e.o.Store.GetAccountToken)
}

func (e *EmailChange) link(ctx context.Context, token, purpose string,
	get func(context.Context, []byte, string, time.Time) (storage.AccountToken, error)) (storage.AccountToken, storage.User, error) {
	if token == "" || len(token) > 128 {
		return storage.AccountToken{}, storage.User{}, storage.ErrNotFound
	}
	t, err := get(ctx, hashLink(token), purpose, e.o.Now())
	if err != nil {
		return t, storage.User{}, err
	}
	u, err := e.o.Store.GetUser(ctx, t.Subject)
	if err != nil {
		return t, u, err
	}
	want := binding(purpose, u)
	if purpose == purposeEmailUndo {
		want = undoBinding(u)
	}
	if string(want) != string(t.Binding) {
		return t, u, storage.ErrNotFound
	}
	return t, u, nil
}

// undoBinding ties an undo link to the address it undoes only: whoever
// made the change may have changed the password too, and the undo must
// still work.
func undoBinding(u storage.User) []byte {
	h := sha256.Sum256([]byte(purposeEmailUndo + "\x00" + strings.ToLower(u.Email)))
	return h[:]
}
