package account_test

import (
	"context"
	"crypto/sha256"
	"errors"
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
	"github.com/gatehouse-id/gatehouse/internal/ops"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
)

// browser is a cookie jar over the fixture's handler.
type browser struct {
	t       *testing.T
	f       *fixture
	cookies map[string]string
}

func (b *browser) do(method, target string, form url.Values) *httptest.ResponseRecorder {
	b.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range b.cookies {
		r.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	w := httptest.NewRecorder()
	b.f.mux.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		b.cookies[c.Name] = c.Value
	}
	return w
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	return m[1]
}

// TestRecovery: forgot password → mail → a new password; the answer is
// the same whether or not the address has an account; the link is single
// use, short-lived, bound to its purpose and to the account as it was; a
// reset ends every session and sends a notice.
func TestRecovery(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	hash, err := password.Hash("old-password-123")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateUser(ctx, storage.User{Subject: "ann", Email: "ann@example.com", PasswordHash: hash, CreatedAt: f.clk.t, UpdatedAt: f.clk.t}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateSession(ctx, storage.BrowserSession{IDHash: web.HashID("ann-session"), SID: "s1", Subject: "ann", AuthTime: f.clk.t,
		CreatedAt: f.clk.t, ExpiresAt: f.clk.t.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	account.NewRecovery(account.RecoveryOptions{Web: f.kit, Store: f.st, Mail: mail.NewOutbox(f.st, f.clk.Now, nil), Pages: f.pages,
		Hasher: password.NewHasher(1, 1, 0), Issuer: "https://id.example.com", Product: "Acme ID", Log: f.log, Now: f.clk.Now}).Register(f.mux)
	b := &browser{t: t, f: f, cookies: map[string]string{}}
	// Each step a second later, so "the latest mail" is well defined.
	tick := func() { f.clk.t = f.clk.t.Add(time.Second) }
	request := func(email string) *httptest.ResponseRecorder {
		t.Helper()
		tick()
		page := b.do(http.MethodGet, account.PathRecover, nil)
		return b.do(http.MethodPost, account.PathRecover, url.Values{"csrf_token": {csrfOf(t, page.Body.String())}, "email": {email}})
	}
	latestMail := func(to string) storage.Mail {
		t.Helper()
		list, err := f.st.ListMail(ctx, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range list {
			if m.To == to {
				return m
			}
		}
		t.Fatalf("no mail to %s", to)
		return storage.Mail{}
	}
	linkRe := regexp.MustCompile(`https://id\.example\.com/account/reset\?token=([A-Za-z0-9_-]+)`)
	tokenIn := func(m storage.Mail) string {
		t.Helper()
		got := linkRe.FindStringSubmatch(m.Text)
		if got == nil || !strings.Contains(m.HTML, got[0]) {
			t.Fatalf("no reset link in %+v", m)
		}
		return got[1]
	}

	// No enumeration: the same page for an account and for no account.
	known, unknown := request("Ann@Example.com"), request("bob@example.com")
	if known.Code != 200 || unknown.Code != 200 || strings.ReplaceAll(known.Body.String(), "ann@example.com", "X") != strings.ReplaceAll(unknown.Body.String(), "bob@example.com", "X") {
		t.Fatalf("the answers differ:\n%s\n%s", known.Body, unknown.Body)
	}
	if m := latestMail("bob@example.com"); linkRe.MatchString(m.Text) || !strings.Contains(m.Text, "no account") {
		t.Fatalf("mail to an address without an account: %+v", m)
	}
	m := latestMail("ann@example.com")
	if m.Subject != "Reset your Acme ID password" {
		t.Fatalf("subject %q", m.Subject)
	}
	token := tokenIn(m)

	reset := func(tok, pw, pw2 string) *httptest.ResponseRecorder {
		t.Helper()
		tick()
		page := b.do(http.MethodGet, account.PathReset+"?token="+url.QueryEscape(tok), nil)
		if page.Code != 200 {
			return page
		}
		return b.do(http.MethodPost, account.PathReset, url.Values{"csrf_token": {csrfOf(t, page.Body.String())}, "token": {tok}, "password": {pw}, "password2": {pw2}})
	}
	for name, tok := range map[string]string{"tampered": token[:len(token)-2] + "AA", "empty": "", "made up": "not-a-token"} {
		if w := reset(tok, "a-new-long-password", "a-new-long-password"); w.Code != 400 || !strings.Contains(w.Body.String(), "expired") {
			t.Errorf("%s link: %d", name, w.Code)
		}
	}
	if w := reset(token, "too-short", "too-short"); w.Code != 400 || !strings.Contains(w.Body.String(), "at least 12") {
		t.Fatalf("short password: %d\n%s", w.Code, w.Body)
	}
	if w := reset(token, "a-new-long-password", "a-different-password"); w.Code != 400 || !strings.Contains(w.Body.String(), "not the same") {
		t.Fatalf("mismatch: %d", w.Code)
	}
	// A refused password did not cost the link; a wrong CSRF token is refused.
	if w := b.do(http.MethodPost, account.PathReset, url.Values{"csrf_token": {"forged"}, "token": {token}, "password": {"a-new-long-password"}, "password2": {"a-new-long-password"}}); w.Code != 403 {
		t.Fatalf("forged CSRF: %d", w.Code)
	}
	if w := reset(token, "a-new-long-password", "a-new-long-password"); w.Code != 200 || !strings.Contains(w.Body.String(), "Your password is set") {
		t.Fatalf("reset: %d\n%s", w.Code, w.Body)
	}
	u, _ := f.st.GetUser(ctx, "ann")
	if _, err := password.Verify(u.PasswordHash, "a-new-long-password"); err != nil {
		t.Fatal("the new password does not verify")
	}
	if _, err := f.st.GetSession(ctx, web.HashID("ann-session"), f.clk.t); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the session before the reset lives on: %v", err)
	}
	if n := latestMail("ann@example.com"); !strings.Contains(n.Subject, "was changed") || !strings.Contains(n.Text, account.PathRecover) {
		t.Fatalf("no notice: %+v", n)
	}
	if w := reset(token, "another-long-password", "another-long-password"); w.Code != 400 {
		t.Fatalf("a used link worked again: %d", w.Code)
	}

	// A link dies when the account changes (here its password, by an operator).
	request("ann@example.com")
	changed := tokenIn(latestMail("ann@example.com"))
	h2, _ := password.Hash("operator-set-password")
	if _, err := account.SetPassword(ctx, f.st, "ann", h2, nil, f.clk.t); err != nil {
		t.Fatal(err)
	}
	if w := reset(changed, "a-third-long-password", "a-third-long-password"); w.Code != 400 {
		t.Fatalf("a link outlived a password change: %d", w.Code)
	}
	// Expired after 15 minutes.
	request("ann@example.com")
	late := tokenIn(latestMail("ann@example.com"))
	// Three requests for one address, then a lock that grows (429).
	if w := request("ann@example.com"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("a fourth request at once: %d", w.Code)
	}
	f.clk.t = f.clk.t.Add(16 * time.Minute)
	if w := reset(late, "a-third-long-password", "a-third-long-password"); w.Code != 400 {
		t.Fatalf("a link older than 15 minutes worked: %d", w.Code)
	}
	// A link of another purpose is not a recovery link.
	if err := f.st.CreateAccountToken(ctx, storage.AccountToken{Hash: sha("verify-token"), Purpose: "verify", Subject: "ann", Binding: []byte("x"),
		CreatedAt: f.clk.t, ExpiresAt: f.clk.t.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if w := reset("verify-token", "a-third-long-password", "a-third-long-password"); w.Code != 400 {
		t.Fatalf("a link of another purpose worked: %d", w.Code)
	}
}

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// TestInvitation: an operator invites an address; the invitee chooses a
// password from the mailed link, which confirms the address; the link works
// once.
func TestInvitation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	outbox := mail.NewOutbox(f.st, f.clk.Now, nil)
	o := ops.New(f.st, ops.Options{Now: f.clk.Now, Mailer: &account.Mailer{Mail: outbox, Pages: f.pages, Issuer: "https://id.example.com", Product: "Acme ID"}})
	account.NewRecovery(account.RecoveryOptions{Web: f.kit, Store: f.st, Mail: outbox, Pages: f.pages, Hasher: password.NewHasher(1, 1, 0),
		Issuer: "https://id.example.com", Log: f.log, Now: f.clk.Now}).Register(f.mux)
	u, err := o.Users.Invite(ctx, ops.Actor{Name: "cli:tester"}, "Newcomer@Example.com", "New Comer")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Users.Invite(ctx, ops.Actor{Name: "cli:tester"}, "newcomer@example.com", ""); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("a second invitation for the address: %v", err)
	}
	list, _ := f.st.ListMail(ctx, 5)
	got := regexp.MustCompile(`/account/invite\?token=([A-Za-z0-9_-]+)`).FindStringSubmatch(list[0].Text)
	if len(list) != 1 || got == nil || !strings.Contains(list[0].Subject, "invited") {
		t.Fatalf("invitation mail: %+v", list)
	}
	b := &browser{t: t, f: f, cookies: map[string]string{}}
	page := b.do(http.MethodGet, account.PathInvite+"?token="+got[1], nil)
	if page.Code != 200 || !strings.Contains(page.Body.String(), "Choose your password") {
		t.Fatalf("invitation page: %d\n%s", page.Code, page.Body)
	}
	w := b.do(http.MethodPost, account.PathInvite, url.Values{"csrf_token": {csrfOf(t, page.Body.String())}, "token": {got[1]},
		"password": {"the newcomer's passphrase"}, "password2": {"the newcomer's passphrase"}})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Your account is ready") {
		t.Fatalf("choose a password: %d\n%s", w.Code, w.Body)
	}
	after, _ := f.st.GetUser(ctx, u.Subject)
	if _, err := password.Verify(after.PasswordHash, "the newcomer's passphrase"); err != nil || !after.EmailVerified {
		t.Fatalf("after accepting: verified %v, %v", after.EmailVerified, err)
	}
	if w := b.do(http.MethodGet, account.PathInvite+"?token="+got[1], nil); w.Code != 400 {
		t.Fatalf("a used invitation opened again: %d", w.Code)
	}
	// A recovery link is not an invitation link.
	if w := b.do(http.MethodGet, account.PathReset+"?token="+got[1], nil); w.Code != 400 {
		t.Fatalf("the invitation link as a reset link: %d", w.Code)
	}
}
