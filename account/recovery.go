package account

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/authn/password"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// Paths of password recovery.
const (
	PathRecover = "/account/recover"
	PathReset   = "/account/reset"
	// PathInvite is where an invited person chooses a password.
	PathInvite = "/account/invite"
)

// Purposes of mailed links.
const (
	purposeRecover = "recover"
	purposeInvite  = "invite"
)

// passwordPage is a page that sets a password from a mailed link: a reset
// (recovery) or the first password of an invited account.
type passwordPage struct {
	purpose, path, csrf, title, intro, done, audit string
	// invitation confirms the address and sends no "password changed".
	invitation bool
}

var (
	resetPage = passwordPage{purpose: purposeRecover, path: PathReset, csrf: "reset", title: "Set a new password",
		intro: "Every session is signed out and every app signs in again afterwards.", done: "Your password is set. Every session was signed out.", audit: "user.password_reset"}
	invitePage = passwordPage{purpose: purposeInvite, path: PathInvite, csrf: "invite", title: "Choose your password",
		intro: "You were invited: choose a password to finish setting up your account.", done: "Your account is ready.", audit: "user.invitation_accepted", invitation: true}
)

// recoveryLifetime is how long a recovery link works.
const recoveryLifetime = 15 * time.Minute

// MinPasswordLength is the shortest password a person may choose (NIST SP
// 800-63B asks at least 8; gatehouse asks 12, and no composition rules).
const MinPasswordLength = 12

// Attempt policies of recovery requests: per address, and per account
// (an address cannot be flooded with links).
var (
	recoverAddressPolicy = storage.AttemptPolicy{Free: 20, Base: time.Minute, Max: 15 * time.Minute, Window: 15 * time.Minute}
	recoverAccountPolicy = storage.AttemptPolicy{Free: 3, Base: 5 * time.Minute, Max: time.Hour, Window: time.Hour}
)

// RecoveryStore is what password recovery needs.
type RecoveryStore interface {
	GetUserByEmail(ctx context.Context, email string) (storage.User, error)
	CreateAccountToken(ctx context.Context, t storage.AccountToken) error
	GetAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (storage.AccountToken, error)
	UseAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (storage.AccountToken, error)
	DeleteAccountTokens(ctx context.Context, subject, purpose string) error
	GetUser(ctx context.Context, subject string) (storage.User, error)
	Store
	storage.AttemptStore
}

// RecoveryOptions configure password recovery.
type RecoveryOptions struct {
	Web   *web.Kit
	Store RecoveryStore
	// Mail queues the messages; Pages renders them.
	Mail  *mail.Outbox
	Pages *templates.Renderer
	// Hasher hashes the new password (bounded, like sign-in's).
	Hasher *password.Hasher
	// Issuer is the server's URL (links); Product names it in mail.
	Issuer, Product string
	Log             *slog.Logger
	Now             func() time.Time
}

// Recovery is "forgot your password": a single-use link mailed to the
// account's address, bound to the account's current password and email,
// that sets a new password and ends every session and token.
type Recovery struct {
	o        RecoveryOptions
	attempts *attempt.Limiter
}

// NewRecovery returns password recovery.
func NewRecovery(o RecoveryOptions) *Recovery {
	if o.Product == "" {
		o.Product = "gatehouse"
	}
	return &Recovery{o: o, attempts: attempt.New(o.Store, o.Now)}
}

// Register mounts the recovery pages.
func (rc *Recovery) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathRecover, rc.requestPage)
	mux.HandleFunc("POST "+PathRecover, rc.request)
	for _, p := range []passwordPage{resetPage, invitePage} {
		mux.HandleFunc("GET "+p.path, rc.passwordForm(p))
		mux.HandleFunc("POST "+p.path, rc.setPassword(p))
	}
}

// linkToken makes a 256-bit link token and the hash it is stored under.
func linkToken() (string, []byte) {
	t := httpx.RandomString(32)
	return t, hashLink(t)
}

