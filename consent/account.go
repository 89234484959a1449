package consent

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/authn/passkey"
	"github.com/gatehouse-id/gatehouse/authn/totp"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
)

// The account page lets a signed-in user manage passkeys, the
// authenticator app and backup codes. Every change needs a login no older
// than ReauthenticateAfter, a CSRF token bound to the session, and is
// audited.

// ceremonyTOTP is the state of a pending TOTP enrollment (a flow row).
const ceremonyTOTP = "totp_enroll"

func (s *Service) registerAccount(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathAccount, s.accountPage)
	mux.HandleFunc("POST "+PathAccount+"/reauthenticate", s.accountReauth)
	mux.HandleFunc("POST "+PathAccount+"/totp", s.totpBegin)
	mux.HandleFunc("POST "+PathAccount+"/totp/confirm", s.totpConfirm)
	mux.HandleFunc("POST "+PathAccount+"/totp/remove", s.totpRemove)
	mux.HandleFunc("POST "+PathAccount+"/backup-codes", s.backupRegenerate)
	mux.HandleFunc("POST "+PathAccount+"/passkeys", s.passkeyBegin)
	mux.HandleFunc("POST "+PathAccount+"/passkeys/finish", s.passkeyFinish)
	mux.HandleFunc("POST "+PathAccount+"/passkeys/remove", s.passkeyRemove)
	mux.HandleFunc("POST "+PathAccount+"/linked/remove", s.unlink)
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
}

type passkeyView struct {
	ID, Name, Created, LastUsed string
	CloneWarning                bool
}

// accountSession is the browser's session for the account page; without one
// it starts a login flow that returns to the account page.
func (s *Service) accountSession(w http.ResponseWriter, r *http.Request) (storage.BrowserSession, bool) {
	bs, ok, err := s.web.Session(r.Context(), r)
	if err != nil {
		s.web.Fail(w, r, err)
		return bs, false
	}
	if !ok {
		s.accountLogin(w, r, nil, "")
		return bs, false
	}
	return bs, true
}

// accountFlowLifetime is how long a sign-in to the account page may take.
const accountFlowLifetime = 15 * time.Minute

// accountLogin sends the browser through a login that returns to the
// account page (prompt=login to re-authenticate).
func (s *Service) accountLogin(w http.ResponseWriter, r *http.Request, prompt []string, hint string) {
	now := s.o.Now().UTC().Truncate(time.Second)
	// Anyone can open the account page: its flow is short-lived, so rows
	// made by requests that never sign in are collected within minutes.
	dec, err := s.newFlowFor(r.Context(), StateLogin, flowData{Request: interaction.AuthorizeRequest{ClientName: "your account", MaxAge: -1, Prompt: prompt,
		LoginHint: hint, RequestedAt: now}, Return: PathAccount}, accountFlowLifetime)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	http.Redirect(w, r, dec.RedirectTo, http.StatusSeeOther)
}

func (s *Service) accountCSRF(w http.ResponseWriter, r *http.Request, bs storage.BrowserSession) string {
	return s.web.CSRFToken(w, r, "account\x00"+bs.SID)
}

func (s *Service) fresh(bs storage.BrowserSession) bool {
	return s.o.Now().Sub(bs.AuthTime) <= s.o.ReauthenticateAfter
}

func (s *Service) accountPage(w http.ResponseWriter, r *http.Request) {
	bs, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	s.renderAccount(w, r, bs, "")
}

func (s *Service) renderAccount(w http.ResponseWriter, r *http.Request, bs storage.BrowserSession, notice string) {
	ctx := r.Context()
	u, err := s.o.Store.GetUser(ctx, bs.Subject)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	creds, err := s.o.Store.ListCredentials(ctx, bs.Subject, "")
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	v := accountView{CSRF: s.accountCSRF(w, r, bs), Email: u.Email, Name: u.Name, Fresh: s.fresh(bs), Notice: notice}
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
	if v.Linked, err = s.linkedIdentities(ctx, bs.Subject); err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.web.Render(w, r, http.StatusOK, "account", v)
}

