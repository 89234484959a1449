package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// chromium finds the browser for the real-browser tests. `make test`
// installs Debian's chromium when missing and sets GATEHOUSE_REQUIRE_BROWSER=1,
// which turns its absence into a failure rather than a skip.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("GATEHOUSE_REQUIRE_BROWSER") == "1" {
		t.Fatal("GATEHOUSE_REQUIRE_BROWSER=1 but no chromium on PATH")
	}
	t.Skip("browser test SKIPPED: no chromium on PATH (make test installs it)")
	return ""
}

// newChrome starts headless Chromium with the flags this machine needs.
func newChrome(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// TestBrowserLoginAndConsent drives the login and consent pages in a real
// browser: the CSP with nonces must let the pages work, the form posts must
// be followed by the browser through to the client's redirect URI.
func TestBrowserLoginAndConsent(t *testing.T) {
	ctx := newChrome(t)
	s, banner := startDev(t, t.TempDir(), "")
	authURL := printedURL.FindStringSubmatch(banner)[1]
	demo := demoLine.FindStringSubmatch(banner)
	fail := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("browser: %s: %v\nserver log:\n%s", step, err, s.logs.String())
		}
	}
	fail("open the authorization URL", chromedp.Do(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`#email`),
	))
	title, err := chromedp.Run(ctx, chromedp.Title())
	fail("title", err)
	fail("sign in", chromedp.Do(ctx,
		chromedp.SendKeys(`#email`, demo[1]),
		chromedp.SendKeys(`#password`, demo[2]),
		chromedp.Click(`button[type=submit]`),
		chromedp.WaitVisible(`button[value=allow]`),
	))
	consentText, err := chromedp.Run(ctx, chromedp.Text(`#main`))
	fail("consent text", err)
	fail("allow", chromedp.Do(ctx,
		chromedp.Click(`button[value=allow]`),
		chromedp.WaitVisible(`#curl`),
	))
	callbackURL, err := chromedp.Run(ctx, chromedp.Location())
	fail("location", err)
	callbackText, err := chromedp.Run(ctx, chromedp.Text(`#curl`))
	fail("callback text", err)
	if !strings.HasPrefix(title, "Sign in") {
		t.Errorf("login page title %q", title)
	}
	if !strings.Contains(consentText, "Demo App") || !strings.Contains(consentText, "See your email address") {
		t.Errorf("consent page text:\n%s", consentText)
	}
	if !strings.HasPrefix(callbackURL, s.issuer+"/dev/callback?code=") || !strings.Contains(callbackURL, "iss=") {
		t.Errorf("landed on %s", callbackURL)
	}
	if !strings.Contains(callbackText, "code_verifier=") {
		t.Errorf("callback page:\n%s", callbackText)
	}
}

