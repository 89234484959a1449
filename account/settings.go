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

// Paths of the account settings.
const (
	PathProfile  = "/account/profile"
	PathPassword = "/account/password"
	PathDelete   = "/account/delete"
)

// passwordChangePolicy limits guesses at the current password on the
// change-password form (per account; a session is needed to get there).
var passwordChangePolicy = storage.AttemptPolicy{Free: 5, Base: 30 * time.Second, Max: 15 * time.Minute, Window: time.Hour}

// SettingsStore is what the settings pages need.
type SettingsStore interface {
	GetUser(ctx context.Context, subject string) (storage.User, error)
	DeleteUser(ctx context.Context, subject string) error
	ListSessions(ctx context.Context, subject string, now time.Time) ([]storage.BrowserSession, error)
	ScrubAudit(ctx context.Context, subject string) (int64, error)
	Store
	storage.AttemptStore
}

// SettingsOptions configure the settings pages.
type SettingsOptions struct {
	Web    *web.Kit
	Store  SettingsStore
	SignIn SignIn
	Hasher *password.Hasher
	// Mail and Pages send the "password changed" notice (Mail nil: none).
	Mail  *mail.Outbox
	Pages *templates.Renderer
	// Issuer and Product go into the notice.
	Issuer, Product string
	// ReauthenticateAfter is how old a login may be for a change.
	ReauthenticateAfter time.Duration
	Log                 *slog.Logger
	Now                 func() time.Time
}

// Settings are the profile, change-password and delete-account pages.
// Every change needs a recent login and a CSRF token bound to the session,
// and is audited.
type Settings struct {
	o        SettingsOptions
	attempts *attempt.Limiter
}

// NewSettings returns the settings pages.
func NewSettings(o SettingsOptions) *Settings {
	if o.ReauthenticateAfter <= 0 {
		o.ReauthenticateAfter = 5 * time.Minute
	}
	if o.Product == "" {
		o.Product = "gatehouse"
	}
	return &Settings{o: o, attempts: attempt.New(o.Store, o.Now)}
}

// Register mounts the settings pages.
func (s *Settings) Register(mux *http.ServeMux) {
	for _, p := range []string{PathProfile, PathPassword, PathDelete} {
		mux.HandleFunc("GET "+p, s.show)
	}
	mux.HandleFunc("POST "+PathProfile, s.saveProfile)
	mux.HandleFunc("POST "+PathPassword, s.changePassword)
	mux.HandleFunc("POST "+PathDelete, s.deleteAccount)
}

type settingsView struct {
	CSRF, Email, Error, Notice string
	Fresh                      bool
	MinLength                  int
	Profile                    ProfileUpdate
}

var pageOf = map[string]string{PathProfile: "profile", PathPassword: "password", PathDelete: "delete_account"}

func (s *Settings) csrf(w http.ResponseWriter, r *http.Request, bs storage.BrowserSession) string {
	return s.o.Web.CSRFToken(w, r, "settings\x00"+bs.SID)
}

func (s *Settings) fresh(bs storage.BrowserSession) bool {
	return s.o.Now().Sub(bs.AuthTime) <= s.o.ReauthenticateAfter
}

func (s *Settings) show(w http.ResponseWriter, r *http.Request) {
	bs, ok, err := s.o.Web.Session(r.Context(), r)
	if err != nil {
		s.o.Web.Fail(w, r, err)
		return
	}
	if !ok {
		s.o.SignIn.SignIn(w, r, r.URL.Path, nil, "")
		return
	}
	s.render(w, r, http.StatusOK, r.URL.Path, bs, "", "")
}

func (s *Settings) render(w http.ResponseWriter, r *http.Request, status int, path string, bs storage.BrowserSession, msg, notice string) {
	u, err := s.o.Store.GetUser(r.Context(), bs.Subject)
	if err != nil {
		s.o.Web.Fail(w, r, err)
		return
	}
	v := settingsView{CSRF: s.csrf(w, r, bs), Email: u.Email, Error: msg, Notice: notice, Fresh: s.fresh(bs), MinLength: MinPasswordLength,
		Profile: ProfileUpdate{Name: u.Name, GivenName: u.GivenName, FamilyName: u.FamilyName, Profile: u.Profile}}
	s.o.Web.Render(w, r, status, pageOf[path], v)
}

// form reads a settings form: a session, its CSRF token and a recent
// login, and the user it is for. It answers itself when it returns false.
func (s *Settings) form(w http.ResponseWriter, r *http.Request) (storage.BrowserSession, storage.User, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, web.MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.o.Web.ErrorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return storage.BrowserSession{}, storage.User{}, false
	}
	bs, ok, err := s.o.Web.Session(r.Context(), r)
	if err != nil {
		s.o.Web.Fail(w, r, err)
		return bs, storage.User{}, false
	}
	if !ok || !s.o.Web.CheckCSRF(r, "settings\x00"+bs.SID) {
		s.o.Web.ErrorPage(w, r, http.StatusForbidden, "Your session has expired", "The form was not submitted from this site or is too old. Go back and try again.")
		return bs, storage.User{}, false
	}
	if !s.fresh(bs) {
		s.o.Web.ErrorPage(w, r, http.StatusForbidden, "Confirm it is you", "Changes to your account need a recent sign-in. Go back to your account page and sign in again.")
		return bs, storage.User{}, false
	}
	u, err := s.o.Store.GetUser(r.Context(), bs.Subject)
	if err != nil {
		s.o.Web.Fail(w, r, err)
		return bs, u, false
	}
	return bs, u, true
}

