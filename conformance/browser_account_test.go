package conformance

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
)

// TestBrowserAccountJourneys drives the account journeys in real Chromium,
// reading the mail from a real SMTP server: sign up from the login page,
// confirm the address, sign in through the demo client; forget the
// password in a second browser, set a new one from the mailed link, which
// ends the first browser's session and refresh token, sign in with it; ask for a
// sign-in link and follow it, which signs in this browser and not another;
// change the address, sign out everywhere, and delete the account.
func TestBrowserAccountJourneys(t *testing.T) {
	ctx := newChrome(t)
	inbox := mailtest.Start(t, "")
	s := startServer(t, backends(t)[0].newURL(t), append(smtpEnv(inbox.Port), "GATEHOUSE_AUTHN_EMAIL_LOGIN=true")...)
	m := printedURL.FindStringSubmatch(s.logs.String())
	if m == nil {
		t.Fatalf("no authorization URL in the banner:\n%s", s.logs.String())
	}
	authURL := m[1]
	fail := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("browser: %s: %v\nserver log:\n%s", step, err, s.logs.String())
		}
	}
	mails := 0
	nextMail := func() string {
		t.Helper()
		mails++
		got := inbox.Wait(t, mails, 20*time.Second)
		text, err := got[mails-1].Text()
		fail("read the mail", err)
		return text
	}
	email, pw := "chromium-"+strings.ToLower(randString(6))+"@example.test", "a passphrase typed in chromium"
	signInThrough := func(step, password string) {
		t.Helper()
		fail(step, chromedp.Do(ctx,
			chromedp.Navigate(authURL),
			chromedp.WaitVisible(`#email`),
			chromedp.SendKeys(`#email`, email),
			chromedp.SendKeys(`#password`, password),
			chromedp.Click(`#sign-in`),
			chromedp.WaitVisible(`button[value=allow], #curl`),
		))
		if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "/dev/callback") {
			fail(step+": consent", chromedp.Do(ctx, chromedp.Click(`button[value=allow]`), chromedp.WaitVisible(`#curl`)))
		}
	}
	signOut := func() {
		t.Helper()
		// Without an id_token_hint the server asks first.
		fail("sign out", chromedp.Do(ctx, chromedp.Navigate(s.issuer+"/oauth2/logout"), chromedp.WaitVisible(`#confirm-logout`),
			chromedp.Click(`#confirm-logout`), chromedp.WaitVisible(`#signed-out`)))
	}

	// Sign up, confirm, sign in.
	fail("sign up", chromedp.Do(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`#sign-up-link`),
		chromedp.Click(`#sign-up-link`),
		chromedp.WaitVisible(`#password2`),
		chromedp.SendKeys(`#email`, email),
		chromedp.SendKeys(`#name`, "Chromium User"),
		chromedp.SendKeys(`#password`, pw),
		chromedp.SendKeys(`#password2`, pw),
		chromedp.Click(`#sign-up`),
		chromedp.WaitVisible(`#signup-sent`),
	))
	link := verifyLink.FindString(nextMail())
	if link == "" {
		t.Fatal("no confirmation link")
	}
	fail("confirm", chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(`#confirm-address`),
		chromedp.SendKeys(`#password`, pw),
		chromedp.Click(`#confirm-address`),
		chromedp.WaitVisible(`#verified`),
	))
	signInThrough("sign in after confirming", pw)
	// The demo client redeems the code its callback page shows: the ID
	// token says the address is confirmed.
	var cb page
	var err error
	cb.url, err = chromedp.Run(ctx, chromedp.Location())
	fail("the callback page's address", err)
	cb.body, err = chromedp.Run(ctx, chromedp.OuterHTML(`html`))
	fail("the callback page", err)
	cl := clientLine.FindStringSubmatch(s.logs.String())
	if cl == nil {
		t.Fatalf("no demo client in the banner:\n%s", s.logs.String())
	}
	demo := testClient{ID: cl[1], Secret: cl[2]}
	first := redeemCallback(t, s, cb, demo)
	if claims := idTokenClaims(t, s, demo.ID, first["id_token"].(string)); claims["email"] != email || claims["email_verified"] != true {
		t.Fatalf("ID token after sign-up: %v", claims)
	}

	// Forgot password, in a second browser: the reset ends this browser's
	// session, so the demo client's request asks for a password again.
	other := newChrome(t)
	fail("forgot password", chromedp.Do(other,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`#forgot-password`),
		chromedp.Click(`#forgot-password`),
		chromedp.WaitVisible(`#send-link`),
		chromedp.SendKeys(`#email`, email),
		chromedp.Click(`#send-link`),
		chromedp.WaitVisible(`#recover-sent`),
	))
	reset := resetLink.FindString(nextMail())
	newPW := "a second passphrase typed in chromium"
	fail("set a new password", chromedp.Do(other,
		chromedp.Navigate(reset),
		chromedp.WaitVisible(`#password2`),
		chromedp.SendKeys(`#password`, newPW),
		chromedp.SendKeys(`#password2`, newPW),
		chromedp.Click(`#set-password`),
		chromedp.WaitVisible(`#reset-done`),
	))
	nextMail() // the "password changed" notice
	fail("the session from before the reset", chromedp.Do(ctx, chromedp.Navigate(authURL), chromedp.WaitVisible(`#password`)))
	if st, body, _ := s.tokenRequest(t, demo, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}); st != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("the refresh token from before the reset: %d %v", st, body)
	}
	signInThrough("sign in with the new password", newPW)

	// A sign-in link: another browser opening it signs nothing in; this
	// one does.
	signOut()
	fail("ask for a sign-in link", chromedp.Do(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`#email-login`),
		chromedp.SendKeys(`#email`, email),
		chromedp.Click(`#email-login`),
		chromedp.WaitVisible(`#email-sent`),
	))
	emailed := loginLink.FindString(nextMail())
	fail("the link in another browser", chromedp.Do(other, chromedp.Navigate(emailed), chromedp.WaitVisible(`#email-elsewhere`)))
	fail("the link in this browser", chromedp.Do(ctx, chromedp.Navigate(emailed), chromedp.WaitVisible(`#curl`)))

	// Change the address from the account page (the sign-in is recent).
	moved := "moved-" + email
	fail("change the address", chromedp.Do(ctx,
		chromedp.Navigate(s.issuer+"/account"),
		chromedp.WaitVisible(`#change-email-link`),
		chromedp.Click(`#change-email-link`),
		chromedp.WaitVisible(`#new_email`),
		chromedp.SendKeys(`#new_email`, moved),
		chromedp.Click(`#change-email`),
		chromedp.WaitVisible(`#notice`),
	))
	confirm := emailChangeLink.FindString(nextMail())
	fail("confirm the new address", chromedp.Do(ctx,
		chromedp.Navigate(confirm),
		chromedp.WaitVisible(`#confirm-email-change`),
		chromedp.Click(`#confirm-email-change`),
		chromedp.WaitVisible(`#email-result`),
	))
	if text := nextMail(); !strings.Contains(text, moved) || !strings.Contains(text, "/account/email/undo?token=") {
		t.Fatalf("the notice to the old address:\n%s", text)
	}
	email = moved

	// Sign out everywhere, sign in again, delete the account.
	fail("sign out everywhere", chromedp.Do(ctx,
		chromedp.Navigate(s.issuer+"/account/activity"),
		chromedp.WaitVisible(`#sign-out-everywhere`),
		chromedp.Click(`#sign-out-everywhere`),
		chromedp.WaitVisible(`#signed-out`),
	))
	if text, _ := chromedp.Run(ctx, chromedp.Text(`#main`)); !strings.Contains(text, "signed out everywhere") {
		t.Fatalf("after signing out everywhere:\n%s", text)
	}
	signInThrough("sign in with the new address", newPW)
	fail("delete the account", chromedp.Do(ctx,
		chromedp.Navigate(s.issuer+"/account/delete"),
		chromedp.WaitVisible(`#confirm`),
		chromedp.SendKeys(`#confirm`, email),
		chromedp.Click(`#delete-account`),
		chromedp.WaitVisible(`#signed-out`),
	))
	if text, _ := chromedp.Run(ctx, chromedp.Text(`#main`)); !strings.Contains(text, "account is deleted") {
		t.Fatalf("after deleting the account:\n%s", text)
	}
	if out := s.cli(t, "", "users", "list"); strings.Contains(out, email) {
		t.Fatalf("the deleted account is listed:\n%s", out)
	}
}

var emailChangeLink = regexp.MustCompile(`https?://[^\s"<>]+/account/email/confirm\?token=[A-Za-z0-9_-]+`)
