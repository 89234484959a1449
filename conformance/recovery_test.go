package conformance

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
)

// smtpEnv points a server at a real SMTP server on port (AUTH PLAIN, no
// TLS: a local relay).
func smtpEnv(port int) []string {
	return []string{"GATEHOUSE_EMAIL_HOST=127.0.0.1", fmt.Sprintf("GATEHOUSE_EMAIL_PORT=%d", port), "GATEHOUSE_EMAIL_FROM=gatehouse <no-reply@example.test>",
		"GATEHOUSE_EMAIL_USERNAME=" + mailtest.Username, "GATEHOUSE_EMAIL_PASSWORD=" + mailtest.Password, "GATEHOUSE_EMAIL_TLS=none",
		"GATEHOUSE_EMAIL_TIMEOUT=5s"} // a claim lapses 20 s after a crash
}

var resetLink = regexp.MustCompile(`https?://[^\s"<>]+/account/reset\?token=[A-Za-z0-9_-]+`)

// askForReset runs "Forgot your password?" from the login page for email.
func askForReset(t *testing.T, e *env, br *browser, email string) {
	t.Helper()
	login := br.follow(br.get(e.rp.newRequest().url))
	if !strings.Contains(login.body, `id="forgot-password"`) {
		t.Fatalf("no \"Forgot your password?\" on the login page:\n%s", login.body)
	}
	p := br.submit(findForm(t, br.get(e.srv.issuer+"/account/recover"), "/account/recover"), url.Values{"email": {email}})
	if p.status != 200 || !strings.Contains(p.body, `id="recover-sent"`) {
		t.Fatalf("recover: %d\n%s", p.status, p.body)
	}
}

// TestRecoveryJourney: forgot password → mail (a real SMTP server) → a new
// password; the session and the refresh token from before are dead, the
// new password signs in.
func TestRecoveryJourney(t *testing.T) {
	t.Parallel()
	inbox := mailtest.Start(t, "")
	s := startServer(t, backends(t)[0].newURL(t), smtpEnv(inbox.Port)...)
	c := s.createClient(t, "--name", "RP", "--redirect-uri", rpRedirect)
	e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
	before := newBrowser(t, s)
	_, tk := e.fullLogin(t, before)

	askForReset(t, e, newBrowser(t, s), e.user.email)
	msgs := inbox.Wait(t, 1, 20*time.Second)
	text, err := msgs[0].Text()
	if err != nil {
		t.Fatal(err)
	}
	link := resetLink.FindString(text)
	if msgs[0].To[0] != e.user.email || link == "" {
		t.Fatalf("mail to %v:\n%s", msgs[0].To, text)
	}
	br := newBrowser(t, s)
	newPassword := "a-brand-new-password-" + randString(6)
	p := br.submit(findForm(t, br.get(link), "/account/reset"), url.Values{"password": {newPassword}, "password2": {newPassword}})
	if p.status != 200 || !strings.Contains(p.body, `id="reset-done"`) {
		t.Fatalf("reset: %d\n%s", p.status, p.body)
	}
	if st, body, _ := s.tokenRequest(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.token.RefreshToken}}); st != 400 || body["error"] != "invalid_grant" {
		t.Errorf("the refresh token from before the reset: %d %v", st, body)
	}
	a := e.rp.newRequest(oauth2.SetAuthURLParam("prompt", "none"))
	if q := before.callback(before.follow(before.get(a.url)), rpRedirect); q.Get("error") != "login_required" {
		t.Errorf("the session from before the reset: %v", q)
	}
	e.user.password = newPassword
	if _, tk2 := e.fullLogin(t, newBrowser(t, s)); tk2.idToken.Subject != tk.idToken.Subject {
		t.Error("the new password does not sign in")
	}
	// The notice reached the account's address.
	msgs = inbox.Wait(t, 2, 20*time.Second)
	if !strings.Contains(msgs[1].Header.Get("Subject"), "was changed") {
		t.Errorf("second message: %q", msgs[1].Header.Get("Subject"))
	}
	if p := br.get(link); p.status != 400 {
		t.Errorf("the used link opened again: %d", p.status)
	}
}

