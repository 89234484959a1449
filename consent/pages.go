package consent

import (
	"context"
	"crypto/hmac"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/authn/password"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// maxFormBytes bounds every form body.
const maxFormBytes = 64 << 10

// scopeText describes scopes in plain words on the consent page.
var scopeText = map[string]string{
	"openid":         "Know who you are (your account identifier)",
	"profile":        "See your name and profile details",
	"email":          "See your email address",
	"address":        "See your postal address",
	"phone":          "See your phone number",
	"offline_access": "Keep access while you are not using it",
}

func describeScopes(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if t, ok := scopeText[s]; ok {
			out = append(out, t)
		} else {
			out = append(out, "Use the permission \u201c"+s+"\u201d")
		}
	}
	return out
}

func (s *Service) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	if err := s.o.Pages.Render(w, status, page, httpx.Nonce(r.Context()), data); err != nil {
		s.o.Log.Error("render", "page", page, "err", err)
	}
}

func (s *Service) errorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	s.render(w, r, status, "error", map[string]string{"Title": title, "Message": msg, "RequestID": w.Header().Get("X-Request-Id")})
}

// fail maps an error to a page once: expired flows, storage outages, and
// everything else as a logged 500 without details.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, errWrongState), errors.Is(err, storage.ErrConflict):
		s.errorPage(w, r, http.StatusBadRequest, "This sign-in page has expired",
			"Go back to the application and start again.")
	case errors.Is(err, storage.ErrUnavailable):
		w.Header().Set("Retry-After", "5")
		s.errorPage(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "Please try again in a moment.")
	case errors.Is(err, password.ErrBusy):
		w.Header().Set("Retry-After", "1")
		s.errorPage(w, r, http.StatusServiceUnavailable, "Busy", "Too many sign-ins at once. Please try again in a moment.")
	case errors.Is(err, context.Canceled):
		s.o.Log.Info("consent: the client went away", "path", r.URL.Path, "request_id", httpx.RequestID(r.Context()))
	default:
		s.o.Log.Error("consent", "path", r.URL.Path, "request_id", httpx.RequestID(r.Context()), "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "The server could not complete the request.")
	}
}

// readForm reads a bounded form body and checks its CSRF token against the
// flow it names. It answers 400 for an unreadable body and 403 for a missing
// or foreign token, and then reports false: nothing else may happen.
func (s *Service) readForm(w http.ResponseWriter, r *http.Request) (flowID string, ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return "", false
	}
	flowID = r.PostForm.Get("flow")
	if !s.checkCSRF(r, flowID) {
		s.errorPage(w, r, http.StatusForbidden, "Your session has expired", "The form was not submitted from this site or is too old. Go back and try again.")
		return "", false
	}
	return flowID, true
}

type loginView struct {
	FlowID, CSRF, ClientName, Email, Error string
	// Logo is where this server serves the client's logo ("" for none).
	Logo string
	// PasskeyOptions and PasskeyCeremony drive "Sign in with a passkey"
	// and passkey autofill on the email field.
	PasskeyOptions, PasskeyCeremony string
	// Upstreams are the "Continue with …" buttons.
	Upstreams []upstreamButton
}

type upstreamButton struct{ ID, Name, Type string }

// renderLogin shows the login page with a new passkey challenge, sealed
// into the page (bound to this flow, used once): showing the page writes
// nothing to the database.
func (s *Service) renderLogin(w http.ResponseWriter, r *http.Request, status int, id string, d flowData, email, msg string) {
	v := loginView{FlowID: id, CSRF: s.csrfToken(w, r, id), ClientName: d.Request.ClientName, Email: email, Error: msg, Logo: d.Request.Logo}
	for _, u := range s.o.Upstreams {
		v.Upstreams = append(v.Upstreams, upstreamButton{ID: u.ID, Name: u.Name, Type: u.Type})
	}
	step, ok := s.steps["passkey"]
	if !ok {
		s.render(w, r, status, "login", v)
		return
	}
	p, err := step.Start(r.Context(), authn.Attempt{})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v.PasskeyCeremony, err = s.sealLoginChallenge(id, p.State); err != nil {
		s.fail(w, r, err)
		return
	}
	v.PasskeyOptions = string(p.Options)
	s.render(w, r, status, "login", v)
}