// accountForm reads an account-page form: a session, a CSRF token bound to
// it, and (for changes) a fresh login. It writes the response itself when
// it returns false.
func (s *Service) accountForm(w http.ResponseWriter, r *http.Request, needFresh bool) (storage.BrowserSession, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, web.MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.web.ErrorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return storage.BrowserSession{}, false
	}
	bs, ok, err := s.web.Session(r.Context(), r)
	if err != nil {
		s.web.Fail(w, r, err)
		return bs, false
	}
	if !ok || !s.web.CheckCSRF(r, "account\x00"+bs.SID) {
		s.web.ErrorPage(w, r, http.StatusForbidden, "Your session has expired", "The form was not submitted from this site or is too old. Go back and try again.")
		return bs, false
	}
	if needFresh && !s.fresh(bs) {
		s.web.ErrorPage(w, r, http.StatusForbidden, "Confirm it is you", "Changes to how you sign in need a recent sign-in. Go back to your account page and sign in again.")
		return bs, false
	}
	return bs, true
}

func (s *Service) accountReauth(w http.ResponseWriter, r *http.Request) {
	bs, ok := s.accountForm(w, r, false)
	if !ok {
		return
	}
	u, err := s.o.Store.GetUser(r.Context(), bs.Subject)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.accountLogin(w, r, []string{"login"}, u.Email)
}

type totpSetupView struct {
	CSRF, Ceremony, Secret, Error string
	QR                            template.HTML
}

// totpBegin makes a secret and shows it (QR code and text); nothing is
// enrolled until a correct code comes back.
func (s *Service) totpBegin(w http.ResponseWriter, r *http.Request) {
	bs, ok := s.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	if methods, _, err := s.secondFactors(ctx, bs.Subject); err != nil {
		s.web.Fail(w, r, err)
		return
	} else if slices.Contains(methods, "otp") {
		s.renderAccount(w, r, bs, "An authenticator app is already set up. Remove it first to set up another.")
		return
	}
	u, err := s.o.Store.GetUser(ctx, bs.Subject)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	key, err := totp.NewKey(s.o.TOTPIssuer, u.Email)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	id := httpx.RandomString(32)
	sealed, err := s.o.Cipher.Seal([]byte(key.Secret()), []byte("flows.totp:"+id))
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	if err := s.web.NewCeremony(ctx, id, ceremonyTOTP, web.Ceremony{Subject: bs.Subject, SID: bs.SID, Sealed: sealed}); err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.renderTOTPSetup(w, r, bs, id, key.Secret(), key.URL(), "")
}

func (s *Service) renderTOTPSetup(w http.ResponseWriter, r *http.Request, bs storage.BrowserSession, id, secret, uri, msg string) {
	qr, err := totp.QRSVG(uri)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.web.Render(w, r, http.StatusOK, "totp_setup", totpSetupView{CSRF: s.accountCSRF(w, r, bs), Ceremony: id, Secret: spaced(secret), QR: template.HTML(qr), Error: msg}) // #nosec: SVG built from numbers only
}

