package account

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/authn/backup"
	"github.com/gatehouse-id/gatehouse/authn/passkey"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
)

// SignIn sends a browser through a login (consent.Service) that returns to
// returnTo; prompt ["login"] asks for a new login even with a session.
type SignIn interface {
	SignIn(w http.ResponseWriter, r *http.Request, returnTo string, prompt []string, hint string)
}

// PageStore is what the account pages need: the user, their credentials
// and linked accounts, the attempt counters of typed codes, and a
// transaction.
type PageStore interface {
	GetUser(ctx context.Context, subject string) (storage.User, error)
	CreateCredential(ctx context.Context, c storage.Credential) error
	ListCredentials(ctx context.Context, subject string, typ storage.CredentialType) ([]storage.Credential, error)
	DeleteCredential(ctx context.Context, subject, id string) error
	DeleteCredentials(ctx context.Context, subject string, typ storage.CredentialType) (int64, error)
	ListFederatedIdentities(ctx context.Context, subject string) ([]storage.FederatedIdentity, error)
	DeleteFederatedIdentity(ctx context.Context, subject, connectorID, upstreamSubject string) error
	storage.AttemptStore
	storage.TxRunner
}

// PageOptions configure the account pages.
type PageOptions struct {
	Web    *web.Kit
	Store  PageStore
	SignIn SignIn
	// Passkeys registers passkeys (nil: passkeys are off).
	Passkeys *passkey.Step
	// Cipher seals TOTP secrets; BackupCodeKey keys backup-code HMACs.
	Cipher        authn.Sealer
	BackupCodeKey []byte
	// TOTPIssuer is the name authenticator apps show.
	TOTPIssuer string
	// UpstreamNames names the "Login with …" providers by id.
	UpstreamNames map[string]string
	// ReauthenticateAfter is how old a login may be for changes.
	ReauthenticateAfter time.Duration
	// CanMail says mail can be sent (the email change is offered).
	CanMail bool
	Log     *slog.Logger
	Now     func() time.Time
}

// Pages are the account pages: what a signed-in user sees of their
// account and the changes they make to how they sign in.
type Pages struct {
	o        PageOptions
	backup   backup.Step
	attempts *attempt.Limiter
}

// NewPages returns the account pages.
func NewPages(o PageOptions) *Pages {
	if o.ReauthenticateAfter <= 0 {
		o.ReauthenticateAfter = 5 * time.Minute
	}
	if o.TOTPIssuer == "" {
		o.TOTPIssuer = "gatehouse"
	}
	return &Pages{o: o, backup: backup.Step{Store: o.Store, Key: o.BackupCodeKey, Now: o.Now}, attempts: attempt.New(o.Store, o.Now)}
}

// The account page lets a signed-in user manage passkeys, the
// authenticator app and backup codes. Every change needs a login no older
// than ReauthenticateAfter, a CSRF token bound to the session, and is
// audited.

// Path is the account page.
const Path = "/account"

// Ceremony kinds of the account page (flow rows).
const (
	ceremonyTOTP            = "totp_enroll"
	ceremonyPasskeyRegister = "passkey_register"
)

// Register mounts the account pages.
func (p *Pages) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Path, p.accountPage)
	mux.HandleFunc("POST "+Path+"/reauthenticate", p.accountReauth)
	mux.HandleFunc("POST "+Path+"/totp", p.totpBegin)
	mux.HandleFunc("POST "+Path+"/totp/confirm", p.totpConfirm)
	mux.HandleFunc("POST "+Path+"/totp/remove", p.totpRemove)
	mux.HandleFunc("POST "+Path+"/backup-codes", p.backupRegenerate)
	mux.HandleFunc("POST "+Path+"/passkeys", p.passkeyBegin)
	mux.HandleFunc("POST "+Path+"/passkeys/finish", p.passkeyFinish)
	mux.HandleFunc("POST "+Path+"/passkeys/remove", p.passkeyRemove)
	mux.HandleFunc("POST "+Path+"/linked/remove", p.unlink)
}

type accountView struct {
	CSRF, Email, Name string
	Fresh             bool
	TOTP              bool
	Backups           int
	LowBackups        bool
	Passkeys          []passkeyView
	Linked            []linkedView
	Notice            string
	CanMail           bool
}

type passkeyView struct {
	ID, Name, Created, LastUsed string
	CloneWarning                bool
}