func hashLink(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

// binding fingerprints what a link depends on: the account's password and
// email. Changing either kills the links issued before.
func binding(purpose string, u storage.User) []byte {
	h := sha256.Sum256([]byte(purpose + "\x00" + u.PasswordHash + "\x00" + strings.ToLower(u.Email)))
	return h[:]
}

type recoverView struct {
	CSRF, Email, Error, Valid string
}

func (rc *Recovery) requestPage(w http.ResponseWriter, r *http.Request) {
	rc.o.Web.Render(w, r, http.StatusOK, "recover", recoverView{CSRF: rc.o.Web.CSRFToken(w, r, "recover"), Email: r.URL.Query().Get("email")})
}

// request mails a recovery link to an account, or a note that there is
// none to an address without one: the page and the work are the same
// either way, so the answer tells nothing about who has an account.
func (rc *Recovery) request(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, web.MaxFormBytes)
	if err := r.ParseForm(); err != nil || !rc.o.Web.CheckCSRF(r, "recover") {
		rc.o.Web.ErrorPage(w, r, http.StatusForbidden, "Your session has expired", "The form was not submitted from this site or is too old. Go back and try again.")
		return
	}
	ctx := r.Context()
	email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
	if !strings.Contains(email, "@") || len(email) > 320 || strings.ContainsAny(email, "\r\n ") {
		rc.o.Web.Render(w, r, http.StatusBadRequest, "recover", recoverView{CSRF: rc.o.Web.CSRFToken(w, r, "recover"), Email: email,
			Error: "Enter the email address of your account."})
		return
	}
	_, err := rc.attempts.Reserve(ctx,
		attempt.Key{Name: "recover:ip:" + authn.AddressKey(httpx.ClientIP(r)), Policy: recoverAddressPolicy},
		attempt.Key{Name: "recover:acct:" + email, Policy: recoverAccountPolicy})
	if errors.Is(err, attempt.ErrLimited) {
		web.TooManyAttempts(w, err)
		rc.o.Web.Render(w, r, http.StatusTooManyRequests, "recover", recoverView{CSRF: rc.o.Web.CSRFToken(w, r, "recover"), Email: email,
			Error: "Too many requests for this address. Wait a while, then try again."})
		return
	}
	if err != nil {
		rc.o.Web.Fail(w, r, err)
		return
	}
	if err := rc.send(ctx, r, email); err != nil {
		rc.o.Web.Fail(w, r, err)
		return
	}
	rc.o.Web.Render(w, r, http.StatusOK, "recover_sent", recoverView{Email: email, Valid: "15 minutes"})
}

// send queues the message for email, with a new link (replacing the older
// ones) when it has an account, in one transaction.
func (rc *Recovery) send(ctx context.Context, r *http.Request, email string) error {
	now := rc.o.Now().UTC()
	data := map[string]any{"Product": rc.o.Product, "Issuer": rc.o.Issuer, "Email": email, "Valid": "15 minutes"}
	u, err := rc.o.Store.GetUserByEmail(ctx, email)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return rc.queue(ctx, email, "recover_unknown", data)
	case err != nil:
		return err
	case u.Disabled:
		return nil // a disabled account gets no link; the page is the same
	}
	err = SendRecoveryLink(ctx, rc.o.Store, rc.mailer(), u, now)
	if err == nil {
		rc.o.Web.Audit(ctx, r, "user.recovery_requested", u.Subject, "", nil)
	}
	return err
}

func (rc *Recovery) mailer() Mailer {
	return Mailer{Mail: rc.o.Mail, Pages: rc.o.Pages, Issuer: rc.o.Issuer, Product: rc.o.Product}
}

func (rc *Recovery) queue(ctx context.Context, to, name string, data map[string]any) error {
	return rc.mailer().Queue(ctx, to, name, data)
}

type resetView struct {
	CSRF, Token, Email, Error, Title, Intro, Action string
	MinLength                                       int
}

// linkUser is the account a recovery link is for, while the link is
// unused, unexpired and its account unchanged.
func (rc *Recovery) linkUser(ctx context.Context, purpose, token string, use bool) (storage.User, error) {
	if token == "" || len(token) > 128 {
		return storage.User{}, storage.ErrNotFound
	}
	get := rc.o.Store.GetAccountToken
	if use {
		get = rc.o.Store.UseAccountToken
	}
	t, err := get(ctx, hashLink(token), purpose, rc.o.Now())
	if err != nil {
		return storage.User{}, err
	}
	u, err := rc.o.Store.GetUser(ctx, t.Subject)
	if err != nil {
		return u, err
	}
	if u.Disabled || string(binding(purpose, u)) != string(t.Binding) {
		return u, storage.ErrNotFound // the password or the email changed since
	}
	return u, nil
}

func (rc *Recovery) expired(w http.ResponseWriter, r *http.Request) {
	rc.o.Web.ErrorPage(w, r, http.StatusBadRequest, "This link has expired",
		"It was used already, is older than 15 minutes, or the account changed since. Ask for a new one at "+PathRecover+".")
}