// TestBrowserPasskey registers a passkey from the account page with the
// DevTools virtual authenticator (CTAP2, internal transport, resident keys,
// user verification), signs out, and signs in with the passkey alone
// through an authorization request: the relying party's ID token carries
// amr hwk/swk and user, and acr 2fa.
func TestBrowserPasskey(t *testing.T) {
	ctx := newChrome(t)
	// Browsers refuse passkeys on IP addresses: the issuer is localhost.
	s := startOnLocalhost(t, "sqlite://"+t.TempDir()+"/g.db")
	u := s.createUser(t)
	got := make(chan url.Values, 1)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.URL.Query():
		default:
		}
		fmt.Fprint(w, `<!doctype html><title>RP</title><p id="done">back at the client</p>`)
	}))
	t.Cleanup(cb.Close)
	c := s.createClient(t, "--name", "Passkey RP", "--redirect-uri", cb.URL+"/cb")
	relying := newRP(t, s, c, cb.URL+"/cb")
	fail := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("browser: %s: %v\nserver log:\n%s", step, err, s.logs.String())
		}
	}
	fail("virtual authenticator", chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}})
		return err
	})))
	fail("sign in to the account page", chromedp.Do(ctx,
		chromedp.Navigate(s.issuer+"/account"),
		chromedp.WaitVisible(`#email`),
		chromedp.SendKeys(`#email`, u.email),
		chromedp.SendKeys(`#password`, u.password),
		chromedp.Click(`#sign-in`),
		chromedp.WaitVisible(`#account-email`),
	))
	fail("add a passkey", chromedp.Do(ctx,
		chromedp.SendKeys(`#passkey-name`, "Virtual key"),
		chromedp.Click(`#add-passkey`),
		chromedp.WaitVisible(`#passkey-button`),
		chromedp.Click(`#passkey-button`),
		chromedp.WaitVisible(`#backup-codes`),
	))
	// The first second factor comes with backup codes (as the README says).
	codes, err := chromedp.Run(ctx, chromedp.Text(`#backup-codes`))
	fail("backup codes", err)
	if n := len(strings.Fields(codes)); n != 10 {
		t.Fatalf("%d backup codes shown with the first passkey: %q", n, codes)
	}
	fail("back to the account page", chromedp.Do(ctx, chromedp.Click(`#done`), chromedp.WaitVisible(`#passkeys`)))
	list, err := chromedp.Run(ctx, chromedp.Text(`#passkeys`))
	fail("passkey list", err)
	if !strings.Contains(list, "Virtual key") {
		t.Fatalf("passkey list: %q", list)
	}
	signOut := func() {
		t.Helper()
		// Without an id_token_hint the server asks first.
		fail("sign out", chromedp.Do(ctx, chromedp.Navigate(s.issuer+"/oauth2/logout"), chromedp.WaitVisible(`#confirm-logout`),
			chromedp.Click(`#confirm-logout`), chromedp.WaitVisible(`#signed-out`)))
	}
	// signIn runs an authorization request in which steps sign in with the
	// passkey, and checks the relying party's ID token.
	signIn := func(how string, consent, password bool, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		a := relying.newRequest()
		steps = append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(a.url)}, steps...)
		if consent { // the first time; the decision is remembered
			steps = append(steps, chromedp.WaitVisible(`button[value=allow]`), chromedp.Click(`button[value=allow]`))
		}
		fail(how, chromedp.Do(ctx, append(steps, chromedp.WaitVisible(`#done`))...))
		var q url.Values
		select {
		case q = <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the client got no callback", how)
		}
		tk := relying.exchange(a, q)
		amr := strs(tk.claims["amr"])
		// A passkey with user verification is two factors (possession and
		// the PIN or biometric): mfa either way.
		if !(has(amr, "hwk") || has(amr, "swk")) || !has(amr, "user") || !has(amr, "mfa") || has(amr, "pwd") != password {
			t.Errorf("%s: amr = %v, want hwk or swk, user, mfa (pwd: %v)", how, amr, password)
		}
		if tk.claims["acr"] != acr2FA {
			t.Errorf("%s: acr = %v", how, tk.claims["acr"])
		}
	}

	// Passkey autofill (conditional mediation) on the email field: the
	// virtual authenticator answers at once, as a user picking the passkey
	// from the autofill list does.
	signOut()
	signIn("sign in through passkey autofill", true, false)

	// The "Sign in with a passkey" button, in a browser without autofill.
	signOut()
	fail("turn autofill off", chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
			Source: `PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);`})
		return err
	})))
	signIn("sign in with the passkey button", false, false, chromedp.WaitVisible(`#passkey-button`), chromedp.Click(`#passkey-button`))

	// A password is not enough once the user has a passkey: the passkey is
	// then the second factor.
	signOut()
	signIn("password, then the passkey as second factor", false, true,
		chromedp.WaitVisible(`#email`),
		chromedp.SendKeys(`#email`, u.email),
		chromedp.SendKeys(`#password`, u.password),
		chromedp.Click(`#sign-in`),
		chromedp.WaitVisible(`form[action="/login/mfa"] #passkey-button`),
		chromedp.Click(`form[action="/login/mfa"] #passkey-button`))
}
