package conformance

import (
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// logoutReceiver is a relying party's back-channel logout endpoint: it
// keeps every logout token POSTed to it, by path, and answers status.
type logoutReceiver struct {
	t      *testing.T
	addr   string
	mu     sync.Mutex
	got    map[string][]string // path → logout tokens
	extra  []string            // unexpected form members
	status int
	srv    *http.Server
	notify chan struct{}
}

func startReceiver(t *testing.T) *logoutReceiver {
	t.Helper()
	r := &logoutReceiver{t: t, addr: "127.0.0.1:0", got: map[string][]string{}, status: http.StatusOK, notify: make(chan struct{}, 1)}
	r.up()
	t.Cleanup(r.down)
	return r
}

// up serves (again) on the receiver's address.
func (r *logoutReceiver) up() {
	r.t.Helper()
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") || req.ParseForm() != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for k := range req.PostForm {
			if k != "logout_token" {
				r.extra = append(r.extra, k)
			}
		}
		status := r.status
		if status == http.StatusOK {
			r.got[req.URL.Path] = append(r.got[req.URL.Path], req.PostForm.Get("logout_token"))
		}
		r.mu.Unlock()
		select {
		case r.notify <- struct{}{}:
		default:
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
	})}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (r *logoutReceiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	_ = srv.Close()
}

func (r *logoutReceiver) url(path string) string { return "http://" + r.addr + path }

// wait returns the tokens POSTed to path once there are n, within d.
func (r *logoutReceiver) wait(path string, n int, d time.Duration) []string {
	r.t.Helper()
	deadline := time.After(d)
	for {
		r.mu.Lock()
		got := slices.Clone(r.got[path])
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.notify:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			r.t.Fatalf("%d of %d logout tokens reached %s in %v", len(got), n, path, d)
		}
	}
}

