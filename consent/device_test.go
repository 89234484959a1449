package consent

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/web"
)

// TestDeviceCookie: an entry is recognized only for the account it was made
// for and only with its MAC; the cookie keeps at most five entries.
func TestDeviceCookie(t *testing.T) {
	s, _, _ := newTestService(t)
	remember := func(cookie, account string) string {
		r := httptest.NewRequest(http.MethodPost, "/login", nil)
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: s.web.DeviceCookie(), Value: cookie})
		}
		w := httptest.NewRecorder()
		s.rememberDevice(w, r, account)
		for _, c := range w.Result().Cookies() {
			if c.Name == s.web.DeviceCookie() {
				if !c.HttpOnly {
					t.Fatal("the device cookie is readable by scripts")
				}
				return c.Value
			}
		}
		return cookie
	}
	known := func(cookie, account string) bool {
		r := httptest.NewRequest(http.MethodPost, "/login", nil)
		r.AddCookie(&http.Cookie{Name: s.web.DeviceCookie(), Value: cookie})
		_, ok := s.knownDevice(r, account)
		return ok
	}
	c := remember("", "alice@example.test")
	if strings.Contains(c, "alice") {
		t.Fatalf("the cookie names the account: %q", c)
	}
	nonce, mac, _ := strings.Cut(c, ".")
	tests := []struct {
		name, cookie, account string
		want                  bool
	}{
		{"its account", c, "alice@example.test", true},
		{"another account", c, "bob@example.test", false},
		{"a forged MAC", nonce + "." + strings.Repeat("A", len(mac)), "alice@example.test", false},
		{"another nonce", strings.Repeat("n", len(nonce)) + "." + mac, "alice@example.test", false},
		{"garbage", "not-a-device-entry", "alice@example.test", false},
		{"no account typed", c, "", false},
	}
	for _, tt := range tests {
		if got := known(tt.cookie, tt.account); got != tt.want {
			t.Errorf("%s: known = %v, want %v", tt.name, got, tt.want)
		}
	}
	if again := remember(c, "alice@example.test"); again != c {
		t.Error("a known device got a new entry")
	}
	for _, a := range []string{"b@x.test", "c@x.test", "d@x.test", "e@x.test", "f@x.test"} {
		c = remember(c, a)
	}
	if n := len(strings.Split(c, "~")); n != maxDeviceEntries || known(c, "alice@example.test") || !known(c, "f@x.test") {
		t.Errorf("after six accounts: %d entries, oldest kept %v", n, known(c, "alice@example.test"))
	}
}

// TestLoginChallenge: a sealed sign-in challenge opens only for its flow,
// before it expires, and once.
func TestLoginChallenge(t *testing.T) {
	s, _, clk := newTestService(t)
	ctx := context.Background()
	sealed, err := s.sealLoginChallenge("flow-1", []byte(`{"challenge":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.takeLoginChallenge(ctx, sealed, "flow-2"); !errors.Is(err, web.ErrWrongState) {
		t.Errorf("another flow: %v", err)
	}
	if _, err := s.takeLoginChallenge(ctx, "%%%", "flow-1"); !errors.Is(err, web.ErrWrongState) {
		t.Errorf("garbage: %v", err)
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if _, err := s.takeLoginChallenge(ctx, tampered, "flow-1"); !errors.Is(err, web.ErrWrongState) {
		t.Errorf("tampered: %v", err)
	}
	state, err := s.takeLoginChallenge(ctx, sealed, "flow-1")
	if err != nil || string(state) != `{"challenge":"x"}` {
		t.Fatalf("the right flow: %q %v", state, err)
	}
	if _, err := s.takeLoginChallenge(ctx, sealed, "flow-1"); !errors.Is(err, web.ErrWrongState) {
		t.Errorf("replayed: %v", err)
	}
	late, _ := s.sealLoginChallenge("flow-1", []byte(`{}`))
	clk.t = clk.t.Add(loginChallengeLifetime + time.Second)
	if _, err := s.takeLoginChallenge(ctx, late, "flow-1"); !errors.Is(err, web.ErrWrongState) {
		t.Errorf("expired: %v", err)
	}
}
