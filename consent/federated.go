package consent

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-id/gatehouse/authn/upstream"
	"github.com/gatehouse-id/gatehouse/federation"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Paths of the federated login.
const (
	PathFederated         = "/login/federated"
	PathFederatedCallback = "/login/federated/callback"
)

const ceremonyFederation = "federation"

// pendingLink is an upstream account waiting to be linked to the local
// account with the same email, once the user has signed in to it.
type pendingLink struct {
	Connector       string `json:"connector"`
	UpstreamSubject string `json:"upstream_subject"`
	Email           string `json:"email"`
	Username        string `json:"username,omitempty"`
}

// upstreamLogin is "Login with …": the browser goes to an upstream
// identity provider and comes back with an identity to sign in as.
type upstreamLogin struct{ loginPages }

func (s upstreamLogin) upstream(id string) (upstream.IdP, bool) {
	for _, u := range s.o.Upstreams {
		if u.ID == id {
			return u, true
		}
	}
	return upstream.IdP{}, false
}

func (s upstreamLogin) registerFederation(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathFederated, s.federatedStart)
	mux.HandleFunc("GET "+PathFederatedCallback, s.federatedCallback)
}

// federatedStart sends the browser upstream. The state parameter is the id
// of a single-use ceremony that holds the connector's private state (PKCE
// verifier, nonce), bound to the login flow and to this browser.
func (s upstreamLogin) federatedStart(w http.ResponseWriter, r *http.Request) {
	id, d, ok := s.loginForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	up, ok := s.upstream(r.PostForm.Get("connector"))
	browser := s.web.BrowserHash(r)
	if !ok || browser == nil {
		s.renderLogin(w, r, http.StatusBadRequest, id, d, "", "Choose a way to sign in.")
		return
	}
	state := httpx.RandomString(32)
	to, private, err := up.Connector.LoginURL(ctx, federation.LoginRequest{State: state, RedirectURI: s.o.Issuer + PathFederatedCallback})
	if err != nil {
		s.o.Log.Warn("federation: login URL", "connector", up.ID, "err", err)
		s.renderLogin(w, r, http.StatusBadGateway, id, d, "", up.Name+" cannot be reached right now. Try again later or sign in another way.")
		return
	}
	if err := s.web.NewCeremony(ctx, state, ceremonyFederation, web.Ceremony{Flow: id, Name: up.ID, WebAuthn: private, Browser: browser}); err != nil {
		s.web.Fail(w, r, err)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// federatedCallback finishes an upstream login: the ceremony named by state
// is used once, in the browser that started it; the connector verifies
// the upstream's answer; the identity is mapped to a local account.
func (s upstreamLogin) federatedCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	state := r.URL.Query().Get("state")
	c, err := s.web.GetCeremony(ctx, state, ceremonyFederation)
	if err == nil && !hmac.Equal(c.Browser, s.web.BrowserHash(r)) {
		err = web.ErrWrongState
	}
	if err == nil {
		err = s.web.UseCeremony(ctx, state, ceremonyFederation)
	}
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) {
			s.web.Fail(w, r, err)
			return
		}
		// A state nobody issued, used already, or brought by another
		// browser: no flow to return to, but audited like any failure.
		s.web.AuditRepeated(ctx, r, "login.failed", "", "", map[string]string{"method": "fed", "reason": "state"})
		s.web.ErrorPage(w, r, http.StatusBadRequest, "This sign-in link has expired",
			"It was already used, is too old, or was opened in another browser. Go back to the application and start again.")
		return
	}
	f, d, err := s.loadFlow(ctx, c.Flow)
	if err == nil && State(f.State) != StateLogin {
		err = web.ErrWrongState
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	up, ok := s.upstream(c.Name)
	if !ok { // removed from the config meanwhile
		s.renderLogin(w, r, http.StatusOK, c.Flow, d, "", "That way of signing in is no longer available.")
		return
	}
	ident, err := up.Connector.HandleCallback(ctx, c.WebAuthn, r)
	if err != nil {
		s.web.AuditRepeated(ctx, r, "login.failed", "", d.Request.ClientID, map[string]string{"method": "fed", "connector": up.ID, "reason": reason(err)})
		s.o.Log.Info("federation: callback refused", "connector", up.ID, "request_id", httpx.RequestID(ctx), "err", err)
		s.renderLogin(w, r, http.StatusOK, c.Flow, d, "", federationMessage(up.Name, err))
		return
	}
	s.federatedLogin(w, r, c.Flow, d, up, ident)
}

func reason(err error) string {
	switch {
	case errors.Is(err, federation.ErrDenied):
		return "denied"
	case errors.Is(err, federation.ErrUnverifiedEmail):
		return "unverified_email"
	case errors.Is(err, federation.ErrNotAllowed):
		return "not_allowed"
	default:
		return "upstream_error"
	}
}

