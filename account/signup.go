package account

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/authn/password"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// Paths of sign-up.
const (
	PathSignUp = "/account/signup"
	PathVerify = "/account/verify"
)

const purposeVerify = "verify"

// verifyLifetime is how long a confirmation link works.
const verifyLifetime = 24 * time.Hour

// Attempt policies of sign-ups: per client address and per email.
var (
	signupAddressPolicy = storage.AttemptPolicy{Free: 10, Base: time.Minute, Max: time.Hour, Window: time.Hour}
	signupAccountPolicy = storage.AttemptPolicy{Free: 3, Base: 5 * time.Minute, Max: time.Hour, Window: time.Hour}
)

// SignUpStore is what sign-up needs.
type SignUpStore interface {
	GetUserByEmail(ctx context.Context, email string) (storage.User, error)
	GetUser(ctx context.Context, subject string) (storage.User, error)
	CreateUser(ctx context.Context, u storage.User) error
	UpdateUser(ctx context.Context, subject string, fn func(storage.User) (storage.User, error)) (storage.User, error)
	CreateAccountToken(ctx context.Context, t storage.AccountToken) error
	GetAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (storage.AccountToken, error)
	UseAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (storage.AccountToken, error)
	DeleteAccountTokens(ctx context.Context, subject, purpose string) error
	storage.AttemptStore
	storage.TxRunner
}

// verifyPasswordPolicy limits wrong passwords on the confirmation form,
// per account and per client address.
var verifyPasswordPolicy = storage.AttemptPolicy{Free: 5, Base: 30 * time.Second, Max: 15 * time.Minute, Window: time.Hour}

// SignUpOptions configure sign-up.
type SignUpOptions struct {
	Web             *web.Kit
	Store           SignUpStore
	Mail            *mail.Outbox
	Pages           *templates.Renderer
	Hasher          *password.Hasher
	Issuer, Product string
	Log             *slog.Logger
	Now             func() time.Time
}

// SignUp lets anyone create an account (accounts.registration: open). The
// answer is the same whether or not the address has an account: a new
// address gets a link to confirm it, a known one a message saying it has
// an account already. The account signs in once the address is confirmed.
type SignUp struct {
	o        SignUpOptions
	attempts *attempt.Limiter
}

// NewSignUp returns sign-up.
func NewSignUp(o SignUpOptions) *SignUp {
	if o.Product == "" {
		o.Product = "gatehouse"
	}
	return &SignUp{o: o, attempts: attempt.New(o.Store, o.Now)}
}

// Register mounts the sign-up and confirmation pages.
func (s *SignUp) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathSignUp, s.page)
	mux.HandleFunc("POST "+PathSignUp, s.signUp)
	mux.HandleFunc("GET "+PathVerify, s.verifyPage)
	mux.HandleFunc("POST "+PathVerify, s.verify)
}

type signUpView struct {
	CSRF, Email, Name, Error, Valid string
	MinLength                       int
}

func (s *SignUp) page(w http.ResponseWriter, r *http.Request) {
	s.o.Web.Render(w, r, http.StatusOK, "signup", signUpView{CSRF: s.o.Web.CSRFToken(w, r, "signup"), MinLength: MinPasswordLength})
}

func (s *SignUp) signUp(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, web.MaxFormBytes)
	if err := r.ParseForm(); err != nil || !s.o.Web.CheckCSRF(r, "signup") {
		s.o.Web.ErrorPage(w, r, http.StatusForbidden, "Your session has expired", "The form was not submitted from this site or is too old. Go back and try again.")
		return
	}
	ctx := r.Context()
	email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
	name := strings.TrimSpace(r.PostForm.Get("name"))
	pw := r.PostForm.Get("password")
	again := func(status int, msg string) {
		s.o.Web.Render(w, r, status, "signup", signUpView{CSRF: s.o.Web.CSRFToken(w, r, "signup"), Email: email, Name: name, Error: msg, MinLength: MinPasswordLength})
	}
	switch {
	case !strings.Contains(email, "@") || len(email) > 320 || strings.ContainsAny(email, "\r\n \t"):
		again(http.StatusBadRequest, "Enter your email address.")
		return
	case len(name) > 200:
		again(http.StatusBadRequest, "The name is longer than 200 characters.")
		return
	case pw != r.PostForm.Get("password2"):
		again(http.StatusBadRequest, "The two passwords are not the same.")
		return
	}
	if err := CheckNewPassword(pw, email); err != nil {
		again(http.StatusBadRequest, err.Error())
		return
	}
	_, err := s.attempts.Reserve(ctx,
		attempt.Key{Name: "signup:ip:" + authn.AddressKey(httpx.ClientIP(r)), Policy: signupAddressPolicy},
		attempt.Key{Name: "signup:acct:" + email, Policy: signupAccountPolicy})
	if errors.Is(err, attempt.ErrLimited) {
		web.TooManyAttempts(w, err)
		again(http.StatusTooManyRequests, "Too many sign-ups from here or for this address. Wait a while, then try again.")
		return
	}
	if err != nil {
		s.o.Web.Fail(w, r, err)
		return
	}
	// The password is hashed whether or not the address has an account,
	// so both answers take the same time.
	hash, err := s.o.Hasher.Hash(ctx, pw)
	if err != nil {
		s.o.Web.Fail(w, r, err)
		return
	}
	if err := s.create(ctx, r, email, name, hash); err != nil {
		s.o.Web.Fail(w, r, err)
		return
	}
	s.o.Web.Render(w, r, http.StatusOK, "signup_sent", signUpView{Email: email, Valid: "24 hours"})
}

