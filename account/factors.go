package account

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/authn/totp"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
)

type totpSetupView struct {
	CSRF, Ceremony, Secret, Error string
	QR                            template.HTML
}

// totpBegin makes a secret and shows it (QR code and text); nothing is
// enrolled until a correct code comes back.
func (p *Pages) totpBegin(w http.ResponseWriter, r *http.Request) {
	bs, ok := p.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	if methods, _, err := authn.SecondFactors(ctx, p.o.Store, bs.Subject); err != nil {
		p.o.Web.Fail(w, r, err)
		return
	} else if slices.Contains(methods, "otp") {
		p.renderAccount(w, r, bs, "An authenticator app is already set up. Remove it first to set up another.")
		return
	}
	u, err := p.o.Store.GetUser(ctx, bs.Subject)
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	key, err := totp.NewKey(p.o.TOTPIssuer, u.Email)
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	id := httpx.RandomString(32)
	sealed, err := p.o.Cipher.Seal([]byte(key.Secret()), []byte("flows.totp:"+id))
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	if err := p.o.Web.NewCeremony(ctx, id, ceremonyTOTP, web.Ceremony{Subject: bs.Subject, SID: bs.SID, Sealed: sealed}); err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	p.renderTOTPSetup(w, r, bs, id, key.Secret(), key.URL(), "")
}

func (p *Pages) renderTOTPSetup(w http.ResponseWriter, r *http.Request, bs storage.BrowserSession, id, secret, uri, msg string) {
	qr, err := totp.QRSVG(uri)
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	p.o.Web.Render(w, r, http.StatusOK, "totp_setup", totpSetupView{CSRF: p.accountCSRF(w, r, bs), Ceremony: id, Secret: spaced(secret), QR: template.HTML(qr), Error: msg}) // #nosec: SVG built from numbers only
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

func (p *Pages) totpConfirm(w http.ResponseWriter, r *http.Request) {
	bs, ok := p.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	id := r.PostForm.Get("ceremony")
	c, err := p.o.Web.SessionCeremony(ctx, id, ceremonyTOTP, bs)
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	secret, err := p.o.Cipher.Open(c.Sealed, []byte("flows.totp:"+id))
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	resv, err := p.attempts.Reserve(ctx, authn.FactorKeys(httpx.ClientIP(r), bs.Subject)...)
	if errors.Is(err, attempt.ErrLimited) {
		web.TooManyAttempts(w, err)
		p.renderTOTPSetupAgain(w, r, bs, id, string(secret), "Too many failed attempts. Wait a moment and try again.")
		return
	}
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	step, ok := totp.Match(string(secret), r.PostForm.Get("code"), p.o.Now(), 0)
	if !ok {
		p.renderTOTPSetupAgain(w, r, bs, id, string(secret), web.BadCode)
		return
	}
	p.o.Web.GiveBack(ctx, resv.Succeeded)
	if err := p.o.Web.UseCeremony(ctx, id, ceremonyTOTP); err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	credID := httpx.RandomString(16)
	sealed, err := p.o.Cipher.Seal(secret, authn.CredentialAAD(credID))
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	now := p.o.Now().UTC()
	var codes []string
	err = p.o.Store.InTx(ctx, func(ctx context.Context) error {
		methods, backups, err := authn.SecondFactors(ctx, p.o.Store, bs.Subject)
		if err != nil {
			return err
		}
		if slices.Contains(methods, "otp") {
			return web.ErrWrongState // enrolled meanwhile in another tab
		}
		if err := p.o.Store.CreateCredential(ctx, storage.Credential{ID: credID, Subject: bs.Subject, Type: storage.CredentialTOTP, Name: "Authenticator app",
			Secret: sealed, Data: []byte("{}"), Counter: step, CreatedAt: now, LastUsedAt: now}); err != nil {
			return err
		}
		if backups == 0 {
			codes, err = p.backup.Replace(ctx, bs.Subject)
		}
		return err
	})
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	p.o.Web.Audit(ctx, r, "mfa.totp.enrolled", bs.Subject, "", nil)
	if codes != nil {
		p.o.Web.Audit(ctx, r, "mfa.backup_codes.generated", bs.Subject, "", nil)
		p.o.Web.Render(w, r, http.StatusOK, "backup_codes", backupCodesView{CSRF: p.accountCSRF(w, r, bs), Codes: codes,
			Why: "Your authenticator app is set up. Keep these backup codes somewhere safe: each one signs you in once if you lose your phone."})
		return
	}
	p.renderAccount(w, r, bs, "Your authenticator app is set up.")
}

func (p *Pages) renderTOTPSetupAgain(w http.ResponseWriter, r *http.Request, bs storage.BrowserSession, id, secret, msg string) {
	u, err := p.o.Store.GetUser(r.Context(), bs.Subject)
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	p.renderTOTPSetup(w, r, bs, id, secret, totp.KeyURI(p.o.TOTPIssuer, u.Email, secret), msg)
}

func (p *Pages) totpRemove(w http.ResponseWriter, r *http.Request) {
	bs, ok := p.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	if _, err := p.o.Store.DeleteCredentials(ctx, bs.Subject, storage.CredentialTOTP); err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	if err := p.dropOrphanBackupCodes(ctx, bs.Subject); err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	p.o.Web.Audit(ctx, r, "mfa.totp.removed", bs.Subject, "", nil)
	p.renderAccount(w, r, bs, "The authenticator app was removed.")
}

// dropOrphanBackupCodes deletes backup codes once no second factor is left.
func (p *Pages) dropOrphanBackupCodes(ctx context.Context, subject string) error {
	methods, backups, err := authn.SecondFactors(ctx, p.o.Store, subject)
	if err != nil || len(methods) > 0 || backups == 0 {
		return err
	}
	_, err = p.o.Store.DeleteCredentials(ctx, subject, storage.CredentialBackupCode)
	return err
}

func (p *Pages) backupRegenerate(w http.ResponseWriter, r *http.Request) {
	bs, ok := p.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	methods, _, err := authn.SecondFactors(ctx, p.o.Store, bs.Subject)
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	if len(methods) == 0 {
		p.renderAccount(w, r, bs, "Set up an authenticator app or a passkey first; backup codes stand in for them.")
		return
	}
	codes, err := p.backup.Replace(ctx, bs.Subject)
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	p.o.Web.Audit(ctx, r, "mfa.backup_codes.generated", bs.Subject, "", nil)
	p.o.Web.Render(w, r, http.StatusOK, "backup_codes", backupCodesView{CSRF: p.accountCSRF(w, r, bs), Codes: codes,
		Why: "These are your new backup codes; the old ones no longer work. Each one signs you in once."})
}
