package consent

import (
	"context"
	"crypto/hmac"
	"errors"
	"net/http"
	"slices"
	"strings"

	pwd "github.com/gatehouse-id/gatehouse/authn/password"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
)

// scopeText describes scopes in plain words on the consent page.
var scopeText = map[string]string{
	"openid":         "Know who you are (your account identifier)",
	"profile":        "See your name and profile details",
	"email":          "See your email address",
	"address":        "See your postal address",
	"phone":          "See your phone number",
	"offline_access": "Keep access while you are not using it",
}

// loginPages are the sign-in, second-factor and consent pages: they show
// the flow and move it with what the browser sends.
type loginPages struct{ *engine }

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

// readForm reads a bounded form body and checks its CSRF token against the
// flow it names. It answers 400 for an unreadable body and 403 for a missing
// or foreign token, and then reports false: nothing else may happen.
func (s loginPages) readForm(w http.ResponseWriter, r *http.Request) (flowID string, ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, web.MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.web.ErrorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return "", false
	}
	flowID = r.PostForm.Get("flow")
	if !s.web.CheckCSRF(r, flowID) {
		s.web.ErrorPage(w, r, http.StatusForbidden, "Your session has expired", "The form was not submitted from this site or is too old. Go back and try again.")
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
	// Recover is the "Forgot your password?" link, SignUp the "Create an
	// account" one ("" : none).
	Recover, SignUp string
	// EmailLogin offers "Email me a sign-in link".
	EmailLogin bool
}

type upstreamButton struct{ ID, Name, Type string }

// renderLogin shows the login page with a new passkey challenge, sealed
// into the page (bound to this flow, used once): showing the page writes
// nothing to the database.
func (s loginPages) renderLogin(w http.ResponseWriter, r *http.Request, status int, id string, d flowData, email, msg string) {
	v := loginView{FlowID: id, CSRF: s.web.CSRFToken(w, r, id), ClientName: d.Request.ClientName, Email: email, Error: msg, Logo: d.Request.Logo,
		Recover: s.o.RecoverLink, SignUp: s.o.SignUpLink, EmailLogin: s.o.EmailLogin != nil}
	for _, u := range s.o.Upstreams {
		v.Upstreams = append(v.Upstreams, upstreamButton{ID: u.ID, Name: u.Name, Type: u.Type})
	}
	step, ok := s.steps["passkey"]
	if !ok {
		s.web.Render(w, r, status, "login", v)
		return
	}
	p, err := step.Start(r.Context(), authn.Attempt{})
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	if v.PasskeyCeremony, err = s.sealLoginChallenge(id, p.State); err != nil {
		s.web.Fail(w, r, err)
		return
	}
	v.PasskeyOptions = string(p.Options)
	s.web.Render(w, r, status, "login", v)
}

func (s loginPages) loginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("flow")
	f, d, err := s.loadFlow(r.Context(), id)
	if err == nil && State(f.State) != StateLogin {
		err = web.ErrWrongState
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.renderLogin(w, r, http.StatusOK, id, d, d.Request.LoginHint, "")
}

// loginForm reads a form posted from the login page: CSRF-checked, for a
// flow still in the login state. It answers itself when it returns false.
func (s loginPages) loginForm(w http.ResponseWriter, r *http.Request) (string, flowData, bool) {
	id, ok := s.readForm(w, r)
	if !ok {
		return "", flowData{}, false
	}
	f, d, err := s.loadFlow(r.Context(), id)
	if err == nil && State(f.State) != StateLogin {
		err = web.ErrWrongState
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return "", flowData{}, false
	}
	return id, d, true
}

// errBadCredentials is the one message for every failed password login.
const errBadCredentials = "Incorrect email or password."

func (s loginPages) loginSubmit(w http.ResponseWriter, r *http.Request) {
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
		s.web.AuditRepeated(ctx, r, "login.throttled", "", d.Request.ClientID, nil)
		web.TooManyAttempts(w, err)
		s.renderLogin(w, r, http.StatusTooManyRequests, id, d, email, "Too many failed attempts. Wait a moment and try again.")
		return
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	res, err := s.steps["pwd"].Verify(ctx, authn.Attempt{}, authn.Input{Email: email, Password: password})
	if errors.Is(err, pwd.ErrUnverified) {
		// The right password: the attempt is given back, the sign-in waits
		// for the confirmation link.
		s.web.GiveBack(ctx, resv.Succeeded)
		s.web.Audit(ctx, r, "login.unverified", res.Subject, d.Request.ClientID, nil)
		s.renderLogin(w, r, http.StatusOK, id, d, email, "Confirm your email address first: open the link we sent to "+email+".")
		return
	}
	if err != nil {
		if errors.Is(err, authn.ErrAuthFailed) {
			s.web.AuditRepeated(ctx, r, "login.failed", res.Subject, d.Request.ClientID, map[string]string{"method": "pwd"})
			s.renderLogin(w, r, http.StatusOK, id, d, email, errBadCredentials)
			return
		}
		s.web.GiveBack(ctx, resv.Unchecked)
		s.web.Fail(w, r, err)
		return
	}
	s.web.GiveBack(ctx, resv.Succeeded)
	s.rememberDevice(w, r, account)
	s.firstFactorDone(w, r, id, d, res)
}