// create makes the account with its confirmation link and queues the
// mail, in one transaction; a known address gets a note instead.
func (s *SignUp) create(ctx context.Context, r *http.Request, email, name, hash string) error {
	now := s.o.Now().UTC()
	data := map[string]any{"Product": s.o.Product, "Issuer": s.o.Issuer, "Email": email, "Valid": "24 hours", "RecoverLink": s.o.Issuer + PathRecover}
	existing, err := s.o.Store.GetUserByEmail(ctx, email)
	switch {
	case err == nil && existing.EmailVerified:
		return s.queue(ctx, email, "signup_existing", data)
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return err
	}
	// A new account; or one never confirmed, which the newest sign-up
	// takes over: its password replaces the earlier one, whose link (bound
	// to that password) dies with it.
	fresh := err != nil
	u := storage.User{Subject: httpx.RandomID(16), Email: email, Name: name, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	err = s.o.Store.InTx(ctx, func(ctx context.Context) error {
		if fresh {
			if err := s.o.Store.CreateUser(ctx, u); err != nil {
				return err
			}
		} else {
			var err error
			if u, err = s.o.Store.UpdateUser(ctx, existing.Subject, func(cur storage.User) (storage.User, error) {
				if cur.EmailVerified {
					return cur, storage.ErrAlreadyExists // confirmed meanwhile
				}
				cur.Name, cur.PasswordHash, cur.UpdatedAt = name, hash, now
				return cur, nil
			}); err != nil {
				return err
			}
		}
		return SendVerifyLink(ctx, s.o.Store, s.mailer(), u, now)
	})
	if errors.Is(err, storage.ErrAlreadyExists) {
		// A concurrent sign-up for the same address won: this one is a
		// known address now.
		return s.queue(ctx, email, "signup_existing", data)
	}
	if err == nil {
		s.o.Web.Audit(ctx, r, "user.signed_up", u.Subject, "", nil)
	}
	return err
}

func (s *SignUp) mailer() Mailer {
	return Mailer{Mail: s.o.Mail, Pages: s.o.Pages, Issuer: s.o.Issuer, Product: s.o.Product}
}

func (s *SignUp) queue(ctx context.Context, to, name string, data map[string]any) error {
	return s.mailer().Queue(ctx, to, name, data)
}

// verifyCSRF is the CSRF purpose of the confirmation form.
const verifyCSRF = "verify"

// verifyAccount is the link's account while the link is unused, unexpired
// and the account unchanged; use takes the link (once).
func (s *SignUp) verifyAccount(ctx context.Context, token string, use bool) (storage.User, error) {
	if token == "" || len(token) > 128 {
		return storage.User{}, storage.ErrNotFound
	}
	get := s.o.Store.GetAccountToken
	if use {
		get = s.o.Store.UseAccountToken
	}
	t, err := get(ctx, hashLink(token), purposeVerify, s.o.Now())
	if err != nil {
		return storage.User{}, err
	}
	u, err := s.o.Store.GetUser(ctx, t.Subject)
	if err != nil {
		return storage.User{}, err
	}
	if string(binding(purposeVerify, u)) != string(t.Binding) {
		return storage.User{}, storage.ErrNotFound // the password or address changed since
	}
	return u, nil
}

func (s *SignUp) expired(w http.ResponseWriter, r *http.Request) {
	s.o.Web.ErrorPage(w, r, http.StatusBadRequest, "This link has expired",
		"It was used already, is older than 24 hours, or the account changed since. Sign up again to get a new one.")
}

func (s *SignUp) verifyView(w http.ResponseWriter, r *http.Request, token string, u storage.User, msg string) confirmView {
	v := confirmView{Title: "Confirm your address", Message: "Confirm that " + u.Email + " is yours to finish creating your " + s.o.Product + " account.",
		Error: msg, Action: PathVerify, CSRF: s.o.Web.CSRFToken(w, r, verifyCSRF), Token: token, Button: "confirm-address", Label: "Confirm my address"}
	if u.PasswordHash != "" {
		v.Password, v.Email = "The password you chose when you signed up", u.Email
		v.Note = "Did not sign up? Then ignore this: the account cannot be used until it is confirmed with its password, and signing up yourself with this address replaces it."
	}
	return v
}

// verifyPage shows what the link confirms and asks for the password chosen
// at sign-up: whoever signed up with someone else's address cannot have
// it confirmed by its owner's click, and a mail scanner opening the link
// confirms nothing.
func (s *SignUp) verifyPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	u, err := s.verifyAccount(r.Context(), token, false)
	if errors.Is(err, storage.ErrNotFound) {
		s.expired(w, r)
		return
	}
	if err != nil {
		s.o.Web.Fail(w, r, err)
		return
	}
	s.o.Web.Render(w, r, http.StatusOK, "confirm_link", s.verifyView(w, r, token, u, ""))
}