// federationMessage is what the login page says about a failed upstream
// login, without upstream details.
func federationMessage(name string, err error) string {
	switch {
	case errors.Is(err, federation.ErrDenied):
		return "Signing in with " + name + " was cancelled."
	case errors.Is(err, federation.ErrUnverifiedEmail):
		return "Your " + name + " account has no verified email address. Verify one there, or sign in another way."
	case errors.Is(err, federation.ErrNotAllowed):
		return "This " + name + " account is not allowed to sign in here."
	default:
		return "Signing in with " + name + " did not work. Try again, or sign in another way."
	}
}

// federatedLogin signs in to the account the upstream identity leads to
// (package upstream decides which), asks the user to sign in to the
// account with the identity's email first, or says why there is none.
func (s upstreamLogin) federatedLogin(w http.ResponseWriter, r *http.Request, id string, d flowData, up upstream.IdP, ident federation.Identity) {
	ctx := r.Context()
	token, err := s.sealUpstreamToken(up, ident)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	out, err := upstream.Mapper{Store: s.o.Links, Now: s.o.Now}.Map(ctx, up, ident, token)
	for _, refusal := range []struct {
		err error
		msg string
	}{
		{upstream.ErrDisabled, "This account cannot sign in."},
		{upstream.ErrNoAccount, "There is no account here for this " + up.Name + " login."},
		{upstream.ErrNeedsEmail, "A new account needs a verified email address from " + up.Name + "."},
		{upstream.ErrRace, "Signing in with " + up.Name + " did not work. Try again."},
	} {
		if errors.Is(err, refusal.err) {
			s.renderLogin(w, r, http.StatusOK, id, d, "", refusal.msg)
			return
		}
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	if existing := out.LinkTo; existing != nil {
		link := &pendingLink{Connector: up.ID, UpstreamSubject: ident.Subject, Email: strings.ToLower(existing.Email), Username: ident.Username}
		if err := s.setPendingLink(ctx, id, link); err != nil {
			s.web.Fail(w, r, err)
			return
		}
		s.web.Audit(ctx, r, "federation.link_pending", existing.Subject, d.Request.ClientID, map[string]string{"connector": up.ID})
		s.renderLogin(w, r, http.StatusOK, id, d, existing.Email,
			"An account with this email address already exists. Sign in to it to link your "+up.Name+" account.")
		return
	}
	if out.Created {
		s.web.Audit(ctx, r, "user.created", out.Result.Subject, d.Request.ClientID, map[string]string{"connector": up.ID})
	}
	s.firstFactorDone(w, r, id, d, out.Result)
}

func (s upstreamLogin) sealUpstreamToken(up upstream.IdP, ident federation.Identity) ([]byte, error) {
	if !up.StoreTokens || ident.Token == nil {
		return nil, nil
	}
	b, err := json.Marshal(ident.Token)
	if err != nil {
		return nil, err
	}
	return s.o.Cipher.Seal(b, []byte("federated_identities.token:"+up.ID+":"+ident.Subject))
}

// setPendingLink records an upstream account to link after the login.
func (s *engine) setPendingLink(ctx context.Context, id string, link *pendingLink) error {
	_, err := s.o.Store.UpdateFlow(ctx, id, s.o.Now(), func(f storage.Flow) (storage.Flow, error) {
		if State(f.State) != StateLogin {
			return f, web.ErrWrongState
		}
		var d flowData
		if err := json.Unmarshal(f.Data, &d); err != nil {
			return f, err
		}
		d.Link = link
		b, err := json.Marshal(d)
		f.Data = b
		return f, err
	})
	return err
}

// linkPending links the upstream account a flow carries once the user has
// signed in to the local account with its email (and only that account).
func (s *engine) linkPending(ctx context.Context, r *http.Request, d flowData, subject string) error {
	if d.Link == nil {
		return nil
	}
	u, err := s.o.Store.GetUser(ctx, subject)
	if err != nil {
		return err
	}
	if !strings.EqualFold(u.Email, d.Link.Email) {
		return nil
	}
	now := s.o.Now().UTC()
	err = s.o.Links.CreateFederatedIdentity(ctx, storage.FederatedIdentity{ConnectorID: d.Link.Connector, UpstreamSubject: d.Link.UpstreamSubject,
		Subject: subject, Email: d.Link.Email, Username: d.Link.Username, CreatedAt: now, LastUsedAt: now})
	if errors.Is(err, storage.ErrAlreadyExists) {
		return nil
	}
	if err == nil {
		s.web.Audit(ctx, r, "federation.linked", subject, d.Request.ClientID, map[string]string{"connector": d.Link.Connector})
	}
	return err
}