// takeCeremony consumes a sign-in ceremony of a flow (single use).
func (s *Service) takeCeremony(ctx context.Context, id, kind, flowID string) (ceremony, error) {
	c, err := s.getCeremony(ctx, id, kind)
	if err != nil {
		return c, err
	}
	if !hmac.Equal([]byte(c.Flow), []byte(flowID)) {
		return c, errWrongState
	}
	return c, s.useCeremony(ctx, id, kind)
}

func (s *Service) loginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("flow")
	f, d, err := s.loadFlow(r.Context(), id)
	if err == nil && f.State != StateLogin {
		err = errWrongState
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderLogin(w, r, http.StatusOK, id, d, d.Request.LoginHint, "")
}

// loginForm reads a form posted from the login page: CSRF-checked, for a
// flow still in the login state. It answers itself when it returns false.
func (s *Service) loginForm(w http.ResponseWriter, r *http.Request) (string, flowData, bool) {
	id, ok := s.readForm(w, r)
	if !ok {
		return "", flowData{}, false
	}
	f, d, err := s.loadFlow(r.Context(), id)
	if err == nil && f.State != StateLogin {
		err = errWrongState
	}
	if err != nil {
		s.fail(w, r, err)
		return "", flowData{}, false
	}
	return id, d, true
}

// errBadCredentials is the one message for every failed password login.
const errBadCredentials = "Incorrect email or password."

func (s *Service) loginSubmit(w http.ResponseWriter, r *http.Request) {
	id, d, ok := s.loginForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if _, on := s.steps["passkey"]; on && r.PostForm.Get("method") == "passkey" {
		s.passkeyLogin(w, r, id, d)
		return
	}
	email, password := strings.TrimSpace(r.PostForm.Get("email")), r.PostForm.Get("password")
	account := strings.ToLower(email)
	// The attempt is charged before the password is checked, so concurrent
	// guesses cannot get past the limit; it is given back on success.
	resv, err := s.attempts.Reserve(ctx, s.passwordKeys(r, account)...)
	if errors.Is(err, attempt.ErrLimited) {
		// The same answer whether or not the account exists.
		s.auditRepeated(ctx, r, "login.throttled", "", d.Request.ClientID, nil)
		tooManyAttempts(w, err)
		s.renderLogin(w, r, http.StatusTooManyRequests, id, d, email, "Too many failed attempts. Wait a moment and try again.")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.steps["pwd"].Verify(ctx, authn.Attempt{}, authn.Input{Email: email, Password: password})
	if err != nil {
		if errors.Is(err, authn.ErrAuthFailed) {
			s.auditRepeated(ctx, r, "login.failed", res.Subject, d.Request.ClientID, map[string]string{"method": "pwd"})
			s.renderLogin(w, r, http.StatusOK, id, d, email, errBadCredentials)
			return
		}
		s.giveBack(ctx, resv.Unchecked)
		s.fail(w, r, err)
		return
	}
	s.giveBack(ctx, resv.Succeeded)
	s.rememberDevice(w, r, account)
	s.firstFactorDone(w, r, id, d, res)
}

// passkeyLogin signs in with a discoverable passkey (no email, no
// password); the ceremony is consumed whatever the outcome.
func (s *Service) passkeyLogin(w http.ResponseWriter, r *http.Request, id string, d flowData) {
	ctx := r.Context()
	state, err := s.takeLoginChallenge(ctx, r.PostForm.Get("ceremony"), id)
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) {
			s.fail(w, r, err)
			return
		}
		s.renderLogin(w, r, http.StatusOK, id, d, "", "That passkey sign-in has expired. Try again.")
		return
	}
	res, err := s.steps["passkey"].Verify(ctx, authn.Attempt{State: state}, authn.Input{Credential: []byte(r.PostForm.Get("credential"))})
	if errors.Is(err, authn.ErrAuthFailed) {
		s.o.Log.Info("passkey sign-in refused", "request_id", httpx.RequestID(ctx), "err", err)
		s.auditRepeated(ctx, r, "login.failed", res.Subject, d.Request.ClientID, map[string]string{"method": "passkey"})
		s.renderLogin(w, r, http.StatusOK, id, d, "", "That passkey could not sign you in. Try again or use your password.")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.firstFactorDone(w, r, id, d, res)
}

