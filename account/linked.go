package account

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

type linkedView struct {
	Connector, Name, Account, Linked string
	UpstreamSubject                  string
}

// linkedIdentities lists a user's linked upstream accounts for the account
// page.
func (p *Pages) linkedIdentities(ctx context.Context, subject string) ([]linkedView, error) {
	list, err := p.o.Store.ListFederatedIdentities(ctx, subject)
	if err != nil {
		return nil, err
	}
	var out []linkedView
	for _, fi := range list {
		name := fi.ConnectorID
		if n, ok := p.o.UpstreamNames[fi.ConnectorID]; ok {
			name = n
		}
		account := fi.Username
		if account == "" {
			account = fi.Email
		}
		out = append(out, linkedView{Connector: fi.ConnectorID, Name: name, Account: account, Linked: fi.CreatedAt.Format(time.DateOnly), UpstreamSubject: fi.UpstreamSubject})
	}
	return out, nil
}

// unlink removes a linked upstream account, unless it is the user's last
// way to sign in.
func (p *Pages) unlink(w http.ResponseWriter, r *http.Request) {
	bs, ok := p.accountForm(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	conn, sub := r.PostForm.Get("connector"), r.PostForm.Get("upstream_subject")
	if ways, err := p.waysToSignIn(ctx, bs.Subject); err != nil {
		p.o.Web.Fail(w, r, err)
		return
	} else if ways <= 1 {
		p.renderAccount(w, r, bs, "This is your only way to sign in; add a passkey before unlinking it.")
		return
	}
	if err := p.o.Store.DeleteFederatedIdentity(ctx, bs.Subject, conn, sub); errors.Is(err, storage.ErrNotFound) {
		p.renderAccount(w, r, bs, "No such linked account.")
		return
	} else if err != nil {
		p.o.Web.Fail(w, r, err)
		return
	}
	p.o.Web.Audit(ctx, r, "federation.unlinked", bs.Subject, "", map[string]string{"connector": conn})
	p.renderAccount(w, r, bs, "The account was unlinked.")
}