// saveProfile replaces the fields of the form; the address and what the
// form does not show stay. A changed phone number is no longer verified.
func (s *Settings) saveProfile(w http.ResponseWriter, r *http.Request) {
	bs, u, ok := s.form(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	f := r.PostForm.Get
	p := ProfileUpdate{Name: f("name"), GivenName: f("given_name"), FamilyName: f("family_name"), Profile: u.Profile}
	p.MiddleName, p.Nickname, p.PreferredUsername = f("middle_name"), f("nickname"), f("preferred_username")
	p.ProfileURL, p.Picture, p.Website, p.Gender, p.Birthdate = f("profile"), f("picture"), f("website"), f("gender"), f("birthdate")
	p.Zoneinfo, p.Locale = f("zoneinfo"), f("locale")
	if phone := strings.TrimSpace(f("phone_number")); phone != u.Profile.PhoneNumber {
		p.PhoneNumber, p.PhoneNumberVerified = phone, false
	}
	if _, err := SetProfile(ctx, s.o.Store, bs.Subject, p, s.o.Now()); errors.Is(err, ErrInvalidProfile) {
		s.render(w, r, http.StatusBadRequest, PathProfile, bs, strings.TrimPrefix(err.Error(), ErrInvalidProfile.Error()+": "), "")
		return
	} else if err != nil {
		s.o.Web.Fail(w, r, err)
		return
	}
	s.o.Web.Audit(ctx, r, "user.profile_set", bs.Subject, "", nil)
	s.render(w, r, http.StatusOK, PathProfile, bs, "", "Your profile is saved.")
}

// changePassword needs the current password; the new one ends every other
// session and every token (this browser stays signed in).
func (s *Settings) changePassword(w http.ResponseWriter, r *http.Request) {
	bs, u, ok := s.form(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	again := func(msg string) { s.render(w, r, http.StatusBadRequest, PathPassword, bs, msg, "") }
	resv, err := s.attempts.Reserve(ctx, attempt.Key{Name: "pwdchange:acct:" + bs.Subject, Policy: passwordChangePolicy, ResetOnSuccess: true},
		attempt.Key{Name: "pwdchange:ip:" + authn.AddressKey(httpx.ClientIP(r)), Policy: passwordChangePolicy})
	if errors.Is(err, attempt.ErrLimited) {
		web.TooManyAttempts(w, err)
		s.render(w, r, http.StatusTooManyRequests, PathPassword, bs, "Too many wrong passwords. Wait a while, then try again.", "")
		return
	}
	if err != nil {
		s.o.Web.Fail(w, r, err)
		return
	}
	if _, err := s.o.Hasher.Verify(ctx, u.PasswordHash, r.PostForm.Get("current")); err != nil {
		if errors.Is(err, password.ErrBusy) {
			s.o.Web.Fail(w, r, err)
			return
		}
		s.o.Web.AuditRepeated(ctx, r, "password_change.failed", bs.Subject, "", nil)
		again("That is not your current password.")
		return
	}
	s.o.Web.GiveBack(ctx, resv.Succeeded)
	pw := r.PostForm.Get("password")
	if err := CheckNewPassword(pw, u.Email); err != nil {
		again(err.Error())
		return
	}
	if pw != r.PostForm.Get("password2") {
		again("The two new passwords are not the same.")
		return
	}
	hash, err := s.o.Hasher.Hash(ctx, pw)
	if err != nil {
		s.o.Web.Fail(w, r, err)
		return
	}
	now := s.o.Now().UTC()
	err = s.o.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := SetPassword(ctx, s.o.Store, bs.Subject, hash, bs.IDHash, now); err != nil {
			return err
		}
		if s.o.Mail == nil {
			return nil
		}
		return Mailer{Mail: s.o.Mail, Pages: s.o.Pages, Issuer: s.o.Issuer, Product: s.o.Product}.Queue(ctx, u.Email, "password_changed",
			map[string]any{"Email": u.Email, "When": now.Format("2 January 2006 15:04 MST"), "RecoverLink": s.o.Issuer + PathRecover})
	})
	if err != nil {
		s.o.Web.Fail(w, r, err)
		return
	}
	s.o.Web.Audit(ctx, r, "user.password_changed", bs.Subject, "", nil)
	s.render(w, r, http.StatusOK, PathPassword, bs, "", "Your password is changed. Every other session was signed out, and every app must sign in again.")
}

// deleteAccount removes the account, its sessions, consents, credentials
// and tokens, once the user typed its email to confirm; its audit events
// stay, without the addresses and details that identify the person.
func (s *Settings) deleteAccount(w http.ResponseWriter, r *http.Request) {
	bs, u, ok := s.form(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if !strings.EqualFold(strings.TrimSpace(r.PostForm.Get("confirm")), u.Email) {
		s.render(w, r, http.StatusBadRequest, PathDelete, bs, "Type your email address exactly to confirm.", "")
		return
	}
	// Read first for the front-channel frames (the back channel is told of
	// every session the deletion ends).
	ending, err := s.o.Store.ListSessions(ctx, bs.Subject, s.o.Web.Now())
	if err != nil {
		s.o.Web.Fail(w, r, err)
		return
	}
	err = s.o.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.o.Store.DeleteUser(ctx, bs.Subject); err != nil {
			return err
		}
		_, err := s.o.Store.ScrubAudit(ctx, bs.Subject)
		return err
	})
	if err != nil {
		s.o.Web.Fail(w, r, err)
		return
	}
	s.o.Web.Audit(ctx, r, "user.deleted", bs.Subject, "", map[string]string{"by": "self"})
	// The event just written names no address either.
	if _, err := s.o.Store.ScrubAudit(ctx, bs.Subject); err != nil {
		s.o.Log.Warn("audit not scrubbed after a deletion", "err", err)
	}
	s.o.Web.SignedOut(w, r, "Your account is deleted. Every session ended and every app lost access.", ending)
}