// verifyLogoutToken checks a logout token as a relying party must
// (Back-Channel Logout §2.6, and the OIDF plan's C177–C182): signed by a
// key of the issuer's JWKS with the client's algorithm, typ logout+jwt,
// iss, aud, a recent iat, exp, a jti, exactly the back-channel event,
// sub and sid of the ID token, no nonce. It returns the claims.
func verifyLogoutToken(t *testing.T, s *server, raw, clientID string, idToken map[string]any) map[string]any {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("logout token: %v", err)
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "logout+jwt" {
		t.Errorf("typ %q, want logout+jwt", typ)
	}
	var set jose.JSONWebKeySet
	ks, _ := getJSON(t, s.issuer+"/.well-known/jwks.json")
	b, _ := json.Marshal(ks)
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(h.KeyID)
	if len(keys) == 0 {
		t.Fatalf("kid %q is not in the JWKS", h.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	iat, _ := c["iat"].(float64)
	exp, _ := c["exp"].(float64)
	now := float64(time.Now().Unix())
	events, _ := c["events"].(map[string]any)
	ev, isObj := events["http://schemas.openid.net/event/backchannel-logout"].(map[string]any)
	switch {
	case c["iss"] != s.issuer:
		t.Errorf("iss %v", c["iss"])
	case c["aud"] != clientID:
		t.Errorf("aud %v, want %s", c["aud"], clientID)
	case iat < now-60 || iat > now+5 || exp <= iat:
		t.Errorf("iat %v exp %v (now %v)", iat, exp, now)
	case c["jti"] == nil || c["jti"] == "":
		t.Error("no jti")
	case len(events) != 1 || !isObj || len(ev) != 0:
		t.Errorf("events %v", c["events"])
	case c["nonce"] != nil:
		t.Error("a nonce in a logout token")
	case c["sub"] != idToken["sub"] || c["sid"] == nil || (idToken["sid"] != nil && c["sid"] != idToken["sid"]):
		t.Errorf("sub %v sid %v, want the ID token's %v %v", c["sub"], c["sid"], idToken["sub"], idToken["sid"])
	}
	return c
}

// TestBackchannelLogout (issue 18): two clients sign in through one browser
// session; RP-initiated logout from one sends each client that registered
// a back-channel URI a logout token it can verify against the JWKS; a
// receiver that is down gets its token when it comes back.
func TestBackchannelLogout(t *testing.T) {
	t.Parallel()
	recv := startReceiver(t)
	s := startServer(t, backends(t)[0].newURL(t))
	// Loopback http logout URIs are accepted under --dev only.
	a := s.createClient(t, "--dev", "--name", "App A", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpPostLogout,
		"--backchannel-logout-uri", recv.url("/a"))
	b := s.createClient(t, "--dev", "--name", "App B", "--redirect-uri", rpRedirect, "--backchannel-logout-uri", recv.url("/b"),
		"--backchannel-logout-session-required", "--subject-type", "pairwise")
	plain := s.createClient(t, "--name", "App without back-channel", "--redirect-uri", rpRedirect)
	u := s.createUser(t)
	envA := &env{srv: s, user: u, client: a, rp: newRP(t, s, a, rpRedirect)}
	envB := &env{srv: s, user: u, client: b, rp: newRP(t, s, b, rpRedirect)}
	envP := &env{srv: s, user: u, client: plain, rp: newRP(t, s, plain, rpRedirect)}

	br := newBrowser(t, s)
	_, tkA := envA.fullLogin(t, br)
	_, tkB := envB.fullLogin(t, br)
	envP.fullLogin(t, br)
	if tkA.claims["sid"] == nil || tkA.claims["sid"] != tkB.claims["sid"] || tkA.claims["sub"] == tkB.claims["sub"] {
		t.Fatalf("one session, a public and a pairwise subject: %v / %v", tkA.claims, tkB.claims)
	}
	p := br.get(s.issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {tkA.raw}, "post_logout_redirect_uri": {rpPostLogout}, "state": {"st"}}.Encode())
	if p.status != http.StatusSeeOther || p.location != rpPostLogout+"?state=st" {
		t.Fatalf("logout: %d %q", p.status, p.location)
	}
	gotB := verifyLogoutToken(t, s, recv.wait("/b", 1, 20*time.Second)[0], b.ID, tkB.claims)
	gotA := verifyLogoutToken(t, s, recv.wait("/a", 1, 20*time.Second)[0], a.ID, tkA.claims)
	if gotA["jti"] == gotB["jti"] {
		t.Error("two tokens share a jti")
	}
	recv.mu.Lock()
	if recv.extra != nil {
		t.Errorf("form members besides logout_token: %v", recv.extra)
	}
	recv.mu.Unlock()

	// The receiver is down for 30 s from when the next session ends: its
	// token arrives once it is back (retries come after 30 s, then 60 s).
	br2 := newBrowser(t, s)
	_, tk2 := envB.fullLogin(t, br2)
	recv.down()
	p = br2.get(s.issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {tk2.raw}}.Encode())
	if !strings.Contains(p.body, `id="signed-out"`) {
		t.Fatalf("logout: %d\n%s", p.status, p.body)
	}
	time.Sleep(30 * time.Second) // the first attempt, and maybe the first retry, fail meanwhile
	recv.up()
	verifyLogoutToken(t, s, recv.wait("/b", 2, 120*time.Second)[1], b.ID, tk2.claims)

	// "Sign out everywhere" on the account page, and an operator disabling
	// the user through the admin API, reach the clients of every session
	// of the user.
	twoSessions := func() map[string]bool {
		sids := map[string]bool{}
		for range 2 {
			_, tk := envB.fullLogin(t, newBrowser(t, s))
			sids[tk.claims["sid"].(string)] = true
		}
		return sids
	}
	sidsOf := func(raws []string, tk tokens) map[string]bool {
		got := map[string]bool{}
		for _, raw := range raws {
			c := verifyLogoutToken(t, s, raw, b.ID, map[string]any{"sub": tk.claims["sub"], "sid": nil})
			got[c["sid"].(string)] = true
		}
		return got
	}
	want := twoSessions()
	br3 := newBrowser(t, s)
	_, tk3 := envB.fullLogin(t, br3)
	want[tk3.claims["sid"].(string)] = true
	p = br3.submit(findForm(t, br3.get(s.issuer+"/account/activity"), "/account/activity/sessions/remove-all"), nil)
	if !strings.Contains(p.body, "signed out everywhere") {
		t.Fatalf("sign out everywhere: %d\n%s", p.status, p.body)
	}
	if got := sidsOf(recv.wait("/b", 5, 20*time.Second)[2:], tk3); !maps.Equal(got, want) {
		t.Fatalf("sign out everywhere told the sessions %v, want %v", got, want)
	}
	want = twoSessions()
	admin := strings.TrimSpace(s.cli(t, "", "admin-keys", "create", "--name", "ops", "--role", "admin"))
	if st, body := adminCall(t, s, "POST", "/admin/v1/users/"+tkA.claims["sub"].(string)+"/disabled", admin, map[string]any{"disabled": true}); st != 200 {
		t.Fatalf("admin API disable: %d %v", st, body)
	}
	if got := sidsOf(recv.wait("/b", 7, 20*time.Second)[5:], tk3); !maps.Equal(got, want) {
		t.Fatalf("disabling told the sessions %v, want %v", got, want)
	}
	// Deleting a user with the CLI (which queues; the running server
	// delivers): its sessions go with it, and are told.
	u2 := s.createUser(t)
	envB2 := &env{srv: s, user: u2, client: b, rp: envB.rp}
	want = map[string]bool{}
	var tk4 tokens
	for range 2 {
		_, tk4 = envB2.fullLogin(t, newBrowser(t, s))
		want[tk4.claims["sid"].(string)] = true
	}
	s.cli(t, "", "users", "delete", "--email", u2.email)
	if got := sidsOf(recv.wait("/b", 9, 20*time.Second)[7:], tk4); !maps.Equal(got, want) {
		t.Fatalf("deleting told the sessions %v, want %v", got, want)
	}
}

