package account_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/account"
	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/authn/backup"
	"github.com/gatehouse-id/gatehouse/authn/passkey"
	"github.com/gatehouse-id/gatehouse/authn/totp"
	"github.com/gatehouse-id/gatehouse/consent"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore/sqlitetest"
	"github.com/gatehouse-id/gatehouse/templates"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// fixture is the account pages and the sign-in pages they send browsers
// to, on a temporary SQLite database with one user ("alice") and an
// injected clock.
type fixture struct {
	mux   *http.ServeMux
	st    *sqlstore.Store
	clk   *clock
	kit   *web.Kit
	totp  totp.Step
	pages *templates.Renderer
	log   *slog.Logger
	cs    *consent.Service
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st := sqlitetest.Open(t)
	clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 10, 0, time.UTC)}
	if err := st.CreateUser(ctx, storage.User{Subject: "alice", Email: "alice@example.test", CreatedAt: clk.t, UpdatedAt: clk.t}); err != nil {
		t.Fatal(err)
	}
	cipher, err := keys.NewCipher([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := templates.New("")
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("k0123456789abcdef0123456789abcdef")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	kit := web.New(web.Options{Store: st, Pages: pages, CSRFKey: key, SessionLifetime: time.Hour, Log: log, Now: clk.Now})
	otp := totp.Step{Store: st, Cipher: cipher, Now: clk.Now}
	pk, err := passkey.New(passkey.Config{RPID: "login.example.test", Origins: []string{"https://login.example.test"}}, st, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := consent.New(consent.Options{Store: st, Links: st, Web: kit, Attempts: attempt.New(st, clk.Now), CSRFKey: key, Cipher: cipher,
		Steps: []authn.Authenticator{otp, pk}, ConsentLifetime: time.Hour, FlowLifetime: time.Hour, Log: log, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	cs.Register(mux)
	account.NewPages(account.PageOptions{Web: kit, Store: st, SignIn: cs, Passkeys: pk, Cipher: cipher, BackupCodeKey: key,
		Log: log, Now: clk.Now}).Register(mux)
	return &fixture{mux: mux, st: st, clk: clk, kit: kit, totp: otp, pages: pages, log: log, cs: cs}
}

// csrfFor is the CSRF token a browser with this CSRF cookie gets for a
// purpose.
func (f *fixture) csrfFor(cookie, purpose string) string {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: "gatehouse_csrf", Value: cookie})
	return f.kit.CSRFToken(httptest.NewRecorder(), r, purpose)
}

// TestAccountChangesNeedFreshLogin: every change on the account page needs
// a login no older than ReauthenticateAfter; viewing does not.
func TestAccountChangesNeedFreshLogin(t *testing.T) {
	f := newFixture(t)
	s, st, clk, mux := f, f.st, f.clk, f.mux
	ctx := context.Background()
	const cookie, csrfCookie = "session-cookie-value-0123456789abcdef", "csrf-cookie-value-0123456789abcdef0123"
	login := clk.t
	if err := st.CreateSession(ctx, storage.BrowserSession{IDHash: web.HashID(cookie), SID: "sid-1", Subject: "alice", AuthTime: login,
		AMR: []string{"pwd"}, CreatedAt: login, ExpiresAt: login.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	do := func(method, path string, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "gatehouse_session", Value: cookie})
		req.AddCookie(&http.Cookie{Name: "gatehouse_csrf", Value: csrfCookie})
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return w
	}
	token := s.csrfFor(csrfCookie, "account\x00sid-1")
	changes := []string{"/account/totp", "/account/totp/remove", "/account/backup-codes", "/account/passkeys", "/account/passkeys/remove"}
	tests := []struct {
		name  string
		age   time.Duration
		fresh bool
	}{
		{"just signed in", time.Minute, true},
		{"signed in 10 minutes ago", 10 * time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.t = login.Add(tt.age)
			if w := do(http.MethodGet, "/account", nil); w.Code != 200 || strings.Contains(w.Body.String(), `action="/account/reauthenticate"`) == tt.fresh {
				t.Errorf("account page: %d, offers re-authentication: %v", w.Code, !tt.fresh)
			}
			for _, path := range changes {
				w := do(http.MethodPost, path, url.Values{"csrf_token": {token}})
				stale := w.Code == http.StatusForbidden && strings.Contains(w.Body.String(), "Confirm it is you")
				if stale == tt.fresh {
					t.Errorf("POST %s: %d (fresh login %v)", path, w.Code, tt.fresh)
				}
			}
			if w := do(http.MethodPost, "/account/totp", url.Values{"csrf_token": {"wrong"}}); w.Code != http.StatusForbidden {
				t.Errorf("wrong CSRF token: %d", w.Code)
			}
		})
	}
	// Re-authenticating starts a prompt=login flow back to the account page.
	w := do(http.MethodPost, "/account/reauthenticate", url.Values{"csrf_token": {token}})
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), consent.PathLogin+"?flow=") {
		t.Errorf("reauthenticate: %d %s", w.Code, w.Header().Get("Location"))
	}
}

