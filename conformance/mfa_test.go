package conformance

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"
)

const acr2FA = "urn:gatehouse:acr:2fa"

// accountPage signs in (if needed) and returns the account page.
func accountPage(t *testing.T, br *browser, u user) page {
	t.Helper()
	p := br.follow(br.get(br.srv.issuer + "/account"))
	if strings.Contains(p.body, `action="/login"`) {
		p = br.login(p, u)
	}
	if !strings.Contains(p.body, `id="account-email"`) {
		t.Fatalf("not the account page (%d):\n%s", p.status, p.body)
	}
	return p
}

var (
	secretRe = regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`)
	codeRe   = regexp.MustCompile(`<li><code>([a-z0-9-]+)</code></li>`)
)

// enrollTOTP sets up an authenticator app from the account page and
// returns its secret and the backup codes shown once.
func enrollTOTP(t *testing.T, br *browser, account page) (string, []string) {
	t.Helper()
	p := br.submit(findForm(t, account, "/account/totp"), nil)
	m := secretRe.FindStringSubmatch(p.body)
	if m == nil || !strings.Contains(p.body, "<svg") {
		t.Fatalf("no secret or QR code on the setup page (%d):\n%s", p.status, p.body)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	// A wrong code enrolls nothing.
	wrong := br.submit(findForm(t, p, "/account/totp/confirm"), url.Values{"code": {"000000"}})
	if !strings.Contains(wrong.body, "did not work") {
		t.Fatalf("wrong enrollment code accepted:\n%s", wrong.body)
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	p = br.submit(findForm(t, wrong, "/account/totp/confirm"), url.Values{"code": {code}})
	var codes []string
	for _, c := range codeRe.FindAllStringSubmatch(p.body, -1) {
		codes = append(codes, c[1])
	}
	if len(codes) != 10 {
		t.Fatalf("want 10 backup codes after enrollment, page (%d):\n%s", p.status, p.body)
	}
	return secret, codes
}

// nextCode is the authenticator's code one step ahead (the window allows
// ±1 step, and the step used at enrollment cannot be used again).
func nextCode(secret string) string {
	c, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	return c
}

// testSecondFactor: a password-only session asked for acr 2fa is stepped up
// (same session, sid kept) by a TOTP code; new logins then need the second
// factor; backup codes work once; a TOTP code cannot be replayed.
func testSecondFactor(t *testing.T, e *env) {
	u := e.srv.createUser(t)
	br := newBrowser(t, e.srv)
	a := e.rp.newRequest()
	p := br.login(br.follow(br.get(a.url)), u)
	if strings.Contains(p.body, `action="/consent"`) {
		p = br.approve(p)
	}
	first := e.rp.exchange(a, br.callback(p, rpRedirect))
	if first.claims["acr"] != "urn:gatehouse:acr:1fa" {
		t.Fatalf("password login acr = %v", first.claims["acr"])
	}
	secret, backups := enrollTOTP(t, br, accountPage(t, br, u))

	// Step-up: acr_values asks for two factors; the session has one.
	a = e.rp.newRequest(oauth2.SetAuthURLParam("acr_values", acr2FA))
	p = br.follow(br.get(a.url))
	if !strings.Contains(p.body, `action="/login/mfa"`) || strings.Contains(p.body, `name="password"`) {
		t.Fatalf("want the second-factor page, got (%d):\n%s", p.status, p.body)
	}
	bad := br.submit(findForm(t, p, "/login/mfa"), url.Values{"code": {"123456"}})
	if !strings.Contains(bad.body, "That code did not work") {
		t.Fatalf("wrong code: %d\n%s", bad.status, bad.body)
	}
	used := nextCode(secret)
	p = br.follow(br.submit(findForm(t, bad, "/login/mfa"), url.Values{"code": {used}}))
	if strings.Contains(p.body, `action="/consent"`) {
		p = br.approve(p)
	}
	tk := e.rp.exchange(a, br.callback(p, rpRedirect))
	amr := strs(tk.claims["amr"])
	if tk.claims["acr"] != acr2FA || !has(amr, "pwd") || !has(amr, "otp") || !has(amr, "mfa") {
		t.Errorf("after step-up: acr %v amr %v", tk.claims["acr"], amr)
	}
	if tk.claims["sid"] != first.claims["sid"] {
		t.Errorf("step-up replaced the session: sid %v, was %v", tk.claims["sid"], first.claims["sid"])
	}

	// A new login needs the second factor now; the used code is refused.
	br2 := newBrowser(t, e.srv)
	a = e.rp.newRequest()
	p = br2.login(br2.follow(br2.get(a.url)), u)
	if !strings.Contains(p.body, `action="/login/mfa"`) {
		t.Fatalf("login of an enrolled user skipped the second factor (%d):\n%s", p.status, p.body)
	}
	if r := br2.submit(findForm(t, p, "/login/mfa"), url.Values{"code": {used}}); !strings.Contains(r.body, "That code did not work") {
		t.Errorf("replayed TOTP code accepted: %d %s", r.status, r.location)
	}
	if hasSession(t, e, br2) {
		t.Error("a session exists before the second factor")
	}
	p = br2.follow(br2.submit(findForm(t, p, "/login/mfa"), url.Values{"method": {"backup"}, "code": {strings.ToUpper(backups[0])}}))
	if strings.Contains(p.body, `action="/consent"`) {
		p = br2.approve(p)
	}
	tk = e.rp.exchange(a, br2.callback(p, rpRedirect))
	if tk.claims["acr"] != acr2FA {
		t.Errorf("backup-code login acr = %v", tk.claims["acr"])
	}
	// The same backup code a second time fails.
	br3 := newBrowser(t, e.srv)
	p = br3.login(br3.follow(br3.get(e.rp.newRequest().url)), u)
	if r := br3.submit(findForm(t, p, "/login/mfa"), url.Values{"method": {"backup"}, "code": {backups[0]}}); !strings.Contains(r.body, "That code did not work") {
		t.Errorf("backup code used twice: %d %s", r.status, r.location)
	}
	// The account page counts what is left.
	if acct := br.get(e.srv.issuer + "/account"); !strings.Contains(acct.body, "9 left") {
		t.Errorf("account page does not show 9 backup codes left:\n%s", acct.body)
	}
}

// testClientRequiresMFA: a client with require_mfa sends a user without a
// second factor to a clear page, never to the client with one factor.
func testClientRequiresMFA(t *testing.T, e *env) {
	c := e.srv.createClient(t, "--name", "Strict RP", "--redirect-uri", rpRedirect, "--require-mfa")
	strict := newRP(t, e.srv, c, rpRedirect)
	u := e.srv.createUser(t)
	br := newBrowser(t, e.srv)
	p := br.login(br.follow(br.get(strict.newRequest().url)), u)
	if p.status != 403 || !strings.Contains(p.body, "Two-step verification required") {
		t.Fatalf("require_mfa client, user without a second factor: %d\n%s", p.status, p.body)
	}
	if hasSession(t, e, br) {
		t.Error("a one-factor session was made for a client that requires two")
	}
	// With an authenticator app set up, the same client gets acr 2fa.
	secret, _ := enrollTOTP(t, br, accountPage(t, br, u))
	a := strict.newRequest()
	p = br.follow(br.get(a.url))
	p = br.follow(br.submit(findForm(t, p, "/login/mfa"), url.Values{"code": {nextCode(secret)}}))
	if strings.Contains(p.body, `action="/consent"`) {
		p = br.approve(p)
	}
	if tk := strict.exchange(a, br.callback(p, rpRedirect)); tk.claims["acr"] != acr2FA {
		t.Errorf("require_mfa client got acr %v", tk.claims["acr"])
	}
}

// testAccountNeedsFreshLogin: account changes need a recent login and a
// CSRF token bound to the session.
func testAccountNeedsFreshLogin(t *testing.T, e *env) {
	u := e.srv.createUser(t)
	br := newBrowser(t, e.srv)
	p := accountPage(t, br, u)
	f := findForm(t, p, "/account/totp")
	f.fields.Set("csrf_token", "forged")
	if r := br.submit(f, nil); r.status != 403 {
		t.Errorf("account change with a forged CSRF token: %d", r.status)
	}
	other := newBrowser(t, e.srv)
	if r := other.post(e.srv.issuer+"/account/totp", url.Values{"csrf_token": {findForm(t, p, "/account/totp").fields.Get("csrf_token")}}); r.status != 403 {
		t.Errorf("account change from another browser: %d", r.status)
	}
}

// testSecondFactorLockout: after five wrong codes the account's second
// factor is locked (429, Retry-After), even for the right code.
func testSecondFactorLockout(t *testing.T, e *env) {
	u := e.srv.createUser(t)
	setup := newBrowser(t, e.srv)
	secret, _ := enrollTOTP(t, setup, accountPage(t, setup, u))
	br := newBrowser(t, e.srv)
	p := br.login(br.follow(br.get(e.rp.newRequest().url)), u)
	for i := 0; i < 5; i++ {
		p = br.submit(findForm(t, p, "/login/mfa"), url.Values{"code": {"000000"}})
		if p.status != 200 || !strings.Contains(p.body, "That code did not work") {
			t.Fatalf("wrong code %d: %d", i+1, p.status)
		}
	}
	p = br.submit(findForm(t, p, "/login/mfa"), url.Values{"code": {nextCode(secret)}})
	if p.status != 429 || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many failed attempts") {
		t.Errorf("sixth attempt: %d Retry-After %q", p.status, p.header.Get("Retry-After"))
	}
	if hasSession(t, e, br) {
		t.Error("a locked second factor signed the user in")
	}
}