// TestBackchannelLogoutGivesUp: a receiver that answers 500 forever is
// retried until logout.backchannel_give_up_after, then given up, which is
// audited and counted; it does not hold the logout up.
func TestBackchannelLogoutGivesUp(t *testing.T) {
	t.Parallel()
	recv := startReceiver(t)
	recv.mu.Lock()
	recv.status = http.StatusInternalServerError
	recv.mu.Unlock()
	s := startServer(t, backends(t)[0].newURL(t), "GATEHOUSE_LOGOUT_BACKCHANNEL_GIVE_UP_AFTER=2s")
	c := s.createClient(t, "--dev", "--name", "Broken RP", "--redirect-uri", rpRedirect, "--backchannel-logout-uri", recv.url("/broken"))
	e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
	br := newBrowser(t, s)
	_, tk := e.fullLogin(t, br)
	p := br.get(s.issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {tk.raw}}.Encode())
	if !strings.Contains(p.body, `id="signed-out"`) {
		t.Fatalf("logout: %d\n%s", p.status, p.body)
	}
	deadline := time.Now().Add(30 * time.Second)
	out := ""
	for time.Now().Before(deadline) && !strings.Contains(out, "logout.backchannel_failed") {
		time.Sleep(500 * time.Millisecond)
		out = s.cli(t, "", "audit", "list")
	}
	if !strings.Contains(out, "logout.backchannel_failed") || !strings.Contains(out, c.ID) || !strings.Contains(out, "answered 500") {
		t.Fatalf("no audit of the token given up:\n%s", out)
	}
	key := strings.TrimSpace(s.cli(t, "", "admin-keys", "create", "--name", "prometheus", "--role", "metrics:read"))
	_, metrics := adminGetText(t, s, "/metrics", key)
	for _, want := range []string{"gatehouse_backchannel_logout_abandoned_total 1", "gatehouse_backchannel_logout_waiting 0", "gatehouse_backchannel_logout_sent_total 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestBackchannelLogoutSurvivesKill: the server is SIGKILLed after a
// logout whose token could not be delivered yet (the receiver is down);
// restarted, it delivers the token once the receiver is back, once.
func TestBackchannelLogoutSurvivesKill(t *testing.T) {
	t.Parallel()
	recv := startReceiver(t)
	db := backends(t)[0].newURL(t)
	issuer, point := front(t) // the restarted server keeps the issuer, on another port
	s := startOn(t, 0, db, issuer)
	point(s.base)
	c := s.createClient(t, "--dev", "--name", "RP", "--redirect-uri", rpRedirect, "--backchannel-logout-uri", recv.url("/rp"))
	e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
	br := newBrowser(t, s)
	_, tk := e.fullLogin(t, br)
	recv.down()
	if p := br.get(s.issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {tk.raw}}.Encode()); !strings.Contains(p.body, `id="signed-out"`) {
		t.Fatalf("logout: %d\n%s", p.status, p.body)
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = s.cmd.Wait()

	recv.up()
	s2 := startOn(t, 0, db, issuer)
	point(s2.base)
	// The restarted server retries after the first attempt's back-off (30 s
	// ± 20 %), or, when the kill came between claiming and recording, once
	// the dead server's claim lapses.
	verifyLogoutToken(t, s2, recv.wait("/rp", 1, 100*time.Second)[0], c.ID, tk.claims)
	time.Sleep(6 * time.Second) // a poll more: nothing is delivered twice
	recv.mu.Lock()
	n := len(recv.got["/rp"])
	recv.mu.Unlock()
	if n != 1 {
		t.Errorf("%d logout tokens delivered, want 1", n)
	}
}

// TestLogoutRevokesSessionTokens (issue 18, part 4; OpenID Connect Core
// §11): ending a session revokes what was issued in it, except grants
// with offline_access, which outlive it; an account-level end (disabling)
// revokes those too. Checked at introspection, userinfo and the token
// endpoint, for RP-initiated logout and the account page's per-browser
// sign-out.
func TestLogoutRevokesSessionTokens(t *testing.T) {
	t.Parallel()
	s := startServer(t, backends(t)[0].newURL(t))
	online := s.createClient(t, "--name", "Online", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpPostLogout)
	offline := s.createClient(t, "--name", "Offline", "--redirect-uri", rpRedirect)
	u := s.createUser(t)
	envOn := &env{srv: s, user: u, client: online, rp: newRP(t, s, online, rpRedirect, "openid", "email")}
	envOff := &env{srv: s, user: u, client: offline, rp: newRP(t, s, offline, rpRedirect)}
	refresh := func(tk tokens) (int, map[string]any) {
		st, body, _ := s.tokenRequest(t, offline, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.token.RefreshToken}})
		return st, body
	}
	for _, how := range []string{"RP-initiated logout", "account sign-out"} {
		br := newBrowser(t, s)
		_, on := envOn.fullLogin(t, br)
		_, off := envOff.fullLogin(t, br)
		// A second session's tokens are not this session's.
		_, elsewhere := envOn.fullLogin(t, newBrowser(t, s))
		if on.token.RefreshToken != "" || off.token.RefreshToken == "" {
			t.Fatalf("refresh tokens: online %q, offline %q", on.token.RefreshToken, off.token.RefreshToken)
		}
		if !s.introspect(t, online, on.token.AccessToken) || s.userinfoStatus(t, on.token.AccessToken) != http.StatusOK {
			t.Fatal("the online access token does not work before the logout")
		}
		switch how {
		case "RP-initiated logout":
			p := br.get(s.issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {on.raw}, "post_logout_redirect_uri": {rpPostLogout}}.Encode())
			if p.status != http.StatusSeeOther {
				t.Fatalf("logout: %d", p.status)
			}
		case "account sign-out":
			p := br.submit(findForm(t, br.get(s.issuer+"/account"), "/account/sign-out"), nil)
			if !strings.Contains(p.body, `id="signed-out"`) {
				t.Fatalf("account sign-out: %d\n%s", p.status, p.body)
			}
		}
		if s.introspect(t, online, on.token.AccessToken) || s.userinfoStatus(t, on.token.AccessToken) != http.StatusUnauthorized {
			t.Errorf("%s: the access token issued in the session still works", how)
		}
		if !s.introspect(t, online, elsewhere.token.AccessToken) {
			t.Errorf("%s: another session's access token was revoked", how)
		}
		if !s.introspect(t, offline, off.token.AccessToken) || s.userinfoStatus(t, off.token.AccessToken) != http.StatusOK {
			t.Errorf("%s: the offline_access grant's access token was revoked", how)
		}
		if st, body := refresh(off); st != http.StatusOK {
			t.Errorf("%s: the offline_access refresh token was revoked: %d %v", how, st, body)
		}
	}
	// Account-level: disabling the user revokes offline grants too.
	_, off := envOff.fullLogin(t, newBrowser(t, s))
	s.cli(t, "", "users", "disable", "--email", u.email)
	if st, body := refresh(off); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("after disabling: refresh %d %v, want invalid_grant", st, body)
	}
}