// TestTOTPEnrollment: enrollment with an injected clock; activation only
// after a correct code; the secret is stored sealed; the code used to
// activate cannot sign in; ten backup codes are shown once.
func TestTOTPEnrollment(t *testing.T) {
	f := newFixture(t)
	s, st, clk, mux := f, f.st, f.clk, f.mux
	ctx := context.Background()
	const cookie, csrfCookie = "session-cookie-value-0123456789abcdef", "csrf-cookie-value-0123456789abcdef0123"
	if err := st.CreateSession(ctx, storage.BrowserSession{IDHash: web.HashID(cookie), SID: "sid-1", Subject: "alice", AuthTime: clk.t,
		AMR: []string{"pwd"}, CreatedAt: clk.t, ExpiresAt: clk.t.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	post := func(path string, form url.Values) string {
		form.Set("csrf_token", s.csrfFor(csrfCookie, "account\x00sid-1"))
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "gatehouse_session", Value: cookie})
		req.AddCookie(&http.Cookie{Name: "gatehouse_csrf", Value: csrfCookie})
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != 200 {
			t.Fatalf("POST %s: %d\n%s", path, w.Code, w.Body)
		}
		return w.Body.String()
	}
	between := func(s, a, b string) string {
		i := strings.Index(s, a)
		if i < 0 {
			t.Fatalf("%q not on the page", a)
		}
		s = s[i+len(a):]
		return s[:strings.Index(s, b)]
	}
	page := post("/account/totp", url.Values{})
	secret := strings.ReplaceAll(between(page, `id="totp-secret">`, "<"), " ", "")
	ceremony := between(page, `name="ceremony" value="`, `"`)
	if !strings.Contains(page, "<svg") {
		t.Error("no QR code")
	}
	if creds, _ := st.ListCredentials(ctx, "alice", storage.CredentialTOTP); len(creds) != 0 {
		t.Fatal("enrolled before a code was confirmed")
	}
	wrong := post("/account/totp/confirm", url.Values{"ceremony": {ceremony}, "code": {"000000"}})
	if !strings.Contains(wrong, "did not work") {
		t.Fatal("a wrong code was not refused")
	}
	// A code from two steps ago does not activate it either.
	old, _ := pqtotp.GenerateCode(secret, clk.t.Add(-60*time.Second))
	if !strings.Contains(post("/account/totp/confirm", url.Values{"ceremony": {ceremony}, "code": {old}}), "did not work") {
		t.Fatal("a code two steps old activated the app")
	}
	code, _ := pqtotp.GenerateCode(secret, clk.t)
	done := post("/account/totp/confirm", url.Values{"ceremony": {ceremony}, "code": {code}})
	if n := strings.Count(done, "<li><code>"); n != backup.Count {
		t.Fatalf("%d backup codes shown", n)
	}
	creds, err := st.ListCredentials(ctx, "alice", storage.CredentialTOTP)
	if err != nil || len(creds) != 1 {
		t.Fatalf("TOTP credentials: %v %v", creds, err)
	}
	if strings.Contains(string(creds[0].Secret), secret) {
		t.Error("the TOTP secret is stored in the clear")
	}
	// The activation code cannot sign in; the next step's can.
	if _, err := f.totp.Verify(ctx, authn.Attempt{Subject: "alice"}, authn.Input{Code: code}); err == nil {
		t.Error("the activation code signed in")
	}
	clk.t = clk.t.Add(30 * time.Second)
	next, _ := pqtotp.GenerateCode(secret, clk.t)
	if _, err := f.totp.Verify(ctx, authn.Attempt{Subject: "alice"}, authn.Input{Code: next}); err != nil {
		t.Errorf("next code: %v", err)
	}
	// The ceremony was single-use.
	req := url.Values{"ceremony": {ceremony}, "code": {next}}
	req.Set("csrf_token", s.csrfFor(csrfCookie, "account\x00sid-1"))
	r := httptest.NewRequest(http.MethodPost, "/account/totp/confirm", strings.NewReader(req.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(&http.Cookie{Name: "gatehouse_session", Value: cookie})
	r.AddCookie(&http.Cookie{Name: "gatehouse_csrf", Value: csrfCookie})
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest {
		t.Errorf("reused enrollment ceremony: %d", w.Code)
	}
}