func (rc *Recovery) passwordForm(p passwordPage) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := r.URL.Query().Get("token")
		u, err := rc.linkUser(r.Context(), p.purpose, token, false)
		if errors.Is(err, storage.ErrNotFound) {
			rc.expired(w, r)
			return
		}
		if err != nil {
			rc.o.Web.Fail(w, r, err)
			return
		}
		// The page must not leak the link to other sites it links to.
		w.Header().Set("Referrer-Policy", "no-referrer")
		rc.o.Web.Render(w, r, http.StatusOK, "reset", p.view(rc.o.Web.CSRFToken(w, r, p.csrf), token, u.Email, ""))
	}
}

func (p passwordPage) view(csrf, token, email, msg string) resetView {
	return resetView{CSRF: csrf, Token: token, Email: email, Error: msg, Title: p.title, Intro: p.intro, Action: p.path, MinLength: MinPasswordLength}
}

// PasswordError says, in words for the person choosing it, why a password
// is refused.
type PasswordError string

func (e PasswordError) Error() string { return string(e) }

// CheckNewPassword applies the policy to a password a person chooses: at
// least MinPasswordLength characters, at most password.MaxLength bytes,
// not the account's email address, and not one of the most common
// passwords; no composition rules (NIST SP 800-63B).
func CheckNewPassword(pw, email string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLength:
		return PasswordError(fmt.Sprintf("Use at least %d characters.", MinPasswordLength))
	case len(pw) > password.MaxLength:
		return PasswordError(fmt.Sprintf("Use at most %d characters.", password.MaxLength))
	case strings.EqualFold(pw, email) || strings.EqualFold(pw, strings.SplitN(email, "@", 2)[0]):
		return PasswordError("Do not use your email address as your password.")
	case password.Common(pw):
		return PasswordError("That password is one of the most common ones, which are guessed first. Choose another.")
	}
	return nil
}

func (rc *Recovery) setPassword(p passwordPage) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, web.MaxFormBytes)
		if err := r.ParseForm(); err != nil || !rc.o.Web.CheckCSRF(r, p.csrf) {
			rc.o.Web.ErrorPage(w, r, http.StatusForbidden, "Your session has expired", "The form was not submitted from this site or is too old. Go back and try again.")
			return
		}
		ctx := r.Context()
		token, pw := r.PostForm.Get("token"), r.PostForm.Get("password")
		// Check the link and the password before using the link, so a
		// refused password does not cost the link.
		u, err := rc.linkUser(ctx, p.purpose, token, false)
		if errors.Is(err, storage.ErrNotFound) {
			rc.expired(w, r)
			return
		}
		if err != nil {
			rc.o.Web.Fail(w, r, err)
			return
		}
		again := func(msg string) {
			rc.o.Web.Render(w, r, http.StatusBadRequest, "reset", p.view(rc.o.Web.CSRFToken(w, r, p.csrf), token, u.Email, msg))
		}
		if err := CheckNewPassword(pw, u.Email); err != nil {
			again(err.Error())
			return
		}
		if pw != r.PostForm.Get("password2") {
			again("The two passwords are not the same.")
			return
		}
		hash, err := rc.o.Hasher.Hash(ctx, pw)
		if err != nil {
			rc.o.Web.Fail(w, r, err)
			return
		}
		now := rc.o.Now().UTC()
		err = rc.o.Store.InTx(ctx, func(ctx context.Context) error {
			used, err := rc.linkUser(ctx, p.purpose, token, true)
			if err != nil {
				return err
			}
			if _, err := SetPassword(ctx, rc.o.Store, used.Subject, hash, nil, now); err != nil {
				return err
			}
			if p.invitation {
				_, err := rc.o.Store.UpdateUser(ctx, used.Subject, func(u storage.User) (storage.User, error) {
					u.EmailVerified, u.UpdatedAt = true, now
					return u, nil
				})
				return err
			}
			return rc.queue(ctx, used.Email, "password_changed", map[string]any{"Product": rc.o.Product, "Issuer": rc.o.Issuer, "Email": used.Email,
				"When": now.Format("2 January 2006 15:04 MST"), "RecoverLink": rc.o.Issuer + PathRecover})
		})
		if errors.Is(err, storage.ErrNotFound) {
			rc.expired(w, r) // used by a concurrent request
			return
		}
		if err != nil {
			rc.o.Web.Fail(w, r, err)
			return
		}
		rc.o.Web.Audit(ctx, r, p.audit, u.Subject, "", nil)
		rc.o.Web.Render(w, r, http.StatusOK, "reset_done", map[string]string{"Message": p.done})
	}
}