// passkeyLogin signs in with a discoverable passkey (no email, no
// password); the ceremony is consumed whatever the outcome.
func (s loginPages) passkeyLogin(w http.ResponseWriter, r *http.Request, id string, d flowData) {
	ctx := r.Context()
	state, err := s.takeLoginChallenge(ctx, r.PostForm.Get("ceremony"), id)
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) {
			s.web.Fail(w, r, err)
			return
		}
		s.renderLogin(w, r, http.StatusOK, id, d, "", "That passkey sign-in has expired. Try again.")
		return
	}
	res, err := s.steps["passkey"].Verify(ctx, authn.Attempt{State: state}, authn.Input{Credential: []byte(r.PostForm.Get("credential"))})
	if errors.Is(err, authn.ErrAuthFailed) {
		s.o.Log.Info("passkey sign-in refused", "request_id", httpx.RequestID(ctx), "err", err)
		s.web.AuditRepeated(ctx, r, "login.failed", res.Subject, d.Request.ClientID, map[string]string{"method": "passkey"})
		s.renderLogin(w, r, http.StatusOK, id, d, "", "That passkey could not sign you in. Try again or use your password.")
		return
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.firstFactorDone(w, r, id, d, res)
}

type consentView struct {
	FlowID, CSRF, ClientName, Email string
	Scopes                          []string
	// The client's home page, privacy policy and terms (https or empty),
	// and its logo as served by this server.
	ClientURI, PolicyURI, TOSURI, Logo string
}

// consentFlow loads a flow in the consent state that belongs to this browser.
func (s loginPages) consentFlow(ctx context.Context, r *http.Request, id string) (flowData, storage.User, error) {
	f, d, err := s.loadFlow(ctx, id)
	if err != nil {
		return d, storage.User{}, err
	}
	if State(f.State) != StateConsent {
		return d, storage.User{}, web.ErrWrongState
	}
	bs, ok, err := s.web.Session(ctx, r)
	if err != nil {
		return d, storage.User{}, err
	}
	if !ok || !hmac.Equal(bs.IDHash, d.SessionHash) {
		return d, storage.User{}, web.ErrWrongState
	}
	u, err := s.o.Store.GetUser(ctx, d.Subject)
	return d, u, err
}

func (s loginPages) consentPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("flow")
	d, u, err := s.consentFlow(r.Context(), r, id)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.web.Render(w, r, http.StatusOK, "consent", consentView{FlowID: id, CSRF: s.web.CSRFToken(w, r, id), ClientName: d.Request.ClientName,
		Email: u.Email, Scopes: describeScopes(d.Request.Scopes), ClientURI: d.Request.ClientURI, PolicyURI: d.Request.PolicyURI, TOSURI: d.Request.TOSURI, Logo: d.Request.Logo})
}

func (s loginPages) consentSubmit(w http.ResponseWriter, r *http.Request) {
	id, ok := s.readForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	d, _, err := s.consentFlow(ctx, r, id)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	allow := r.PostForm.Get("action") == "allow"
	next := StateDenied
	if allow {
		next = StateGranted
		s.web.Audit(ctx, r, "consent.granted", d.Subject, d.Request.ClientID, map[string]string{"scope": strings.Join(d.Request.Scopes, " "), "remember": r.PostForm.Get("remember")})
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
				s.web.Fail(w, r, err)
				return
			}
		}
	}
	if _, err := s.advance(ctx, id, []State{StateConsent}, next, func(d *flowData) error {
		if allow {
			d.GrantedScopes = append([]string{}, d.Request.Scopes...)
		} else {
			d.Denied = true
		}
		return nil
	}); err != nil {
		s.web.Fail(w, r, err)
		return
	}
	http.Redirect(w, r, flowURL(ResumePath, id), http.StatusSeeOther)
}
