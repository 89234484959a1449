package consent

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/account"
	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/authn/email"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Paths of the email sign-in.
const (
	PathEmailLogin     = "/login/email"
	PathEmailLoginLink = "/login/email/link"
	PathEmailLoginCode = "/login/email/code"
)

// EmailLogin turns on the email first factor (authn.email_login).
type EmailLogin struct {
	Step email.Step
	// Mail sends the link and the code.
	Mail account.Mailer
}

const ceremonyEmailLogin = "email_login"

// Attempt policies of sign-in links: per client address and per account
// (an inbox cannot be flooded).
var (
	emailLinkAddressPolicy = storage.AttemptPolicy{Free: 20, Base: time.Minute, Max: 15 * time.Minute, Window: 15 * time.Minute}
	emailLinkAccountPolicy = storage.AttemptPolicy{Free: 5, Base: 5 * time.Minute, Max: time.Hour, Window: time.Hour}
)

// linkCeremony is the ceremony id of a sign-in link: its SHA-256, so the
// database never holds a usable link.
func linkCeremony(token string) string {
	h := sha256.Sum256([]byte("email-login\x00" + token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

type emailSentView struct {
	FlowID, CSRF, Ceremony, Email, Error string
}

func (s loginPages) renderEmailSent(w http.ResponseWriter, r *http.Request, status int, id, ceremony, address, msg string) {
	s.web.Render(w, r, status, "email_sent", emailSentView{FlowID: id, CSRF: s.web.CSRFToken(w, r, id), Ceremony: ceremony, Email: address, Error: msg})
}

// emailStart mails a sign-in link and a code to an account's address, for
// this flow and this browser only; an address without an account gets a
// message saying so, and the page is the same.
func (s loginPages) emailStart(w http.ResponseWriter, r *http.Request) {
	id, d, ok := s.loginForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	address := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
	if !strings.Contains(address, "@") || len(address) > 320 || strings.ContainsAny(address, "\r\n \t") {
		s.renderLogin(w, r, http.StatusOK, id, d, address, "Enter your email address, then ask for a sign-in link.")
		return
	}
	browser := s.web.BrowserHash(r)
	if browser == nil {
		s.web.ErrorPage(w, r, http.StatusBadRequest, "Cookies are needed", "This browser must keep cookies to sign in with a link.")
		return
	}
	_, err := s.attempts.Reserve(ctx,
		attempt.Key{Name: "emaillink:ip:" + authn.AddressKey(httpx.ClientIP(r)), Policy: emailLinkAddressPolicy},
		attempt.Key{Name: "emaillink:acct:" + address, Policy: emailLinkAccountPolicy})
	if errors.Is(err, attempt.ErrLimited) {
		web.TooManyAttempts(w, err)
		s.renderLogin(w, r, http.StatusTooManyRequests, id, d, address, "Too many sign-in links asked for. Wait a while, then try again.")
		return
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	el := s.o.EmailLogin
	data := map[string]any{"Email": address, "Valid": "10 minutes"}
	ceremony := linkCeremony(httpx.RandomString(32)) // a ceremony of nobody for an address without an account
	u, err := s.o.Store.GetUserByEmail(ctx, address)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		err = el.Mail.Queue(ctx, address, "email_login_unknown", data)
	case err == nil && !u.Disabled:
		var p authn.Prompt
		if p, err = el.Step.Start(ctx, authn.Attempt{Subject: u.Subject}); err != nil {
			break
		}
		var sec email.Secrets
		if err = json.Unmarshal(p.Options, &sec); err != nil {
			break
		}
		ceremony = linkCeremony(sec.Link)
		data["Link"], data["Code"] = s.o.Issuer+PathEmailLoginLink+"?"+url.Values{"token": {sec.Link}}.Encode(), sec.Code
		err = s.o.Store.InTx(ctx, func(ctx context.Context) error {
			if err := s.web.NewCeremony(ctx, ceremony, ceremonyEmailLogin, web.Ceremony{Flow: id, Subject: u.Subject, Browser: browser, WebAuthn: p.State}); err != nil {
				return err
			}
			return el.Mail.Queue(ctx, u.Email, "email_login", data)
		})
		if err == nil {
			s.web.Audit(ctx, r, "login.email_sent", u.Subject, d.Request.ClientID, nil)
		}
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.renderEmailSent(w, r, http.StatusOK, id, ceremony, address, "")
}

// emailLink signs in with a link, in the browser that asked for it only.
func (s loginPages) emailLink(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := r.URL.Query().Get("token")
	expired := func() {
		s.web.ErrorPage(w, r, http.StatusBadRequest, "This sign-in link has expired", "It was used already or is older than 10 minutes. Ask for a new one from the sign-in page.")
	}
	if token == "" || len(token) > 128 {
		expired()
		return
	}
	id := linkCeremony(token)
	c, err := s.web.GetCeremony(ctx, id, ceremonyEmailLogin)
	if errors.Is(err, storage.ErrUnavailable) {
		s.web.Fail(w, r, err)
		return
	}
	if err != nil {
		expired()
		return
	}
	if !hmac.Equal(c.Browser, s.web.BrowserHash(r)) {
		// Opened elsewhere (another device, or a page that relayed it):
		// nothing signs in here; the original browser can still use it.
		s.web.AuditRepeated(ctx, r, "login.failed", c.Subject, "", map[string]string{"method": "email", "reason": "other_browser"})
		s.web.Render(w, r, http.StatusOK, "email_elsewhere", nil)
		return
	}
	s.emailFinish(w, r, c.Flow, id, c, authn.Input{Credential: []byte(token)}, expired)
}

// emailCode signs in with the code, typed in the browser that asked.
func (s loginPages) emailCode(w http.ResponseWriter, r *http.Request) {
	id, _, ok := s.loginForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	ceremony, address := r.PostForm.Get("ceremony"), r.PostForm.Get("email")
	wrong := func(status int, msg string) { s.renderEmailSent(w, r, status, id, ceremony, address, msg) }
	c, err := s.web.GetCeremony(ctx, ceremony, ceremonyEmailLogin)
	if errors.Is(err, storage.ErrUnavailable) {
		s.web.Fail(w, r, err)
		return
	}
	if err != nil || !hmac.Equal([]byte(c.Flow), []byte(id)) || !hmac.Equal(c.Browser, s.web.BrowserHash(r)) {
		wrong(http.StatusOK, web.BadCode) // the same answer as a wrong code
		return
	}
	resv, err := s.attempts.Reserve(ctx, authn.FactorKeys(httpx.ClientIP(r), c.Subject)...)
	if errors.Is(err, attempt.ErrLimited) {
		web.TooManyAttempts(w, err)
		wrong(http.StatusTooManyRequests, "Too many failed attempts. Wait a moment and try again.")
		return
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.emailFinish(w, r, id, ceremony, c, authn.Input{Code: r.PostForm.Get("code")}, func() {
		s.web.AuditRepeated(ctx, r, "login.failed", c.Subject, "", map[string]string{"method": "email"})
		wrong(http.StatusOK, web.BadCode)
	}, resv)
}

// emailFinish checks the link or code, uses the ceremony once, and moves
// the flow on as any first factor does (a second factor may follow).
func (s loginPages) emailFinish(w http.ResponseWriter, r *http.Request, flowID, ceremony string, c web.Ceremony, in authn.Input, refused func(), resv ...*attempt.Reservation) {
	ctx := r.Context()
	res, err := s.steps["email"].Verify(ctx, authn.Attempt{Subject: c.Subject, State: c.WebAuthn}, in)
	if errors.Is(err, authn.ErrAuthFailed) {
		refused()
		return
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	for _, rv := range resv {
		s.web.GiveBack(ctx, rv.Succeeded)
	}
	if err := s.web.UseCeremony(ctx, ceremony, ceremonyEmailLogin); err != nil {
		refused() // used meanwhile by a concurrent request
		return
	}
	f, d, err := s.loadFlow(ctx, flowID)
	if err == nil && State(f.State) != StateLogin {
		err = web.ErrWrongState
	}
	if err != nil {
		s.web.Fail(w, r, err)
		return
	}
	s.firstFactorDone(w, r, flowID, d, res)
}
