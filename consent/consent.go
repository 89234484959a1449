// Package consent is the flow engine between "authorize" and the redirect
// back. Decide answers an authorization request: the browser's session is
// good enough and consent is remembered (a grant at once), or the browser
// is sent to a page with a flow, kept on the server and moved only by
// compare-and-swap along this machine, whose main line is
//
//	login --> mfa --> consent --> granted --> redeemed
//	                     |                       ^
//	                     +-------> denied -------+
//
// A step with nothing to do is skipped: mfa when one factor is enough,
// consent when it is remembered (login or mfa --> granted), and consent and
// granted both for a flow of gatehouse's own pages, which ends by returning
// to the page (login or mfa --> redeemed). State.CanMoveTo is the table.
//
// Beside a flow, a step may keep a ceremony (web.Ceremony), single-use
// state on the server bound to the flow and the browser, which moves
// pending --> used once by compare-and-swap: "passkey_mfa" (a passkey asked
// for as a second factor) and "federation" (the state of a redirect to an
// upstream provider) here, "totp_enroll" and "passkey_register" on the
// account pages. A passwordless passkey challenge is sealed into the login
// page instead, and used once through a one-time value.
//
// Redeem ends a granted or denied flow once. The pages that show the flow
// (sign-in, second factor, consent, "Login with …") move it with what the
// browser sends; each sign-in step is an authn.Authenticator from its own
// package (authn/password, authn/totp, authn/backup, authn/passkey,
// authn/upstream), and the account pages live in package account. It never
// imports fosite.
package consent

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/authn/upstream"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Paths of the pages this package serves.
const (
	PathLogin   = "/login"
	PathConsent = "/consent"
	PathMFA     = "/login/mfa"
	PathAccount = "/account"
)

// ResumePath is where a finished flow sends the browser (the provider's).
const ResumePath = "/oauth2/auth/resume"

// Store is what the engine itself needs: flows, the users they are for,
// remembered consent, stepping up a session, and one-time values.
type Store interface {
	storage.FlowStore
	GetUser(ctx context.Context, subject string) (storage.User, error)
	GetUserByEmail(ctx context.Context, email string) (storage.User, error)
	GetConsent(ctx context.Context, subject, clientID string, now time.Time) (storage.Consent, error)
	PutConsent(ctx context.Context, c storage.Consent) error
	StepUpSession(ctx context.Context, idHash []byte, amr []string, authTime time.Time) error
	ListCredentials(ctx context.Context, subject string, typ storage.CredentialType) ([]storage.Credential, error)
	// MarkJTIUsed records a used one-time value (a passkey sign-in
	// challenge); ErrAlreadyExists when it was used before.
	MarkJTIUsed(ctx context.Context, jti string, expiresAt, now time.Time) error
	// AddSessionClient records that a session signed in to a client.
	AddSessionClient(ctx context.Context, sid, clientID string, now time.Time) error
	storage.TxRunner
}

// Options configure a Service.
type Options struct {
	Store Store
	// Links are the upstream identities linked to local accounts.
	Links upstream.Store
	// Web is the page kit (shared with the account pages).
	Web *web.Kit
	// Attempts limits guesses at passwords and second factors (shared by
	// every replica, in the database).
	Attempts *attempt.Limiter
	// Steps are the sign-in steps, each known by its Method: "pwd",
	// "otp", "backup", "passkey" (a missing passkey step turns passkeys
	// off). Adding a way to sign in is adding a package under authn and
	// listing its step here.
	Steps []authn.Authenticator
	// CSRFKey keys the HMAC of remembered devices.
	CSRFKey []byte
	// Secure marks cookies Secure and uses the __Host- prefix (https issuer).
	Secure          bool
	ConsentLifetime time.Duration
	FlowLifetime    time.Duration
	Log             *slog.Logger
	Now             func() time.Time
	// Cipher seals passkey sign-in challenges and upstream tokens.
	Cipher authn.Sealer
	// PairwiseKey keys pairwise subject identifiers (the provider's): an
	// id_token_hint from a pairwise client names its user that way.
	PairwiseKey []byte
	// RequireMFA makes every sign-in to a client use two factors.
	RequireMFA bool
	// Upstreams are the "Login with …" identity providers.
	Upstreams []upstream.IdP
	// Issuer is gatehouse's issuer URL (for the federation callback).
	Issuer string
	// RecoverLink is where "Forgot your password?" leads ("" : no link,
	// when no mail can be sent); SignUpLink where "Create an account" does
	// ("" : registration is off).
	RecoverLink, SignUpLink string
	// EmailLogin turns on the email first factor (nil: off); its step
	// must be among Steps.
	EmailLogin *EmailLogin
}