// TestMailSurvivesOutageAndKill: with the SMTP server down the request
// still succeeds; the server is then SIGKILLed with the message in its
// outbox; started again, it delivers the message once the SMTP server is
// up.
func TestMailSurvivesOutageAndKill(t *testing.T) {
	t.Parallel()
	port := freePort(t) // nothing listens there yet
	db := backends(t)[0].newURL(t)
	issuer, point := front(t) // the restarted server keeps the issuer, on another port
	s := startOn(t, 0, db, issuer, smtpEnv(port)...)
	point(s.base)
	c := s.createClient(t, "--name", "RP", "--redirect-uri", rpRedirect)
	e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
	askForReset(t, e, newBrowser(t, s), e.user.email)
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = s.cmd.Wait()

	inbox := mailtest.Start(t, fmt.Sprintf("127.0.0.1:%d", port))
	point(startOn(t, 0, db, issuer, smtpEnv(port)...).base)
	// The restarted server retries after the first attempt's back-off (30 s
	// ± 20 %), or, when the kill came between claiming the message and
	// recording the failed attempt, once the dead server's claim lapses.
	msgs := inbox.Wait(t, 1, 90*time.Second)
	text, err := msgs[0].Text()
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].To[0] != e.user.email || resetLink.FindString(text) == "" {
		t.Fatalf("delivered after the restart: %v\n%s", msgs[0].To, text)
	}
	time.Sleep(6 * time.Second) // a poll more: nothing is sent twice
	if n := len(inbox.Messages()); n != 1 {
		t.Errorf("%d messages delivered, want 1", n)
	}
}

var verifyLink = regexp.MustCompile(`https?://[^\s"<>]+/account/verify\?token=[A-Za-z0-9_-]+`)

// TestSignUpJourney: sign up from the login page (registration is open
// under --dev) → the confirmation mail (a real SMTP server) → a sign-in
// before confirming is refused → the link → sign in through a relying
// party, whose ID token says email_verified.
func TestSignUpJourney(t *testing.T) {
	t.Parallel()
	inbox := mailtest.Start(t, "")
	s := startServer(t, backends(t)[0].newURL(t), smtpEnv(inbox.Port)...)
	c := s.createClient(t, "--name", "RP", "--redirect-uri", rpRedirect)
	e := &env{srv: s, client: c, rp: newRP(t, s, c, rpRedirect)}
	br := newBrowser(t, s)
	login := br.follow(br.get(e.rp.newRequest().url))
	if !strings.Contains(login.body, `id="sign-up-link"`) {
		t.Fatalf("no \"Create an account\" on the login page:\n%s", login.body)
	}
	e.user = user{email: "new-" + strings.ToLower(randString(6)) + "@example.test", password: "my very own passphrase " + randString(4)}
	p := br.submit(findForm(t, br.get(s.issuer+"/account/signup"), "/account/signup"),
		url.Values{"email": {e.user.email}, "name": {"New Person"}, "password": {e.user.password}, "password2": {e.user.password}})
	if p.status != 200 || !strings.Contains(p.body, `id="signup-sent"`) {
		t.Fatalf("sign-up: %d\n%s", p.status, p.body)
	}
	msgs := inbox.Wait(t, 1, 20*time.Second)
	text, err := msgs[0].Text()
	if err != nil {
		t.Fatal(err)
	}
	link := verifyLink.FindString(text)
	if msgs[0].To[0] != e.user.email || link == "" {
		t.Fatalf("mail to %v:\n%s", msgs[0].To, text)
	}
	// Not confirmed yet: the right password does not sign in.
	b2 := newBrowser(t, s)
	if p := b2.login(b2.follow(b2.get(e.rp.newRequest().url)), e.user); !strings.Contains(p.body, "Confirm your email address first") {
		t.Fatalf("an unconfirmed account signed in: %d\n%s", p.status, p.body)
	}
	confirmAddress(t, newBrowser(t, s), link, e.user.password)
	_, tk := e.fullLogin(t, newBrowser(t, s))
	if tk.claims["email"] != e.user.email || tk.claims["email_verified"] != true {
		t.Fatalf("ID token claims %v", tk.claims)
	}
}

// confirmAddress opens a confirmation link in br and confirms it with the
// password chosen at sign-up.
func confirmAddress(t *testing.T, br *browser, link, password string) {
	t.Helper()
	if p := br.submit(findForm(t, br.get(link), "/account/verify"), url.Values{"password": {password}}); p.status != 200 || !strings.Contains(p.body, `id="verified"`) {
		t.Fatalf("confirm: %d\n%s", p.status, p.body)
	}
}

var loginLink = regexp.MustCompile(`https?://[^\s"<>]+/login/email/link\?token=[A-Za-z0-9_-]+`)
var loginCode = regexp.MustCompile(`code there: (\d{6})`)

