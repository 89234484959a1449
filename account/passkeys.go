package account

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
)

type passkeyRegisterView struct {
	CSRF, Ceremony, Name, Options string
}

func (p *Pages) passkeyBegin(w http.ResponseWriter, r *http.Request) {
	bs, ok := p.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	if p.o.Passkeys == nil {
		p.renderAccount(w, r, bs, "Passkeys are not available on this server.")
		return
	}
	opts, state, err := p.o.Passkeys.BeginRegistration(ctx, bs.Subject)
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	id := httpx.RandomString(32)
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if err := p.o.Web.NewCeremony(ctx, id, ceremonyPasskeyRegister, web.Ceremony{Subject: bs.Subject, SID: bs.SID, Name: name, WebAuthn: state}); err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	p.o.Web.Render(w, r, http.StatusOK, "passkey_register", passkeyRegisterView{CSRF: p.accountCSRF(w, r, bs), Ceremony: id, Name: name, Options: string(opts)})
}

func (p *Pages) passkeyFinish(w http.ResponseWriter, r *http.Request) {
	bs, ok := p.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	id := r.PostForm.Get("ceremony")
	c, err := p.o.Web.SessionCeremony(ctx, id, ceremonyPasskeyRegister, bs)
	if err == nil {
		err = p.o.Web.UseCeremony(ctx, id, ceremonyPasskeyRegister)
	}
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	cred, err := p.o.Passkeys.FinishRegistration(ctx, bs.Subject, c.Name, c.WebAuthn, []byte(r.PostForm.Get("credential")))
	if errors.Is(err, authn.ErrAuthFailed) {
		p.o.Log.Info("passkey registration refused", "subject", bs.Subject, "err", err)
		p.renderAccount(w, r, bs, "The passkey could not be added. Try again.")
		return
	}
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	p.o.Web.Audit(ctx, r, "passkey.added", bs.Subject, "", map[string]string{"credential": cred.ID, "name": cred.Name})
	// The first second factor comes with backup codes, whichever it is.
	_, backups, err := authn.SecondFactors(ctx, p.o.Store, bs.Subject)
	if err == nil && backups == 0 {
		var codes []string
		if codes, err = p.backup.Replace(ctx, bs.Subject); err == nil {
			p.o.Web.Audit(ctx, r, "mfa.backup_codes.generated", bs.Subject, "", nil)
			p.o.Web.Render(w, r, http.StatusOK, "backup_codes", backupCodesView{CSRF: p.accountCSRF(w, r, bs), Codes: codes,
				Why: "Your passkey \u201c" + cred.Name + "\u201d was added. Keep these backup codes somewhere safe: each one signs you in once if you lose it."})
			return
		}
	}
	if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	p.renderAccount(w, r, bs, "Your passkey \u201c"+cred.Name+"\u201d was added.")
}

func (p *Pages) passkeyRemove(w http.ResponseWriter, r *http.Request) {
	bs, ok := p.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	id := r.PostForm.Get("id")
	if !strings.HasPrefix(id, "wa_") {
		p.renderAccount(w, r, bs, "No such passkey.")
		return
	}
	if ways, err := p.waysToSignIn(ctx, bs.Subject); err != nil {
		p.o.Web.Fail(w, r, err)
		return
	} else if ways <= 1 {
		p.renderAccount(w, r, bs, "This is your only way to sign in; add another passkey before removing it.")
		return
	}
	if err := p.o.Store.DeleteCredential(ctx, bs.Subject, id); errors.Is(err, storage.ErrNotFound) {
		p.renderAccount(w, r, bs, "No such passkey.")
		return
	} else if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	if err := p.dropOrphanBackupCodes(ctx, bs.Subject); err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	p.o.Web.Audit(ctx, r, "passkey.removed", bs.Subject, "", map[string]string{"credential": id})
	p.renderAccount(w, r, bs, "The passkey was removed.")
}