// engine is the flow between "authorize" and "redirect back": its state
// machine, the steps that move it, and the pages that show it.
type engine struct {
	o Options
	// web is what the pages share with the account pages: rendering,
	// errors, CSRF, the session cookie, the audit log, ceremonies.
	web      *web.Kit
	attempts *attempt.Limiter
	steps    map[string]authn.Authenticator
}

// newEngine checks the options and builds the engine.
func newEngine(o Options) (*engine, error) {
	if len(o.CSRFKey) < 32 {
		return nil, errors.New("consent: the CSRF key must be at least 32 bytes")
	}
	if o.Cipher == nil || o.Web == nil || o.Attempts == nil || o.Store == nil || o.Links == nil {
		return nil, errors.New("consent: a store, a link store, a page kit, an attempt limiter and a cipher are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &engine{o: o, web: o.Web, attempts: o.Attempts, steps: map[string]authn.Authenticator{}}
	for _, a := range o.Steps {
		s.steps[a.Method()] = a
	}
	if _, ok := s.steps["passkey"]; !ok {
		o.Log.Warn("passkeys are off: the issuer is an IP address; set authn.webauthn_rp_id to a domain name to turn them on")
	}
	return s, nil
}

// Register mounts the login and consent pages.
func (e *engine) Register(mux *http.ServeMux) {
	s := loginPages{e}
	mux.HandleFunc("GET "+PathLogin, s.loginPage)
	mux.HandleFunc("POST "+PathLogin, s.loginSubmit)
	mux.HandleFunc("GET "+PathConsent, s.consentPage)
	mux.HandleFunc("POST "+PathConsent, s.consentSubmit)
	mux.HandleFunc("GET "+PathMFA, s.mfaPage)
	mux.HandleFunc("POST "+PathMFA, s.mfaSubmit)
	upstreamLogin{s}.registerFederation(mux)
	if e.o.EmailLogin != nil {
		mux.HandleFunc("POST "+PathEmailLogin, s.emailStart)
		mux.HandleFunc("GET "+PathEmailLoginLink, s.emailLink)
		mux.HandleFunc("POST "+PathEmailLoginCode, s.emailCode)
	}
}

// State is where a flow stands; see the package doc for the machine.
type State string

// The flow states; expiry is the row's expires_at, not a state.
const (
	StateLogin    State = "login"
	StateMFA      State = "mfa"
	StateConsent  State = "consent"
	StateGranted  State = "granted"
	StateDenied   State = "denied"
	StateRedeemed State = "redeemed"
)

// flowData is the flow's payload, stored server-side.
type flowData struct {
	Request       interaction.AuthorizeRequest `json:"request"`
	Subject       string                       `json:"subject,omitempty"`
	AuthTime      time.Time                    `json:"auth_time,omitempty"`
	AMR           []string                     `json:"amr,omitempty"`
	SID           string                       `json:"sid,omitempty"`
	SessionHash   []byte                       `json:"session_hash,omitempty"`
	GrantedScopes []string                     `json:"granted_scopes,omitempty"`
	Denied        bool                         `json:"denied,omitempty"`
	// Remembered are the scopes the user had already allowed this client.
	Remembered []string `json:"remembered,omitempty"`
	// Return is where a flow started by gatehouse's own pages (the account
	// page) ends, instead of an authorization response.
	Return string `json:"return,omitempty"`
	// StepUp: the flow strengthens the browser's existing session
	// (SessionHash) instead of starting a new one.
	StepUp bool `json:"step_up,omitempty"`
	// Browser binds a half-finished login (first factor passed) to the
	// browser that passed it: a hash of its CSRF cookie.
	Browser []byte `json:"browser,omitempty"`
	// Link is an upstream account to link once the user signs in to the
	// local account with its email.
	Link *pendingLink `json:"link,omitempty"`
}

// transitions lists the legal moves of the state machine.
var transitions = map[State][]State{
	StateLogin:   {StateMFA, StateConsent, StateGranted, StateRedeemed},
	StateMFA:     {StateConsent, StateGranted, StateRedeemed},
	StateConsent: {StateGranted, StateDenied},
	StateGranted: {StateRedeemed},
	StateDenied:  {StateRedeemed},
}

// CanMoveTo says whether the machine allows a move from s to to.
func (s State) CanMoveTo(to State) bool { return slices.Contains(transitions[s], to) }

// advance moves a flow from one of `from` to `to`, applying fn to its data,
// as one compare-and-swap.
func (s *engine) advance(ctx context.Context, id string, from []State, to State, fn func(*flowData) error) (flowData, error) {
	var out flowData
	_, err := s.o.Store.UpdateFlow(ctx, id, s.o.Now(), func(f storage.Flow) (storage.Flow, error) {
		if cur := State(f.State); !slices.Contains(from, cur) || !cur.CanMoveTo(to) {
			return f, fmt.Errorf("%w: %s, want %v", web.ErrWrongState, f.State, from)
		}
		var d flowData
		if err := json.Unmarshal(f.Data, &d); err != nil {
			return f, fmt.Errorf("decode flow: %w", err)
		}
		if err := fn(&d); err != nil {
			return f, err
		}
		b, err := json.Marshal(d)
		if err != nil {
			return f, err
		}
		f.State, f.Data = string(to), b
		out = d
		return f, nil
	})
	return out, err
}

func (s *engine) loadFlow(ctx context.Context, id string) (storage.Flow, flowData, error) {
	if id == "" || len(id) > 128 {
		return storage.Flow{}, flowData{}, storage.ErrNotFound
	}
	f, err := s.o.Store.GetFlow(ctx, id, s.o.Now())
	if err != nil {
		return f, flowData{}, err
	}
	var d flowData
	if err := json.Unmarshal(f.Data, &d); err != nil {
		return f, d, fmt.Errorf("decode flow: %w", err)
	}
	return f, d, nil
}

// logoutCSRF is the CSRF purpose of the logout confirmation, bound to the
// session it ends.
func logoutCSRF(sid string) string { return "logout\x00" + sid }

// logoutParams are the logout request's parameters a confirmation form
// carries back.
var logoutParams = []string{"id_token_hint", "post_logout_redirect_uri", "state", "client_id", "ui_locales", "logout_hint"}

// Logout ends the browser's session when the request names it (a verified
// hint of this very session) or the user confirmed; anything else (no
// hint, another session's, a forged one, a cross-site GET or POST) gets a
// page asking first.
func (s *engine) Logout(ctx context.Context, w http.ResponseWriter, r *http.Request, req interaction.LogoutRequest) (interaction.LogoutOutcome, error) {
	bs, ok, err := s.web.Session(ctx, r)
	if err != nil {
		return interaction.LogoutOutcome{}, err
	}
	if !ok {
		s.web.ExpireSessionCookie(w)
		return interaction.LogoutOutcome{}, nil
	}
	confirmed := r.Method == http.MethodPost && r.PostForm.Get("confirm") == "yes" && s.web.CheckCSRF(r, logoutCSRF(bs.SID))
	if req.HintSID == "" || !hmac.Equal([]byte(req.HintSID), []byte(bs.SID)) {
		if !confirmed {
			hidden := url.Values{}
			for _, k := range logoutParams {
				if v := req.Params.Get(k); v != "" {
					hidden.Set(k, v)
				}
			}
			email := ""
			if u, err := s.o.Store.GetUser(ctx, bs.Subject); err == nil {
				email = u.Email
			}
			s.web.Render(w, r, http.StatusOK, "logout_confirm", map[string]any{"CSRF": s.web.CSRFToken(w, r, logoutCSRF(bs.SID)), "Params": hidden, "Email": email})
			return interaction.LogoutOutcome{Asked: true}, nil
		}
	}
	// The store tells the session's clients (back-channel logout) in the
	// transaction that deletes it.
	bs, ok, err = s.web.EndSession(ctx, w, r)
	if err != nil || !ok {
		return interaction.LogoutOutcome{}, err
	}
	s.web.Audit(ctx, r, "logout", bs.Subject, "", map[string]string{"sid": bs.SID})
	return interaction.LogoutOutcome{Ended: interaction.EndedSession{SID: bs.SID, Subject: bs.Subject, Clients: bs.Clients}}, nil
}

func flowURL(path, id string) string { return path + "?" + url.Values{"flow": {id}}.Encode() }

// seenAs is a local subject as the request's client sees it.
func seenAs(req interaction.AuthorizeRequest, subject string, pairwiseKey []byte) string {
	if req.SubjectSector == "" {
		return subject
	}
	return interaction.PairwiseSubject(pairwiseKey, req.SubjectSector, subject)
}

// needsLogin says whether the session is not good enough for the request.
func needsLogin(now time.Time, req interaction.AuthorizeRequest, bs storage.BrowserSession, ok bool, pairwiseKey []byte) bool {
	if !ok || req.HasPrompt("login") || req.HasPrompt("select_account") || req.MaxAge == 0 {
		return true
	}
	if req.MaxAge > 0 && now.Sub(bs.AuthTime) > time.Duration(req.MaxAge)*time.Second {
		return true
	}
	if req.HintSubject != "" && req.HintSubject != seenAs(req, bs.Subject, pairwiseKey) {
		return true
	}
	// A deleted account's sessions are gone with it (ON DELETE CASCADE); a
	// disabled one is refused by the provider when it issues the code.
	return false
}

// needsConsent says whether the user must see the consent page, and which
// scopes the user has already allowed the client (kept in the flow, so a new
// "remember" adds to them without another read).
func (s *engine) needsConsent(ctx context.Context, req interaction.AuthorizeRequest, subject string) (bool, []string, error) {
	if req.FirstParty && !req.HasPrompt("consent") {
		return false, nil, nil
	}
	c, err := s.o.Store.GetConsent(ctx, subject, req.ClientID, s.o.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	if req.HasPrompt("consent") {
		return true, c.Scopes, nil
	}
	for _, want := range req.Scopes {
		if !slices.Contains(c.Scopes, want) {
			return true, c.Scopes, nil
		}
	}
	return false, c.Scopes, nil
}

// Decide grants at once when the session and remembered consent suffice,
// fails for prompt=none when they do not, and otherwise starts a flow.
func (s *engine) Decide(ctx context.Context, r *http.Request, req interaction.AuthorizeRequest) (interaction.Decision, error) {
	bs, ok, err := s.web.Session(ctx, r)
	if err != nil {
		return interaction.Decision{}, err
	}
	login := needsLogin(s.o.Now(), req, bs, ok, s.o.PairwiseKey)
	none := req.HasPrompt("none")
	if login && none {
		return interaction.Decision{}, interaction.ErrLoginRequired
	}
	consent, remembered := true, []string(nil)
	if !login {
		// The user read here goes with the grant: the request reads it once.
		more, user, err := s.needsSecondFactor(ctx, req, bs.Subject, bs.AMR)
		if err != nil {
			return interaction.Decision{}, err
		}
		if more {
			// The session is not strong enough: step it up, keeping it.
			if none {
				return interaction.Decision{}, interaction.ErrLoginRequired
			}
			return s.newFlow(ctx, StateMFA, flowData{Request: req, Subject: bs.Subject, AuthTime: bs.AuthTime, AMR: bs.AMR, SID: bs.SID,
				SessionHash: bs.IDHash, StepUp: true})
		}
		if consent, remembered, err = s.needsConsent(ctx, req, bs.Subject); err != nil {
			return interaction.Decision{}, err
		}
		if !consent {
			if err := s.signedInTo(ctx, bs, req.ClientID); err != nil {
				return interaction.Decision{}, err
			}
			return interaction.Decision{Grant: &interaction.Grant{
				Subject: bs.Subject, AuthTime: bs.AuthTime, AMR: reportedAMR(bs.AMR), ACR: policy(bs.AMR), SessionID: bs.SID,
				GrantedScopes: req.Scopes, Form: req.Form, RequestedAt: req.RequestedAt, User: user,
			}}, nil
		}
		if none {
			return interaction.Decision{}, interaction.ErrConsentRequired
		}
	}
	d := flowData{Request: req}
	state := StateLogin
	if !login {
		state = StateConsent
		d.Subject, d.AuthTime, d.AMR, d.SID, d.SessionHash = bs.Subject, bs.AuthTime, bs.AMR, bs.SID, bs.IDHash
		d.Remembered = remembered
	}
	return s.newFlow(ctx, state, d)
}

// newFlow stores a flow and says where the browser goes for its state.
func (s *engine) newFlow(ctx context.Context, state State, d flowData) (interaction.Decision, error) {
	return s.newFlowFor(ctx, state, d, s.o.FlowLifetime)
}

// newFlowFor stores a flow that expires after lifetime.
func (s *engine) newFlowFor(ctx context.Context, state State, d flowData, lifetime time.Duration) (interaction.Decision, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return interaction.Decision{}, err
	}
	now := s.o.Now().UTC()
	f := storage.Flow{ID: httpx.RandomString(32), State: string(state), Data: b, CreatedAt: now, ExpiresAt: now.Add(lifetime)}
	if err := s.o.Store.CreateFlow(ctx, f); err != nil {
		return interaction.Decision{}, err
	}
	path := map[State]string{StateLogin: PathLogin, StateMFA: PathMFA, StateConsent: PathConsent}[state]
	return interaction.Decision{RedirectTo: flowURL(path, f.ID)}, nil
}

// Redeem completes a granted or denied flow once, in the browser that
// authenticated it.
func (s *engine) Redeem(ctx context.Context, r *http.Request, flowID string) (interaction.Grant, error) {
	if _, _, err := s.loadFlow(ctx, flowID); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return interaction.Grant{}, interaction.ErrFlowInvalid
		}
		return interaction.Grant{}, err
	}
	bs, ok, err := s.web.Session(ctx, r)
	if err != nil {
		return interaction.Grant{}, err
	}
	d, err := s.advance(ctx, flowID, []State{StateGranted, StateDenied}, StateRedeemed, func(d *flowData) error {
		if !ok || !hmac.Equal(bs.IDHash, d.SessionHash) {
			return web.ErrWrongState
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, web.ErrWrongState) || errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
			return interaction.Grant{}, interaction.ErrFlowInvalid
		}
		return interaction.Grant{}, err
	}
	g := interaction.Grant{
		Subject: d.Subject, AuthTime: d.AuthTime, AMR: reportedAMR(d.AMR), ACR: policy(d.AMR), SessionID: d.SID,
		GrantedScopes: d.GrantedScopes, Form: d.Request.Form, RequestedAt: d.Request.RequestedAt,
	}
	if d.Denied {
		return g, interaction.ErrAccessDenied
	}
	if err := s.signedInTo(ctx, bs, d.Request.ClientID); err != nil {
		return interaction.Grant{}, err
	}
	return g, nil
}