// accountSession is the browser's session for the account page; without one
// it starts a login flow that returns to the account page.
func (p *Pages) accountSession(w http.ResponseWriter, r *http.Request) (storage.BrowserSession, bool) {
	bs, ok, err := p.o.Web.Session(r.Context(), r)
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return bs, false
	}
	if !ok {
		p.o.SignIn.SignIn(w, r, Path, nil, "")
		return bs, false
	}
	return bs, true
}

func (p *Pages) accountCSRF(w http.ResponseWriter, r *http.Request, bs storage.BrowserSession) string {
	return p.o.Web.CSRFToken(w, r, "account\x00"+bs.SID)
}

func (p *Pages) fresh(bs storage.BrowserSession) bool {
	return p.o.Now().Sub(bs.AuthTime) <= p.o.ReauthenticateAfter
}

func (p *Pages) accountPage(w http.ResponseWriter, r *http.Request) {
	bs, ok := p.accountSession(w, r)
	if !ok {
		return
	}
	p.renderAccount(w, r, bs, "")
}

func (p *Pages) renderAccount(w http.ResponseWriter, r *http.Request, bs storage.BrowserSession, notice string) {
	ctx := r.Context()
	u, err := p.o.Store.GetUser(ctx, bs.Subject)
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	creds, err := p.o.Store.ListCredentials(ctx, bs.Subject, "")
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	v := accountView{CSRF: p.accountCSRF(w, r, bs), Email: u.Email, Name: u.Name, Fresh: p.fresh(bs), Notice: notice, CanMail: p.o.CanMail}
	for _, c := range creds {
		switch c.Type {
		case storage.CredentialTOTP:
			v.TOTP = true
		case storage.CredentialBackupCode:
			v.Backups++
		case storage.CredentialWebAuthn:
			pv := passkeyView{ID: c.ID, Name: c.Name, Created: c.CreatedAt.UTC().Format("2006-01-02"), LastUsed: "never"}
			if c.LastUsedAt.After(c.CreatedAt) {
				pv.LastUsed = c.LastUsedAt.UTC().Format("2006-01-02 15:04 MST")
			}
			var meta passkey.Meta
			if json.Unmarshal(c.Data, &meta) == nil {
				pv.CloneWarning = meta.CloneWarning
			}
			v.Passkeys = append(v.Passkeys, pv)
		}
	}
	v.LowBackups = (v.TOTP || len(v.Passkeys) > 0) && v.Backups <= 3
	if v.Linked, err = p.linkedIdentities(ctx, bs.Subject); err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	p.o.Web.Render(w, r, http.StatusOK, "account", v)
}

// accountForm reads an account-page form: a session, a CSRF token bound to
// it, and (for changes) a fresh login. It writes the response itself when
// it returns false.
func (p *Pages) accountForm(w http.ResponseWriter, r *http.Request, needFresh bool) (storage.BrowserSession, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, web.MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.o.Web.ErrorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return storage.BrowserSession{}, false
	}
	bs, ok, err := p.o.Web.Session(r.Context(), r)
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return bs, false
	}
	if !ok || !p.o.Web.CheckCSRF(r, "account\x00"+bs.SID) {
		p.o.Web.ErrorPage(w, r, http.StatusForbidden, "Your session has expired", "The form was not submitted from this site or is too old. Go back and try again.")
		return bs, false
	}
	if needFresh && !p.fresh(bs) {
		p.o.Web.ErrorPage(w, r, http.StatusForbidden, "Confirm it is you", "Changes to how you sign in need a recent sign-in. Go back to your account page and sign in again.")
		return bs, false
	}
	return bs, true
}

func (p *Pages) accountReauth(w http.ResponseWriter, r *http.Request) {
	bs, ok := p.accountForm(w, r, false)
	if !ok {
		return
	}
	u, err := p.o.Store.GetUser(r.Context(), bs.Subject)
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	p.o.SignIn.SignIn(w, r, Path, []string{"login"}, u.Email)
}

// waysToSignIn counts a user's first factors: the password, each passkey
// and each linked upstream account. The last one is never removed.
func (p *Pages) waysToSignIn(ctx context.Context, subject string) (int, error) {
	u, err := p.o.Store.GetUser(ctx, subject)
	if err != nil {
		return 0, err
	}
	passkeys, err := p.o.Store.ListCredentials(ctx, subject, storage.CredentialWebAuthn)
	if err != nil {
		return 0, err
	}
	links, err := p.o.Store.ListFederatedIdentities(ctx, subject)
	if err != nil {
		return 0, err
	}
	ways := len(passkeys) + len(links)
	if u.PasswordHash != "" {
		ways++
	}
	return ways, nil
}
