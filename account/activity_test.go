package account_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/account"
	"github.com/gatehouse-id/gatehouse/consent"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestActivity: the sessions-and-apps page lists where the user is signed
// in and which apps hold access, and ends one session, one app's access
// (its tokens too), or everything; changes need a recent login and a CSRF
// token bound to the session.
func TestActivity(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	account.NewActivity(account.ActivityOptions{Web: f.kit, Store: f.st, SignIn: f.cs, Log: f.log, Now: f.clk.Now}).Register(f.mux)
	login := f.clk.t
	for _, s := range []storage.BrowserSession{
		{IDHash: web.HashID("here"), SID: "sid-here", Subject: "alice", AuthTime: login, AMR: []string{"pwd"}, CreatedAt: login, ExpiresAt: login.Add(time.Hour)},
		{IDHash: web.HashID("phone"), SID: "sid-phone", Subject: "alice", AuthTime: login, AMR: []string{"passkey"}, CreatedAt: login, ExpiresAt: login.Add(time.Hour)},
		{IDHash: web.HashID("laptop"), SID: "sid-laptop", Subject: "alice", AuthTime: login, AMR: []string{"pwd"}, CreatedAt: login, ExpiresAt: login.Add(time.Hour)},
	} {
		if err := f.st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"notes", "photos"} {
		if err := f.st.CreateClient(ctx, storage.Client{ID: id, Name: strings.ToUpper(id[:1]) + id[1:] + " App", RedirectURIs: []string{"https://" + id + ".example/cb"},
			CreatedAt: login, UpdatedAt: login}); err != nil {
			t.Fatal(err)
		}
		if err := f.st.PutConsent(ctx, storage.Consent{Subject: "alice", ClientID: id, Scopes: []string{"openid", "email"}, CreatedAt: login, ExpiresAt: login.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := f.st.CreateToken(ctx, storage.Token{Kind: storage.TokenRefresh, Signature: "rt-" + id, RequestID: "r-" + id, ClientID: id, Subject: "alice",
			Active: true, ExpiresAt: login.Add(time.Hour), CreatedAt: login, Data: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	if w := (&browser{t: t, f: f, cookies: map[string]string{}}).do(http.MethodGet, account.PathActivity, nil); w.Code != http.StatusSeeOther ||
		!strings.HasPrefix(w.Header().Get("Location"), consent.PathLogin+"?flow=") {
		t.Fatalf("signed out: %d %s", w.Code, w.Header().Get("Location"))
	}
	b := &browser{t: t, f: f, cookies: map[string]string{"gatehouse_session": "here"}}
	page := b.do(http.MethodGet, account.PathActivity, nil)
	body := page.Body.String()
	if page.Code != 200 || strings.Count(body, `name="sid"`) != 3 || !strings.Contains(body, "This browser") || !strings.Contains(body, "Notes App") || !strings.Contains(body, "Photos App") ||
		!strings.Contains(body, "last used 26 Nov 2026 12:00 UTC") {
		t.Fatalf("activity page: %d\n%s", page.Code, body)
	}
	csrf := csrfOf(t, body)
	post := func(path string, form url.Values) string {
		t.Helper()
		form.Set("csrf_token", csrf)
		w := b.do(http.MethodPost, account.PathActivity+path, form)
		if w.Code != 200 {
			t.Fatalf("POST %s: %d\n%s", path, w.Code, w.Body)
		}
		return w.Body.String()
	}
	if w := b.do(http.MethodPost, account.PathActivity+"/sessions/remove", url.Values{"csrf_token": {"forged"}, "sid": {"sid-phone"}}); w.Code != 403 {
		t.Fatalf("forged CSRF: %d", w.Code)
	}
	post("/sessions/remove", url.Values{"sid": {"sid-phone"}})
	if _, err := f.st.GetSession(ctx, web.HashID("phone"), f.clk.t); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the phone's session lives on: %v", err)
	}
	if _, err := f.st.GetSession(ctx, web.HashID("here"), f.clk.t); err != nil {
		t.Fatalf("this browser's session went too: %v", err)
	}
	post("/apps/remove", url.Values{"client_id": {"notes"}})
	if _, err := f.st.GetConsent(ctx, "alice", "notes", f.clk.t); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the consent to Notes lives on: %v", err)
	}
	if _, err := f.st.GetToken(ctx, storage.TokenRefresh, "rt-notes"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Notes' refresh token lives on: %v", err)
	}
	if _, err := f.st.GetToken(ctx, storage.TokenRefresh, "rt-photos"); err != nil {
		t.Fatalf("Photos' token went too: %v", err)
	}
	// A stale login may look, not change.
	f.clk.t = login.Add(10 * time.Minute)
	if w := b.do(http.MethodPost, account.PathActivity+"/sessions/remove-all", url.Values{"csrf_token": {csrf}}); w.Code != 403 || !strings.Contains(w.Body.String(), "Confirm it is you") {
		t.Fatalf("a stale login signed out everywhere: %d", w.Code)
	}
	f.clk.t = login.Add(time.Minute)
	if out := post("/sessions/remove-all", url.Values{}); !strings.Contains(out, "signed out everywhere") {
		t.Fatalf("sign out everywhere:\n%s", out)
	}
	if list, _ := f.st.ListSessions(ctx, "alice", f.clk.t); len(list) != 0 {
		t.Fatalf("%d sessions left", len(list))
	}
	if _, err := f.st.GetToken(ctx, storage.TokenRefresh, "rt-photos"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a token survived signing out everywhere: %v", err)
	}
}

// TestSignOut: the account page's sign-out button ends this browser's
// session only.
func TestSignOut(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	account.NewActivity(account.ActivityOptions{Web: f.kit, Store: f.st, SignIn: f.cs, Log: f.log, Now: f.clk.Now}).Register(f.mux)
	for _, id := range []string{"here", "elsewhere"} {
		if err := f.st.CreateSession(ctx, storage.BrowserSession{IDHash: web.HashID(id), SID: "sid-" + id, Subject: "alice", AuthTime: f.clk.t,
			CreatedAt: f.clk.t, ExpiresAt: f.clk.t.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	b := &browser{t: t, f: f, cookies: map[string]string{"gatehouse_session": "here"}}
	csrf := csrfOf(t, b.do(http.MethodGet, account.Path, nil).Body.String())
	w := b.do(http.MethodPost, account.Path+"/sign-out", url.Values{"csrf_token": {csrf}})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "signed out") {
		t.Fatalf("sign out: %d\n%s", w.Code, w.Body)
	}
	if _, err := f.st.GetSession(ctx, web.HashID("here"), f.clk.t); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal("this browser's session lives on")
	}
	if _, err := f.st.GetSession(ctx, web.HashID("elsewhere"), f.clk.t); err != nil {
		t.Fatal("signing out here ended another session")
	}
}