// signedInTo records that the session bs signed in to a client, unless it
// has already (the session read says so): ending the session tells every
// client it signed in to.
func (s *engine) signedInTo(ctx context.Context, bs storage.BrowserSession, clientID string) error {
	if slices.Contains(bs.Clients, clientID) {
		return nil
	}
	return s.o.Store.AddSessionClient(ctx, bs.SID, clientID, s.o.Now().UTC())
}

// auditWindow is the window over which repeated failures are one audit row.

// pageFlowLifetime is how long a sign-in to one of gatehouse's own pages
// (the account page) may take.
const pageFlowLifetime = 15 * time.Minute

// SignIn sends the browser through a login that returns to returnTo, one
// of gatehouse's own pages (prompt login re-authenticates a signed-in
// user; hint fills in the email).
func (s *engine) SignIn(w http.ResponseWriter, r *http.Request, returnTo string, prompt []string, hint string) {
	now := s.o.Now().UTC().Truncate(time.Second)
	// Anyone can open the account page: its flow is short-lived, so rows
	// made by requests that never sign in are collected within minutes.
	dec, err := s.newFlowFor(r.Context(), StateLogin, flowData{Request: interaction.AuthorizeRequest{ClientName: "your account", MaxAge: -1, Prompt: prompt,
		LoginHint: hint, RequestedAt: now}, Return: returnTo}, pageFlowLifetime)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	http.Redirect(w, r, dec.RedirectTo, http.StatusSeeOther)
}