// giveBack returns a reservation; a failure to do so only costs the user
// one counted attempt, so it is logged, not shown.
func (s *Service) giveBack(ctx context.Context, release func(context.Context) error) {
	if err := release(ctx); err != nil {
		s.o.Log.Warn("attempt not given back", "request_id", httpx.RequestID(ctx), "err", err)
	}
}

type consentView struct {
	FlowID, CSRF, ClientName, Email string
	Scopes                          []string
	// The client's home page, privacy policy and terms (https or empty),
	// and its logo as served by this server.
	ClientURI, PolicyURI, TOSURI, Logo string
}

// consentFlow loads a flow in the consent state that belongs to this browser.
func (s *Service) consentFlow(ctx context.Context, r *http.Request, id string) (flowData, storage.User, error) {
	f, d, err := s.loadFlow(ctx, id)
	if err != nil {
		return d, storage.User{}, err
	}
	if f.State != StateConsent {
		return d, storage.User{}, errWrongState
	}
	bs, ok, err := s.currentSession(ctx, r)
	if err != nil {
		return d, storage.User{}, err
	}
	if !ok || !hmac.Equal(bs.IDHash, d.SessionHash) {
		return d, storage.User{}, errWrongState
	}
	u, err := s.o.Store.GetUser(ctx, d.Subject)
	return d, u, err
}

func (s *Service) consentPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("flow")
	d, u, err := s.consentFlow(r.Context(), r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "consent", consentView{FlowID: id, CSRF: s.csrfToken(w, r, id), ClientName: d.Request.ClientName,
		Email: u.Email, Scopes: describeScopes(d.Request.Scopes), ClientURI: d.Request.ClientURI, PolicyURI: d.Request.PolicyURI, TOSURI: d.Request.TOSURI, Logo: d.Request.Logo})
}

func (s *Service) consentSubmit(w http.ResponseWriter, r *http.Request) {
	id, ok := s.readForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	d, _, err := s.consentFlow(ctx, r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	allow := r.PostForm.Get("action") == "allow"
	next := StateDenied
	if allow {
		next = StateGranted
		s.audit(ctx, r, "consent.granted", d.Subject, d.Request.ClientID, map[string]string{"scope": strings.Join(d.Request.Scopes, " "), "remember": r.PostForm.Get("remember")})
		if r.PostForm.Get("remember") == "yes" {
			now := s.o.Now().UTC()
			scopes := d.Remembered
			for _, sc := range d.Request.Scopes {
				if !slices.Contains(scopes, sc) {
					scopes = append(scopes, sc)
				}
			}
			if err := s.o.Store.PutConsent(ctx, storage.Consent{Subject: d.Subject, ClientID: d.Request.ClientID, Scopes: scopes,
				CreatedAt: now, ExpiresAt: now.Add(s.o.ConsentLifetime)}); err != nil {
				s.fail(w, r, err)
				return
			}
		}
	}
	if _, err := s.advance(ctx, id, []string{StateConsent}, next, func(d *flowData) error {
		if allow {
			d.GrantedScopes = append([]string{}, d.Request.Scopes...)
		} else {
			d.Denied = true
		}
		return nil
	}); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, flowURL(ResumePath, id), http.StatusSeeOther)
}