// TestEmailLoginJourney: "Email me a sign-in link" (authn.email_login)
// mails a link and a code (a real SMTP server); the link opened in another
// browser signs nothing in; in the asking browser it signs in (amr email),
// once; the code typed in the asking browser signs in too.
func TestEmailLoginJourney(t *testing.T) {
	t.Parallel()
	inbox := mailtest.Start(t, "")
	s := startServer(t, backends(t)[0].newURL(t), append(smtpEnv(inbox.Port), "GATEHOUSE_AUTHN_EMAIL_LOGIN=true")...)
	c := s.createClient(t, "--name", "RP", "--redirect-uri", rpRedirect)
	e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
	// ask runs a login up to the "Check your email" page and returns the
	// browser, the request, the page and the mail.
	ask := func(n int) (*browser, authRequest, page, string) {
		t.Helper()
		br := newBrowser(t, s)
		a := e.rp.newRequest()
		login := br.follow(br.get(a.url))
		if !strings.Contains(login.body, `id="email-login"`) {
			t.Fatalf("no \"Email me a sign-in link\":\n%s", login.body)
		}
		f := findForm(t, login, "/login")
		f.action = "/login/email"
		sent := br.submit(f, url.Values{"email": {e.user.email}, "password": {""}})
		if !strings.Contains(sent.body, `id="email-sent"`) {
			t.Fatalf("ask for a link: %d\n%s", sent.status, sent.body)
		}
		msgs := inbox.Wait(t, n, 20*time.Second)
		text, err := msgs[n-1].Text()
		if err != nil {
			t.Fatal(err)
		}
		return br, a, sent, text
	}
	signedIn := func(br *browser, a authRequest, p page) {
		t.Helper()
		if strings.Contains(p.body, `action="/consent"`) {
			p = br.approve(p)
		}
		tk := e.rp.exchange(a, br.callback(p, rpRedirect))
		if amr := strs(tk.claims["amr"]); !has(amr, "email") || has(amr, "pwd") {
			t.Errorf("amr %v, want email", amr)
		}
	}

	br, a, _, text := ask(1)
	link := loginLink.FindString(text)
	if link == "" || loginCode.FindString(text) == "" {
		t.Fatalf("mail:\n%s", text)
	}
	other := newBrowser(t, s)
	if p := other.get(link); p.status != 200 || !strings.Contains(p.body, `id="email-elsewhere"`) {
		t.Fatalf("the link in another browser: %d\n%s", p.status, p.body)
	}
	if q := other.callback(other.follow(other.get(e.rp.newRequest(oauth2.SetAuthURLParam("prompt", "none")).url)), rpRedirect); q.Get("error") != "login_required" {
		t.Fatalf("the other browser is signed in: %v", q)
	}
	signedIn(br, a, br.follow(br.get(link)))
	if p := br.get(link); p.status != 400 {
		t.Errorf("a used link worked again: %d", p.status)
	}

	br2, a2, sent, text2 := ask(2)
	code := loginCode.FindStringSubmatch(text2)[1]
	f := findForm(t, sent, "/login/email/code")
	if p := br2.submit(f, url.Values{"code": {"000000"}}); !strings.Contains(p.body, "did not work") && code != "000000" {
		t.Errorf("a wrong code: %d", p.status)
	}
	signedIn(br2, a2, br2.follow(br2.submit(f, url.Values{"code": {code}})))
}

// TestSignUpClosed: with accounts.registration off or invite, the login
// page offers no sign-up, the sign-up and confirmation pages do not exist
// (GET or POST) and nothing is mailed; recovery still works.
func TestSignUpClosed(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"off", "invite"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			inbox := mailtest.Start(t, "")
			s := startServer(t, backends(t)[0].newURL(t), append(smtpEnv(inbox.Port), "GATEHOUSE_ACCOUNTS_REGISTRATION="+mode)...)
			c := s.createClient(t, "--name", "RP", "--redirect-uri", rpRedirect)
			e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
			br := newBrowser(t, s)
			login := br.follow(br.get(e.rp.newRequest().url))
			if !strings.Contains(login.body, `id="email"`) || strings.Contains(login.body, `id="sign-up-link"`) || strings.Contains(login.body, "/account/signup") {
				t.Fatalf("the login page with registration %s:\n%s", mode, login.body)
			}
			for _, path := range []string{"/account/signup", "/account/verify?token=x"} {
				if p := br.get(s.issuer + path); p.status != 404 {
					t.Errorf("GET %s: %d", path, p.status)
				}
			}
			pw := "a passphrase for nobody"
			if p := br.post(s.issuer+"/account/signup", url.Values{"email": {"someone@example.test"}, "password": {pw}, "password2": {pw}}); p.status != 404 {
				t.Errorf("POST /account/signup: %d", p.status)
			}
			askForReset(t, e, newBrowser(t, s), e.user.email)
			msgs := inbox.Wait(t, 1, 20*time.Second)
			if text, _ := msgs[0].Text(); msgs[0].To[0] != e.user.email || !resetLink.MatchString(text) {
				t.Fatalf("mail to %v:\n%s", msgs[0].To, text)
			}
			if out := s.cli(t, "", "users", "list"); strings.Contains(out, "someone@example.test") {
				t.Fatalf("an account was made:\n%s", out)
			}
			if n := len(inbox.Messages()); n != 1 {
				t.Fatalf("%d mails, want the reset link only", n)
			}
		})
	}
}
