package consent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestAccountChangesNeedFreshLogin: every change on the account page needs
// a login no older than ReauthenticateAfter; viewing does not.
func TestAccountChangesNeedFreshLogin(t *testing.T) {
	s, st, clk := newTestService(t)
	mux := http.NewServeMux()
	s.Register(mux)
	ctx := context.Background()
	const cookie, csrfCookie = "session-cookie-value-0123456789abcdef", "csrf-cookie-value-0123456789abcdef0123"
	login := clk.t
	if err := st.CreateSession(ctx, storage.BrowserSession{IDHash: hashID(cookie), SID: "sid-1", Subject: "alice", AuthTime: login,
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
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), PathLogin+"?flow=") {
		t.Errorf("reauthenticate: %d %s", w.Code, w.Header().Get("Location"))
	}
}