// TestReauthenticationKeepsTheSession: an app that asks the user to sign
// in again (prompt=login, max_age) gets a fresh authentication in the same
// session — same sid, a new cookie — so the other apps of the session are
// neither told of a logout nor lose their tokens. Another user signing in
// in that browser does end the first user's session.
func TestReauthenticationKeepsTheSession(t *testing.T) {
	t.Parallel()
	recv := startReceiver(t)
	s := startServer(t, backends(t)[0].newURL(t))
	a := s.createClient(t, "--dev", "--name", "App A", "--redirect-uri", rpRedirect, "--backchannel-logout-uri", recv.url("/a"))
	b := s.createClient(t, "--dev", "--name", "App B", "--redirect-uri", rpRedirect, "--backchannel-logout-uri", recv.url("/b"))
	u := s.createUser(t)
	envA := &env{srv: s, user: u, client: a, rp: newRP(t, s, a, rpRedirect, "openid", "email")}
	envB := &env{srv: s, user: u, client: b, rp: newRP(t, s, b, rpRedirect, "openid", "email")}
	br := newBrowser(t, s)
	_, tkA := envA.fullLogin(t, br)
	_, tkB := envB.fullLogin(t, br)
	cookieBefore := sessionCookieOf(t, br)
	for _, opt := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")} {
		time.Sleep(1100 * time.Millisecond) // a later auth_time
		_, again := envA.fullLogin(t, br, opt)
		if again.claims["sid"] != tkA.claims["sid"] || authTime(again) <= authTime(tkA) {
			t.Fatalf("re-authentication: sid %v (was %v), auth_time %v (was %v)", again.claims["sid"], tkA.claims["sid"], authTime(again), authTime(tkA))
		}
	}
	if c := sessionCookieOf(t, br); c == "" || c == cookieBefore {
		t.Error("the session cookie was not renewed by signing in again")
	}
	if !s.introspect(t, b, tkB.token.AccessToken) {
		t.Error("re-authenticating for A revoked B's access token")
	}
	// B hears nothing (give a wrongly queued token time to arrive).
	time.Sleep(2 * time.Second)
	recv.mu.Lock()
	told := len(recv.got["/b"])
	recv.mu.Unlock()
	if told != 0 {
		t.Fatalf("B was sent %d logout tokens for a re-authentication", told)
	}
	// Someone else signs in in this browser: the first session ends.
	other := s.createUser(t)
	(&env{srv: s, user: other, client: a, rp: envA.rp}).fullLogin(t, br, oauth2.SetAuthURLParam("prompt", "login"))
	verifyLogoutToken(t, s, recv.wait("/b", 1, 20*time.Second)[0], b.ID, tkB.claims)
	if s.introspect(t, b, tkB.token.AccessToken) {
		t.Error("the first user's session ended, but B's access token from it still works")
	}
}

// sessionCookieOf is the browser's gatehouse session cookie ("" if none).
func sessionCookieOf(t *testing.T, br *browser) string {
	t.Helper()
	u, _ := url.Parse(br.srv.issuer)
	for _, c := range br.c.Jar.Cookies(u) {
		if c.Name == "gatehouse_session" || c.Name == "__Host-gatehouse_session" {
			return c.Value
		}
	}
	return ""
}