// Service is the sign-in flow as the protocol (interaction.Interactor), the
// account pages (SignIn) and the server (Register) see it.
type Service struct{ e *engine }

var _ interaction.Interactor = (*Service)(nil)

// New returns a Service.
func New(o Options) (*Service, error) {
	e, err := newEngine(o)
	if err != nil {
		return nil, err
	}
	return &Service{e: e}, nil
}

// Register mounts the login, second-factor, consent and federated login
// pages.
func (s *Service) Register(mux *http.ServeMux) { s.e.Register(mux) }

// Decide answers an authorization request: granted already, or where to
// send the browser.
func (s *Service) Decide(ctx context.Context, r *http.Request, req interaction.AuthorizeRequest) (interaction.Decision, error) {
	return s.e.Decide(ctx, r, req)
}

// Redeem completes a granted or denied flow, once.
func (s *Service) Redeem(ctx context.Context, r *http.Request, flowID string) (interaction.Grant, error) {
	return s.e.Redeem(ctx, r, flowID)
}

// Logout ends the browser's session for RP-initiated logout, asking the
// user first unless the request names this session.
func (s *Service) Logout(ctx context.Context, w http.ResponseWriter, r *http.Request, req interaction.LogoutRequest) (interaction.LogoutOutcome, error) {
	return s.e.Logout(ctx, w, r, req)
}

// SignIn sends the browser through a login that returns to returnTo, one
// of gatehouse's own pages.
func (s *Service) SignIn(w http.ResponseWriter, r *http.Request, returnTo string, prompt []string, hint string) {
	s.e.SignIn(w, r, returnTo, prompt, hint)
}
