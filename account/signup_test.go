package account_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/account"
	"github.com/gatehouse-id/gatehouse/authn/password"
	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestSignUp: a new address gets an account waiting for its confirmation
// link; a known one the same page and a "you have an account" message; the
// link confirms once; a later sign-up for an unconfirmed address takes it
// over (its password replaces the earlier one, whose link dies).
func TestSignUp(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.st.CreateUser(ctx, storage.User{Subject: "ann", Email: "ann@example.com", EmailVerified: true, CreatedAt: f.clk.t, UpdatedAt: f.clk.t}); err != nil {
		t.Fatal(err)
	}
	account.NewSignUp(account.SignUpOptions{Web: f.kit, Store: f.st, Mail: mail.NewOutbox(f.st, f.clk.Now, nil), Pages: f.pages,
		Hasher: password.NewHasher(1, 1, 0), Issuer: "https://id.example.com", Product: "Acme ID", Log: f.log, Now: f.clk.Now}).Register(f.mux)
	b := &browser{t: t, f: f, cookies: map[string]string{}}
	signUp := func(email, pw string) *httptest.ResponseRecorder {
		t.Helper()
		f.clk.t = f.clk.t.Add(1e9)
		page := b.do(http.MethodGet, account.PathSignUp, nil)
		return b.do(http.MethodPost, account.PathSignUp, url.Values{"csrf_token": {csrfOf(t, page.Body.String())}, "email": {email}, "name": {"Someone"},
			"password": {pw}, "password2": {pw}})
	}
	latest := func(to string) storage.Mail {
		t.Helper()
		list, _ := f.st.ListMail(ctx, 50)
		for _, m := range list {
			if m.To == to {
				return m
			}
		}
		t.Fatalf("no mail to %s", to)
		return storage.Mail{}
	}
	linkRe := regexp.MustCompile(`https://id\.example\.com/account/verify\?token=([A-Za-z0-9_-]+)`)
	link := func(m storage.Mail) string {
		t.Helper()
		got := linkRe.FindStringSubmatch(m.Text)
		if got == nil {
			t.Fatalf("no confirmation link in %q", m.Text)
		}
		return got[1]
	}
	// verify opens a confirmation link and confirms with pw.
	verify := func(tok, pw string) int {
		t.Helper()
		page := b.do(http.MethodGet, account.PathVerify+"?token="+url.QueryEscape(tok), nil)
		if page.Code != 200 {
			return page.Code
		}
		return b.do(http.MethodPost, account.PathVerify, url.Values{"csrf_token": {csrfOf(t, page.Body.String())}, "token": {tok}, "password": {pw}}).Code
	}

	fresh, known := signUp("Bob@Example.com", "bob's long passphrase"), signUp("ann@example.com", "a long passphrase too")
	if fresh.Code != 200 || known.Code != 200 || strings.ReplaceAll(fresh.Body.String(), "bob@example.com", "X") != strings.ReplaceAll(known.Body.String(), "ann@example.com", "X") {
		t.Fatalf("the answers differ:\n%s\n%s", fresh.Body, known.Body)
	}
	if m := latest("ann@example.com"); !strings.Contains(m.Subject, "already have") || linkRe.MatchString(m.Text) {
		t.Fatalf("mail to a known address: %+v", m)
	}
	bob, err := f.st.GetUserByEmail(ctx, "bob@example.com")
	if err != nil || bob.EmailVerified || bob.Name != "Someone" {
		t.Fatalf("new account: %+v %v", bob, err)
	}
	first := link(latest("bob@example.com"))
	// Someone else signs up for the same unconfirmed address: the earlier
	// link dies with the earlier password.
	signUp("bob@example.com", "the second long passphrase")
	second := link(latest("bob@example.com"))
	if verify(first, "bob's long passphrase") != 400 {
		t.Fatal("the first sign-up's link outlived the second sign-up")
	}
	if verify(second[:len(second)-2]+"AA", "the second long passphrase") != 400 {
		t.Fatal("a tampered link confirmed the address")
	}
	// Opening the link confirms nothing (a mail scanner fetches links);
	// the form does, with the password chosen at sign-up: the owner of an
	// address someone else signed up with cannot confirm that account.
	if w := b.do(http.MethodGet, account.PathVerify+"?token="+second, nil); w.Code != 200 || !strings.Contains(w.Body.String(), `id="confirm-address"`) {
		t.Fatalf("the confirmation page: %d", w.Code)
	}
	if verify(second, "the first long passphrase?") != 400 {
		t.Fatal("a wrong password confirmed the address")
	}
	if w := b.do(http.MethodPost, account.PathVerify, url.Values{"csrf_token": {"forged"}, "token": {second}, "password": {"the second long passphrase"}}); w.Code != 403 {
		t.Fatalf("a forged CSRF token: %d", w.Code)
	}
	if u, _ := f.st.GetUser(ctx, bob.Subject); u.EmailVerified {
		t.Fatal("confirmed without the form and its password")
	}
	if verify(second, "the second long passphrase") != 200 {
		t.Fatal("the link did not confirm the address")
	}
	bob, _ = f.st.GetUser(ctx, bob.Subject)
	if _, err := password.Verify(bob.PasswordHash, "the second long passphrase"); err != nil || !bob.EmailVerified {
		t.Fatalf("after confirming: verified %v, the second password: %v", bob.EmailVerified, err)
	}
	if verify(second, "the second long passphrase") != 400 {
		t.Fatal("a used link confirmed again")
	}
	// Confirmed, the address is known: another sign-up changes nothing.
	signUp("bob@example.com", "an attacker's passphrase")
	if after, _ := f.st.GetUser(ctx, bob.Subject); after.PasswordHash != bob.PasswordHash {
		t.Fatal("a sign-up changed a confirmed account's password")
	}
	// A link older than 24 hours, and a link of another purpose, confirm
	// nothing.
	signUp("dan@example.com", "dan's long passphrase")
	late := link(latest("dan@example.com"))
	dan, _ := f.st.GetUserByEmail(ctx, "dan@example.com")
	account.NewRecovery(account.RecoveryOptions{Web: f.kit, Store: f.st, Mail: mail.NewOutbox(f.st, f.clk.Now, nil), Pages: f.pages,
		Hasher: password.NewHasher(1, 1, 0), Issuer: "https://id.example.com", Log: f.log, Now: f.clk.Now}).Register(f.mux)
	f.clk.t = f.clk.t.Add(time.Second) // the latest mail is the recovery's
	page := b.do(http.MethodGet, account.PathRecover, nil)
	if w := b.do(http.MethodPost, account.PathRecover, url.Values{"csrf_token": {csrfOf(t, page.Body.String())}, "email": {"dan@example.com"}}); w.Code != 200 {
		t.Fatalf("recover: %d\n%s", w.Code, w.Body)
	}
	reset := regexp.MustCompile(`/account/reset\?token=([A-Za-z0-9_-]+)`).FindStringSubmatch(latest("dan@example.com").Text)
	if reset == nil {
		t.Fatal("no recovery link")
	}
	if verify(reset[1], "dan's long passphrase") != 400 {
		t.Fatal("a recovery link confirmed an address")
	}
	if w := b.do(http.MethodGet, account.PathReset+"?token="+reset[1], nil); w.Code != 200 {
		t.Fatalf("the recovery link, refused as a confirmation, no longer works for recovery: %d", w.Code)
	}
	f.clk.t = f.clk.t.Add(24*time.Hour + time.Second)
	if verify(late, "dan's long passphrase") != 400 {
		t.Fatal("a link older than 24 hours confirmed the address")
	}
	if dan, _ = f.st.GetUser(ctx, dan.Subject); dan.EmailVerified {
		t.Fatal("confirmed")
	}
	for _, tt := range []struct{ email, pw, want string }{
		{"carl@example.com", "password1234", "most common"},
		{"carl@example.com", "short", "at least 12"},
		{"not-an-address", "a long passphrase", "email address"},
	} {
		if w := signUp(tt.email, tt.pw); w.Code != 400 || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("sign-up %q/%q: %d", tt.email, tt.pw, w.Code)
		}
	}
}
