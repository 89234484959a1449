package consent

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
)

// needsSecondFactor says whether a login with amr must add a factor for
// this request: the user has one enrolled (then it is always required), or
// the client or the server requires two. acr_values alone cannot demand a
// factor the user does not have (the ID token's acr says what was done).
// It returns the user when it read it (nil when amr settles it).
func (s *engine) needsSecondFactor(ctx context.Context, req interaction.AuthorizeRequest, subject string, amr []string) (bool, *storage.User, error) {
	if policy(amr) == interaction.ACRTwoFactor {
		return false, nil, nil
	}
	u, err := s.o.Store.GetUser(ctx, subject)
	if err != nil {
		return false, nil, err
	}
	required, _ := mfaDemand(req, s.o.RequireMFA)
	return u.SecondFactor || required, &u, nil
}

// firstFactorDone moves a flow on after a first factor: to the
// second-factor page when one is needed, otherwise to a new session.
func (s loginPages) firstFactorDone(w http.ResponseWriter, r *http.Request, id string, d flowData, res authn.Result) {
	ctx := r.Context()
	more, _, err := s.needsSecondFactor(ctx, d.Request, res.Subject, res.AMR)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	if !more {
		s.completeLogin(w, r, id, StateLogin, d, res.Subject, res.AMR)
		return
	}
	browser := s.web.BrowserHash(r)
	if browser == nil {
		s.web.ErrorPage(w, r, http.StatusForbidden, "Your session has expired", "Cookies are needed to sign in. Go back and try again.")
		return
	}
	if _, err := s.advance(ctx, id, []State{StateLogin}, StateMFA, func(fd *flowData) error {
		fd.Subject, fd.AMR, fd.AuthTime, fd.Browser = res.Subject, res.AMR, res.AuthTime.UTC().Truncate(time.Second), browser
		return nil
	}); err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.web.Audit(ctx, r, "login.first_factor", res.Subject, d.Request.ClientID, map[string]string{"amr": strings.Join(res.AMR, " ")})
	http.Redirect(w, r, flowURL(PathMFA, id), http.StatusSeeOther)
}

// completeLogin ends the login part of a flow with amr: a new session (or
// the existing one stepped up), then consent, the authorization response,
// or the page that started the flow.
func (s loginPages) completeLogin(w http.ResponseWriter, r *http.Request, id string, from State, d flowData, subject string, amr []string) {
	ctx := r.Context()
	now := s.o.Now().UTC()
	var sid string
	var sessionHash []byte
	authTime := now.Truncate(time.Second)
	if d.StepUp {
		if err := s.o.Store.StepUpSession(ctx, d.SessionHash, amr, authTime); err != nil {
			s.web.Fail(w, r, err)
			return
		}
		sid, sessionHash = d.SID, d.SessionHash
	} else {
		bs, err := s.web.StartSession(ctx, w, r, subject, amr, now)
		if err != nil {
			s.web.Fail(w, r, err)
			return
		}
		sid, sessionHash, authTime = bs.SID, bs.IDHash, bs.AuthTime
	}
	if !d.StepUp {
		if err := s.linkPending(ctx, r, d, subject); err != nil {
			s.web.Fail(w, r, err)
			return
		}
	}
	next := StateRedeemed
	var remembered []string
	if d.Return == "" {
		consent, rem, err := s.needsConsent(ctx, d.Request, subject)
		if err != nil {
			s.web.Fail(w, r, err)
			return
		}
		next, remembered = StateConsent, rem
		if !consent {
			next = StateGranted
		}
	}
	_, err := s.advance(ctx, id, []State{from}, next, func(fd *flowData) error {
		fd.Subject, fd.AuthTime, fd.AMR, fd.SID, fd.SessionHash = subject, authTime, amr, sid, sessionHash
		fd.Remembered, fd.Browser, fd.Link = remembered, nil, nil
		if next == StateGranted {
			fd.GrantedScopes = fd.Request.Scopes
		}
		return nil
	})
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	typ := "login"
	if d.StepUp {
		typ = "login.step_up"
	}
	s.web.Audit(ctx, r, typ, subject, d.Request.ClientID, map[string]string{"amr": strings.Join(amr, " "), "sid": sid})
	switch next {
	case StateRedeemed:
		http.Redirect(w, r, d.Return, http.StatusSeeOther)
	case StateGranted:
		http.Redirect(w, r, flowURL(ResumePath, id), http.StatusSeeOther)
	default:
		http.Redirect(w, r, flowURL(PathConsent, id), http.StatusSeeOther)
	}
}

type mfaView struct {
	FlowID, CSRF, ClientName, Error string
	Methods                         []string
	StepUp                          bool
	// PasskeyOptions and PasskeyCeremony offer a passkey as the factor.
	PasskeyOptions, PasskeyCeremony string
}