// verify confirms the address of the link's account, once, when the form
// carries the account's password.
func (s *SignUp) verify(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, web.MaxFormBytes)
	if err := r.ParseForm(); err != nil || !s.o.Web.CheckCSRF(r, verifyCSRF) {
		s.o.Web.ErrorPage(w, r, http.StatusForbidden, "Your session has expired", "The form was not submitted from this site or is too old. Go back and try again.")
		return
	}
	ctx := r.Context()
	token := r.PostForm.Get("token")
	u, err := s.verifyAccount(ctx, token, false)
	if errors.Is(err, storage.ErrNotFound) {
		s.expired(w, r)
		return
	}
	if err != nil {
		s.o.Web.Fail(w, r, err)
		return
	}
	if u.PasswordHash != "" {
		resv, err := s.attempts.Reserve(ctx, attempt.Key{Name: "verify:acct:" + u.Subject, Policy: verifyPasswordPolicy, ResetOnSuccess: true},
			attempt.Key{Name: "verify:ip:" + authn.AddressKey(httpx.ClientIP(r)), Policy: verifyPasswordPolicy})
		if errors.Is(err, attempt.ErrLimited) {
			web.TooManyAttempts(w, err)
			s.o.Web.Render(w, r, http.StatusTooManyRequests, "confirm_link", s.verifyView(w, r, token, u, "Too many wrong passwords. Wait a while, then try again."))
			return
		}
		if err != nil {
			s.o.Web.Fail(w, r, err)
			return
		}
		if _, err := s.o.Hasher.Verify(ctx, u.PasswordHash, r.PostForm.Get("password")); err != nil {
			if errors.Is(err, password.ErrBusy) {
				s.o.Web.GiveBack(ctx, resv.Unchecked)
				s.o.Web.Fail(w, r, err)
				return
			}
			s.o.Web.AuditRepeated(ctx, r, "verify.failed", u.Subject, "", nil)
			s.o.Web.Render(w, r, http.StatusBadRequest, "confirm_link", s.verifyView(w, r, token, u, "That is not the password chosen when the account was made."))
			return
		}
		s.o.Web.GiveBack(ctx, resv.Succeeded)
	}
	err = s.o.Store.InTx(ctx, func(ctx context.Context) error {
		cur, err := s.verifyAccount(ctx, token, true)
		if err != nil {
			return err
		}
		u, err = s.o.Store.UpdateUser(ctx, cur.Subject, func(u storage.User) (storage.User, error) {
			u.EmailVerified, u.UpdatedAt = true, s.o.Now().UTC()
			return u, nil
		})
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		s.expired(w, r)
		return
	}
	if err != nil {
		s.o.Web.Fail(w, r, err)
		return
	}
	s.o.Web.Audit(ctx, r, "user.email_verified", u.Subject, "", nil)
	s.o.Web.Render(w, r, http.StatusOK, "verified", map[string]string{"Email": u.Email})
}