// spaced groups a secret in fours for typing.
func spaced(secret string) string {
	var b strings.Builder
	for i, c := range secret {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

type backupCodesView struct {
	CSRF  string
	Codes []string
	Why   string
}

func (s *Service) totpConfirm(w http.ResponseWriter, r *http.Request) {
	bs, ok := s.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	id := r.PostForm.Get("ceremony")
	c, err := s.web.SessionCeremony(ctx, id, ceremonyTOTP, bs)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	secret, err := s.o.Cipher.Open(c.Sealed, []byte("flows.totp:"+id))
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	resv, err := s.attempts.Reserve(ctx, factorKeys(r, bs.Subject)...)
	if errors.Is(err, attempt.ErrLimited) {
		web.TooManyAttempts(w, err)
		s.renderTOTPSetupAgain(w, r, bs, id, string(secret), "Too many failed attempts. Wait a moment and try again.")
		return
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	step, ok := totp.Match(string(secret), r.PostForm.Get("code"), s.o.Now(), 0)
	if !ok {
		s.renderTOTPSetupAgain(w, r, bs, id, string(secret), errBadCode)
		return
	}
	s.web.GiveBack(ctx, resv.Succeeded)
	if err := s.web.UseCeremony(ctx, id, ceremonyTOTP); err != nil {
		s.web.Fail(w, r, err)
		return
	}
	credID := httpx.RandomString(16)
	sealed, err := s.o.Cipher.Seal(secret, authn.CredentialAAD(credID))
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	now := s.o.Now().UTC()
	var codes []string
	err = s.o.Store.InTx(ctx, func(ctx context.Context) error {
		methods, backups, err := s.secondFactors(ctx, bs.Subject)
		if err != nil {
			return err
		}
		if slices.Contains(methods, "otp") {
			return web.ErrWrongState // enrolled meanwhile in another tab
		}
		if err := s.o.Store.CreateCredential(ctx, storage.Credential{ID: credID, Subject: bs.Subject, Type: storage.CredentialTOTP, Name: "Authenticator app",
			Secret: sealed, Data: []byte("{}"), Counter: step, CreatedAt: now, LastUsedAt: now}); err != nil {
			return err
		}
		if backups == 0 {
			codes, err = s.backup.Replace(ctx, bs.Subject)
		}
		return err
	})
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.web.Audit(ctx, r, "mfa.totp.enrolled", bs.Subject, "", nil)
	if codes != nil {
		s.web.Audit(ctx, r, "mfa.backup_codes.generated", bs.Subject, "", nil)
		s.web.Render(w, r, http.StatusOK, "backup_codes", backupCodesView{CSRF: s.accountCSRF(w, r, bs), Codes: codes,
			Why: "Your authenticator app is set up. Keep these backup codes somewhere safe: each one signs you in once if you lose your phone."})
		return
	}
	s.renderAccount(w, r, bs, "Your authenticator app is set up.")
}

func (s *Service) renderTOTPSetupAgain(w http.ResponseWriter, r *http.Request, bs storage.BrowserSession, id, secret, msg string) {
	u, err := s.o.Store.GetUser(r.Context(), bs.Subject)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.renderTOTPSetup(w, r, bs, id, secret, totp.KeyURI(s.o.TOTPIssuer, u.Email, secret), msg)
}

func (s *Service) totpRemove(w http.ResponseWriter, r *http.Request) {
	bs, ok := s.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	if _, err := s.o.Store.DeleteCredentials(ctx, bs.Subject, storage.CredentialTOTP); err != nil {
		s.web.Fail(w, r, err)
		return
	}
	if err := s.dropOrphanBackupCodes(ctx, bs.Subject); err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.web.Audit(ctx, r, "mfa.totp.removed", bs.Subject, "", nil)
	s.renderAccount(w, r, bs, "The authenticator app was removed.")
}

// dropOrphanBackupCodes deletes backup codes once no second factor is left.
func (s *Service) dropOrphanBackupCodes(ctx context.Context, subject string) error {
	methods, backups, err := s.secondFactors(ctx, subject)
	if err != nil || len(methods) > 0 || backups == 0 {
		return err
	}
	_, err = s.o.Store.DeleteCredentials(ctx, subject, storage.CredentialBackupCode)
	return err
}

func (s *Service) backupRegenerate(w http.ResponseWriter, r *http.Request) {
	bs, ok := s.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	methods, _, err := s.secondFactors(ctx, bs.Subject)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	if len(methods) == 0 {
		s.renderAccount(w, r, bs, "Set up an authenticator app or a passkey first; backup codes stand in for them.")
		return
	}
	codes, err := s.backup.Replace(ctx, bs.Subject)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.web.Audit(ctx, r, "mfa.backup_codes.generated", bs.Subject, "", nil)
	s.web.Render(w, r, http.StatusOK, "backup_codes", backupCodesView{CSRF: s.accountCSRF(w, r, bs), Codes: codes,
		Why: "These are your new backup codes; the old ones no longer work. Each one signs you in once."})
}

// Ceremony kinds of passkeys.
const (
	ceremonyPasskeyRegister = "passkey_register"
	ceremonyPasskeyMFA      = "passkey_mfa"
)

type passkeyRegisterView struct {
	CSRF, Ceremony, Name, Options string
}

func (s *Service) passkeyBegin(w http.ResponseWriter, r *http.Request) {
	bs, ok := s.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	if s.passkeys == nil {
		s.renderAccount(w, r, bs, "Passkeys are not available on this server.")
		return
	}
	opts, state, err := s.passkeys.BeginRegistration(ctx, bs.Subject)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	id := httpx.RandomString(32)
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if err := s.web.NewCeremony(ctx, id, ceremonyPasskeyRegister, web.Ceremony{Subject: bs.Subject, SID: bs.SID, Name: name, WebAuthn: state}); err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.web.Render(w, r, http.StatusOK, "passkey_register", passkeyRegisterView{CSRF: s.accountCSRF(w, r, bs), Ceremony: id, Name: name, Options: string(opts)})
}

func (s *Service) passkeyFinish(w http.ResponseWriter, r *http.Request) {
	bs, ok := s.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	id := r.PostForm.Get("ceremony")
	c, err := s.web.SessionCeremony(ctx, id, ceremonyPasskeyRegister, bs)
	if err == nil {
		err = s.web.UseCeremony(ctx, id, ceremonyPasskeyRegister)
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	cred, err := s.passkeys.FinishRegistration(ctx, bs.Subject, c.Name, c.WebAuthn, []byte(r.PostForm.Get("credential")))
	if errors.Is(err, authn.ErrAuthFailed) {
		s.o.Log.Info("passkey registration refused", "subject", bs.Subject, "err", err)
		s.renderAccount(w, r, bs, "The passkey could not be added. Try again.")
		return
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.web.Audit(ctx, r, "passkey.added", bs.Subject, "", map[string]string{"credential": cred.ID, "name": cred.Name})
	s.renderAccount(w, r, bs, "Your passkey \u201c"+cred.Name+"\u201d was added.")
}

func (s *Service) passkeyRemove(w http.ResponseWriter, r *http.Request) {
	bs, ok := s.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	id := r.PostForm.Get("id")
	if !strings.HasPrefix(id, "wa_") {
		s.renderAccount(w, r, bs, "No such passkey.")
		return
	}
	if ways, err := s.waysToSignIn(ctx, bs.Subject); err != nil {
		s.web.Fail(w, r, err)
		return
	} else if ways <= 1 {
		s.renderAccount(w, r, bs, "This is your only way to sign in; add another passkey before removing it.")
		return
	}
	if err := s.o.Store.DeleteCredential(ctx, bs.Subject, id); errors.Is(err, storage.ErrNotFound) {
		s.renderAccount(w, r, bs, "No such passkey.")
		return
	} else if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	if err := s.dropOrphanBackupCodes(ctx, bs.Subject); err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.web.Audit(ctx, r, "passkey.removed", bs.Subject, "", map[string]string{"credential": id})
	s.renderAccount(w, r, bs, "The passkey was removed.")
}

// waysToSignIn counts a user's first factors: the password, each passkey
// and each linked upstream account. The last one is never removed.
func (s *Service) waysToSignIn(ctx context.Context, subject string) (int, error) {
	u, err := s.o.Store.GetUser(ctx, subject)
	if err != nil {
		return 0, err
	}
	passkeys, err := s.o.Store.ListCredentials(ctx, subject, storage.CredentialWebAuthn)
	if err != nil {
		return 0, err
	}
	links, err := s.o.Store.ListFederatedIdentities(ctx, subject)
	if err != nil {
		return 0, err
	}
	ways := len(passkeys) + len(links)
	if u.PasswordHash != "" {
		ways++
	}
	return ways, nil
}