// mfaFlow loads a flow waiting for a second factor in the browser that
// passed the first one (or that owns the session being stepped up).
func (s loginPages) mfaFlow(ctx context.Context, r *http.Request, id string) (flowData, error) {
	f, d, err := s.loadFlow(ctx, id)
	if err != nil {
		return d, err
	}
	if State(f.State) != StateMFA {
		return d, web.ErrWrongState
	}
	if d.StepUp {
		bs, ok, err := s.web.Session(ctx, r)
		if err != nil {
			return d, err
		}
		if !ok || !hmac.Equal(bs.IDHash, d.SessionHash) {
			return d, web.ErrWrongState
		}
		return d, nil
	}
	if b := s.web.BrowserHash(r); b == nil || !hmac.Equal(b, d.Browser) {
		return d, web.ErrWrongState
	}
	return d, nil
}

func (s loginPages) mfaPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("flow")
	d, err := s.mfaFlow(r.Context(), r, id)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.renderMFA(w, r, http.StatusOK, id, d, "")
}

func (s loginPages) renderMFA(w http.ResponseWriter, r *http.Request, status int, id string, d flowData, msg string) {
	methods, _, err := authn.SecondFactors(r.Context(), s.o.Store, d.Subject)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	if len(methods) == 0 {
		s.web.ErrorPage(w, r, http.StatusForbidden, "Two-step verification required",
			"This application requires a second sign-in step, and your account has none yet. Set one up on your account page ("+PathAccount+"), then try again.")
		return
	}
	v := mfaView{FlowID: id, CSRF: s.web.CSRFToken(w, r, id), ClientName: d.Request.ClientName, Error: msg, Methods: methods, StepUp: d.StepUp}
	if step, on := s.steps["passkey"]; on && slices.Contains(methods, "passkey") {
		p, err := step.Start(r.Context(), authn.Attempt{Subject: d.Subject})
		if err != nil {
			s.web.Fail(w, r, err)
			return
		}
		v.PasskeyCeremony, v.PasskeyOptions = httpx.RandomString(32), string(p.Options)
		if err := s.web.NewCeremony(r.Context(), v.PasskeyCeremony, ceremonyPasskeyMFA, web.Ceremony{Flow: id, Subject: d.Subject, WebAuthn: p.State}); err != nil {
			s.web.Fail(w, r, err)
			return
		}
	}
	s.web.Render(w, r, status, "mfa", v)
}

func (s loginPages) mfaSubmit(w http.ResponseWriter, r *http.Request) {
	id, ok := s.readForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	d, err := s.mfaFlow(ctx, r, id)
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	method := r.PostForm.Get("method")
	step, known := s.steps[method]
	if !known || method == "pwd" {
		s.renderMFA(w, r, http.StatusBadRequest, id, d, "Choose a way to verify.")
		return
	}
	// Charged before the factor is checked, given back when it is right.
	resv, err := s.attempts.Reserve(ctx, authn.FactorKeys(httpx.ClientIP(r), d.Subject)...)
	if errors.Is(err, attempt.ErrLimited) {
		s.web.AuditRepeated(ctx, r, "login.mfa.throttled", d.Subject, d.Request.ClientID, map[string]string{"method": method})
		web.TooManyAttempts(w, err)
		s.renderMFA(w, r, http.StatusTooManyRequests, id, d, "Too many failed attempts. Wait a moment and try again.")
		return
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	a := authn.Attempt{Subject: d.Subject}
	if method == "passkey" {
		c, err := s.web.TakeCeremony(ctx, r.PostForm.Get("ceremony"), ceremonyPasskeyMFA, id)
		if errors.Is(err, storage.ErrUnavailable) {
			s.web.GiveBack(ctx, resv.Unchecked)
			s.web.Fail(w, r, err)
			return
		}
		if err != nil || c.Subject != d.Subject {
			s.web.GiveBack(ctx, resv.Unchecked)
			s.renderMFA(w, r, http.StatusOK, id, d, "That passkey request has expired. Try again.")
			return
		}
		a.State = c.WebAuthn
	}
	res, err := step.Verify(ctx, a, authn.Input{Code: r.PostForm.Get("code"), Credential: []byte(r.PostForm.Get("credential"))})
	if errors.Is(err, authn.ErrAuthFailed) || (err == nil && res.Subject != d.Subject) {
		s.web.AuditRepeated(ctx, r, "login.mfa.failed", d.Subject, d.Request.ClientID, map[string]string{"method": method})
		s.renderMFA(w, r, http.StatusOK, id, d, web.BadCode)
		return
	}
	if err != nil {
		s.web.GiveBack(ctx, resv.Unchecked)
		s.web.Fail(w, r, err)
		return
	}
	s.web.GiveBack(ctx, resv.Succeeded)
	amr := slices.Clone(d.AMR)
	for _, m := range res.AMR {
		if !slices.Contains(amr, m) {
			amr = append(amr, m)
		}
	}
	if method == "backup" {
		if _, left, err := authn.SecondFactors(ctx, s.o.Store, d.Subject); err == nil && left <= 3 {
			s.web.Audit(ctx, r, "mfa.backup_codes.low", d.Subject, "", map[string]string{"left": fmt.Sprint(left)})
		}
	}
	s.completeLogin(w, r, id, StateMFA, d, d.Subject, amr)
}
