package conformance

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// The attack suite replays, against the real binary, the attacks that once
// got through (issue 13), and asserts the defence. Servers trust 127.0.0.1
// as a reverse proxy, so each simulated client can have an address of its
// own (X-Forwarded-For): per-account limits are then tested without the
// per-address ones standing in for them.

// trustLoopback makes loopback a trusted proxy.
const trustLoopback = "GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32"

// attackEnv is one server (two replicas on PostgreSQL) with a client and a user.
type attackEnv struct {
	*env
	replicas []*server
}

func newAttackEnv(t *testing.T, b backend, extraEnv ...string) *attackEnv {
	t.Helper()
	db := b.newURL(t)
	vars := append([]string{trustLoopback}, extraEnv...)
	s := startServer(t, db, vars...)
	replicas := []*server{s}
	if b.name == "postgres" {
		replicas = append(replicas, startReplica(t, db, s.issuer, vars...))
	}
	c := s.createClient(t, "--name", "Attack RP", "--redirect-uri", rpRedirect)
	return &attackEnv{env: &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}, replicas: replicas}
}

// loginTarget is a login form ready to be posted many times at once.
type loginTarget struct {
	action string
	fields url.Values
	jar    http.CookieJar
}

func (e *attackEnv) loginTarget(t *testing.T) loginTarget {
	t.Helper()
	br := newBrowser(t, e.srv)
	f := findForm(t, br.follow(br.get(e.rp.newRequest().url)), "/login")
	return loginTarget{action: f.action, fields: f.fields, jar: br.c.Jar}
}

// outcome is what one raw login post got.
type outcome struct {
	status     int
	retryAfter string
	body       string
	err        error
}

// post submits the login form to base as a client at address from.
func (lt loginTarget) post(base, from, email, password string) outcome {
	c := &http.Client{Jar: lt.jar, Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return postFrom(c, base+lt.action, from, form{fields: lt.fields}, url.Values{"email": {email}, "password": {password}})
}

// postFrom posts a form, with some fields set, as a client at address from
// (through the trusted proxy); safe to call from many goroutines.
func postFrom(c *http.Client, target, from string, f form, set url.Values) outcome {
	vals := url.Values{}
	for k, v := range f.fields {
		vals[k] = v
	}
	for k, v := range set {
		vals[k] = v
	}
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(vals.Encode()))
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", from)
	resp, err := c.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return outcome{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(body)}
}

// addr is the n-th simulated client address (TEST-NET-2 and -3).
func addr(n int) string { return fmt.Sprintf("198.51.%d.%d", 100+n/250, 1+n%250) }

// concurrently runs n calls of fn at once and returns their results.
func concurrently[T any](n int, fn func(i int) T) []T {
	out := make([]T, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// TestAttackPasswordGuessing (items 1 and 6): 100 concurrent wrong guesses
// for one account, each from its own address, spread over both replicas:
// no more are checked than the account's limit (5); the owner's right
// password is refused while the lock holds, on every replica and after a
// restart.
func TestAttackPasswordGuessing(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newAttackEnv(t, b)
			lt := e.loginTarget(t)
			res := concurrently(100, func(i int) outcome {
				return lt.post(e.replicas[i%len(e.replicas)].base, addr(i), e.user.email, "guess-"+strconv.Itoa(i))
			})
			checked, limited := 0, 0
			for _, o := range res {
				switch {
				case o.err != nil:
					t.Fatal(o.err)
				case o.status == http.StatusOK && strings.Contains(o.body, "Incorrect email or password."):
					checked++
				case o.status == http.StatusTooManyRequests && o.retryAfter != "":
					limited++
				case o.status == http.StatusServiceUnavailable && o.retryAfter != "" && strings.Contains(o.body, "Too many sign-ins at once"):
					// A reserved guess whose hash waited too long for a slot
					// (a loaded machine): given back unchecked.
					limited++
				default:
					t.Fatalf("unexpected answer %d:\n%s", o.status, o.body)
				}
			}
			t.Logf("100 concurrent guesses on %d replica(s): %d checked, %d refused", len(e.replicas), checked, limited)
			if checked > 5 {
				t.Fatalf("%d guesses were checked, want at most 5", checked)
			}
			for i, s := range e.replicas {
				if o := lt.post(s.base, addr(200+i), e.user.email, e.user.password); o.status != http.StatusTooManyRequests {
					t.Fatalf("the right password on replica %d while locked: %d, want 429", i, o.status)
				}
			}
			// A restart keeps the lock: it is in the database.
			again := startReplica(t, e.srv.dbURL, e.srv.issuer, trustLoopback)
			if o := lt.post(again.base, addr(210), e.user.email, e.user.password); o.status != http.StatusTooManyRequests {
				t.Fatalf("the right password on a restarted server while locked: %d, want 429", o.status)
			}
		})
	}
}

// TestAttackSecondFactorGuessing (item 6): 8 concurrent wrong TOTP codes
// after a correct password: at most 5 are checked, and the right code is
// refused while the lock holds.
func TestAttackSecondFactorGuessing(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newAttackEnv(t, b)
			br := newBrowser(t, e.srv)
			secret, _ := enrollTOTP(t, br, accountPage(t, br, e.user))
			attacker := newBrowser(t, e.srv) // knows the password, not the second factor
			p := attacker.login(attacker.follow(attacker.get(e.rp.newRequest().url)), e.user)
			f := findForm(t, p, "/login/mfa")
			res := concurrently(8, func(i int) outcome {
				return postFrom(attacker.c, e.replicas[i%len(e.replicas)].base+f.action, addr(i), f, url.Values{"method": {"otp"}, "code": {fmt.Sprintf("%06d", i)}})
			})
			checked := 0
			for _, o := range res {
				switch {
				case o.err != nil:
					t.Fatal(o.err)
				case o.status == http.StatusOK && strings.Contains(o.body, "did not work"):
					checked++
				case o.status != http.StatusTooManyRequests || o.retryAfter == "":
					t.Fatalf("unexpected answer %d:\n%s", o.status, o.body)
				}
			}
			if checked > 5 {
				t.Fatalf("%d of 8 concurrent codes were checked, want at most 5", checked)
			}
			p = attacker.submit(f, url.Values{"method": {"otp"}, "code": {nextCode(secret)}})
			if p.status != http.StatusTooManyRequests {
				t.Fatalf("the right code while locked: %d, want 429", p.status)
			}
		})
	}
}

// peakRSS is a process's peak resident set (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestAttackLoginFlood (items 2 and 8): 200 concurrent logins for unknown
// accounts from 200 addresses, on one flow. Password hashing is bounded:
// every answer is the uniform failure or 503 with Retry-After, and the
// server's peak RSS stays under 300 MiB (it grew to 3.5 GiB before).
func TestAttackLoginFlood(t *testing.T) {
	t.Parallel()
	e := newAttackEnv(t, backends(t)[0])
	lt := e.loginTarget(t)
	before := peakRSS(t, e.srv.cmd.Process.Pid)
	var mu sync.Mutex
	var slowest time.Duration
	res := concurrently(200, func(i int) outcome {
		start := time.Now()
		o := lt.post(e.srv.base, addr(i), fmt.Sprintf("nobody-%d-%s@example.test", i, randString(4)), "guess-"+strconv.Itoa(i))
		mu.Lock()
		slowest = max(slowest, time.Since(start))
		mu.Unlock()
		return o
	})
	failed, busy := 0, 0
	for _, o := range res {
		switch {
		case o.err != nil:
			t.Fatal(o.err)
		case o.status == http.StatusOK && strings.Contains(o.body, "Incorrect email or password."):
			failed++
		case o.status == http.StatusServiceUnavailable && o.retryAfter != "":
			busy++
		default:
			t.Fatalf("unexpected answer %d:\n%s", o.status, o.body)
		}
	}
	peak := peakRSS(t, e.srv.cmd.Process.Pid)
	t.Logf("200 concurrent logins: %d checked, %d told to retry (503); peak RSS %d MiB (before %d MiB); slowest answer %v",
		failed, busy, peak>>20, before>>20, slowest.Round(time.Millisecond))
	if failed == 0 {
		t.Fatal("no login was checked at all")
	}
	if peak > 300<<20 {
		t.Fatalf("peak RSS %d MiB, want below 300 MiB", peak>>20)
	}
}

// TestAttackKnownDevice (items 10 and 14): while an attacker keeps the
// account locked from elsewhere, its owner still signs in from a browser
// that signed in before (device cookie); a new browser is refused. The
// audit log records the addresses the trusted proxy gave.
func TestAttackKnownDevice(t *testing.T) {
	t.Parallel()
	e := newAttackEnv(t, backends(t)[0])
	owner := newBrowser(t, e.srv)
	owner.from = "192.0.2.10"
	e.fullLogin(t, owner)
	lt := e.loginTarget(t)
	for i := 0; i < 10; i++ {
		if o := lt.post(e.srv.base, "203.0.113.66", e.user.email, "guess-"+strconv.Itoa(i)); o.err != nil {
			t.Fatal(o.err)
		}
	}
	stranger := newBrowser(t, e.srv)
	stranger.from = "192.0.2.10"
	if p := stranger.login(stranger.follow(stranger.get(e.rp.newRequest().url)), e.user); p.status != http.StatusTooManyRequests {
		t.Fatalf("a new browser with the right password while the account is under attack: %d, want 429", p.status)
	}
	a := e.rp.newRequest(oauth2.SetAuthURLParam("prompt", "login"))
	p := owner.login(owner.follow(owner.get(a.url)), e.user)
	if strings.Contains(p.body, `action="/consent"`) {
		p = owner.approve(p)
	}
	e.rp.exchange(a, owner.callback(p, rpRedirect))
	audit := e.srv.cli(t, "", "audit", "list", "--limit", "100")
	for _, want := range []string{"203.0.113.66", "192.0.2.10"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log does not name %s (the proxy's client address):\n%s", want, audit)
		}
	}
	if strings.Contains(audit, "127.0.0.1") {
		t.Errorf("the audit log names the proxy instead of the client:\n%s", audit)
	}
}

// TestForwardedHeadersNeedATrustedProxy (item 14): without trusted_proxies
// a client cannot choose its address with X-Forwarded-For.
func TestForwardedHeadersNeedATrustedProxy(t *testing.T) {
	t.Parallel()
	s := startServer(t, backends(t)[0].newURL(t))
	c := s.createClient(t, "--name", "RP", "--redirect-uri", rpRedirect)
	e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
	br := newBrowser(t, s)
	br.from = "203.0.113.99"
	br.login(br.follow(br.get(e.rp.newRequest().url)), user{email: e.user.email, password: "wrong-password"})
	audit := s.cli(t, "", "audit", "list", "--limit", "10")
	if strings.Contains(audit, "203.0.113.99") || !strings.Contains(audit, "127.0.0.1") {
		t.Fatalf("an untrusted X-Forwarded-For was believed:\n%s", audit)
	}
}

// TestAttackRevocationFollowsTheAccount (items 3, 4 and 7): disabling a
// user, setting a new password and resetting second factors each end the
// user's sessions and revoke its access and refresh tokens (opaque and JWT);
// a refresh token is no access token at userinfo.
func TestAttackRevocationFollowsTheAccount(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newAttackEnv(t, b)
			admin := strings.TrimSpace(e.srv.cli(t, "", "admin-keys", "create", "--name", "attack", "--role", "admin"))
			jwtClient := e.srv.createClient(t, "--name", "JWT RP", "--redirect-uri", rpRedirect, "--access-token-format", "jwt")
			jwtEnv := &env{srv: e.srv, user: e.user, client: jwtClient, rp: newRP(t, e.srv, jwtClient, rpRedirect)}

			// Item 4: a refresh token is not a bearer access token.
			br := newBrowser(t, e.srv)
			_, tk := e.fullLogin(t, br)
			if st := e.srv.userinfoStatus(t, tk.token.RefreshToken); st != http.StatusUnauthorized {
				t.Errorf("a refresh token at userinfo: %d, want 401", st)
			}
			sub := tk.idToken.Subject

			changes := []struct {
				name   string
				change func()
			}{
				{"disabled", func() {
					if st, body := adminCall(t, e.srv, "POST", "/admin/v1/users/"+sub+"/disabled", admin, map[string]any{"disabled": true}); st != 200 {
						t.Fatalf("disable: %d %v", st, body)
					}
				}},
				{"password set (CLI)", func() {
					e.user.password = "new-" + randString(16)
					e.srv.cli(t, e.user.password+"\n", "users", "set-password", "--email", e.user.email, "--password-stdin")
				}},
				{"password set (admin API)", func() {
					e.user.password = "new-" + randString(16)
					if st, body := adminCall(t, e.srv, "POST", "/admin/v1/users/"+sub+"/password", admin, map[string]any{"password": e.user.password}); st != 204 {
						t.Fatalf("set password: %d %v", st, body)
					}
				}},
				{"second factors reset", func() {
					if st, body := adminCall(t, e.srv, "DELETE", "/admin/v1/users/"+sub+"/factors", admin, nil); st != 200 {
						t.Fatalf("reset factors: %d %v", st, body)
					}
				}},
			}
			for _, ch := range changes {
				br := newBrowser(t, e.srv)
				_, opaque := e.fullLogin(t, br)
				_, jwt := jwtEnv.fullLogin(t, br)
				ch.change()
				for _, x := range []struct {
					name string
					c    testClient
					tk   tokens
				}{{"opaque", e.client, opaque}, {"jwt", jwtClient, jwt}} {
					if e.srv.introspect(t, x.c, x.tk.token.AccessToken) {
						t.Errorf("%s: the %s access token is still active at introspection", ch.name, x.name)
					}
					if st := e.srv.userinfoStatus(t, x.tk.token.AccessToken); st != http.StatusUnauthorized {
						t.Errorf("%s: the %s access token at userinfo: %d, want 401", ch.name, x.name, st)
					}
					st, body, _ := e.srv.tokenRequest(t, x.c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {x.tk.token.RefreshToken}})
					if st != http.StatusBadRequest || body["error"] != "invalid_grant" {
						t.Errorf("%s: refresh with the %s grant's token: %d %v, want 400 invalid_grant", ch.name, x.name, st, body)
					}
				}
				if hasSession(t, e.env, br) {
					t.Errorf("%s: the old browser session still signs in with prompt=none", ch.name)
				}
				if ch.name == "disabled" {
					if st, body := adminCall(t, e.srv, "POST", "/admin/v1/users/"+sub+"/disabled", admin, map[string]any{"disabled": false}); st != 200 {
						t.Fatalf("enable: %d %v", st, body)
					}
				}
			}
		})
	}
}

// TestAttackBadText (item 9): invalid UTF-8 and NUL characters, on every
// public route and on admin routes, in the query, the path, a form, Basic
// credentials and JSON: 400 invalid_request, never a 500, and no error in
// the server's log (they once reached PostgreSQL).
func TestAttackBadText(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, b.newURL(t))
			admin := strings.TrimSpace(s.cli(t, "", "admin-keys", "create", "--name", "bad-text", "--role", "admin"))
			type req struct {
				method, path, ctype, body, bearer string
				basic                             bool
			}
			var reqs []req
			for _, p := range []string{"/oauth2/auth", "/oauth2/auth/resume", "/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/userinfo",
				"/oauth2/logout", "/oauth2/par", "/oauth2/register", "/login", "/login/mfa", "/consent", "/account", "/account/totp",
				"/account/passkeys", "/login/federated/github", "/login/federated/callback", "/.well-known/openid-configuration",
				"/.well-known/oauth-authorization-server", "/.well-known/jwks.json"} {
				for _, bad := range []string{"%ff", "a%00b"} {
					reqs = append(reqs, req{method: "GET", path: p + "?flow=" + bad + "&client_id=" + bad},
						req{method: "POST", path: p, ctype: "application/x-www-form-urlencoded", body: "flow=" + bad + "&email=" + bad + "&client_id=" + bad + "&token=" + bad})
				}
			}
			reqs = append(reqs,
				req{method: "GET", path: "/oauth2/register/a%00b", bearer: "x"},
				req{method: "GET", path: "/oauth2/register/%ff", bearer: "x"},
				req{method: "POST", path: "/oauth2/register", ctype: "application/json", body: `{"redirect_uris":["https://a.example/cb"],"client_name":"a\u0000b"}`},
				req{method: "POST", path: "/oauth2/register", ctype: "application/json", body: "{\"redirect_uris\":[\"https://a.example/cb\"],\"client_name\":\"\xff\"}"},
				req{method: "POST", path: "/oauth2/token", ctype: "application/x-www-form-urlencoded", body: "grant_type=client_credentials", basic: true},
				req{method: "GET", path: "/admin/v1/users/%ff", bearer: admin},
				req{method: "GET", path: "/admin/v1/clients/a%00b", bearer: admin},
				req{method: "DELETE", path: "/admin/v1/users/a%00b/sessions", bearer: admin},
				req{method: "POST", path: "/admin/v1/users", bearer: admin, ctype: "application/json", body: `{"email":"a\u0000@example.test","password":"long enough password"}`},
				req{method: "GET", path: "/admin/v1/audit?subject=%ff", bearer: admin},
			)
			for _, rq := range reqs {
				base := s.base
				if strings.HasPrefix(rq.path, "/admin/") {
					base = s.admin
				}
				hr, err := http.NewRequest(rq.method, base+rq.path, strings.NewReader(rq.body))
				if err != nil {
					t.Fatal(err)
				}
				if rq.ctype != "" {
					hr.Header.Set("Content-Type", rq.ctype)
				}
				if rq.bearer != "" {
					hr.Header.Set("Authorization", "Bearer "+rq.bearer)
				}
				if rq.basic {
					hr.SetBasicAuth("a\x00b", "secret")
				}
				resp, err := http.DefaultClient.Do(hr)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "invalid_request") {
					t.Errorf("%s %s %q: %d %s, want 400 invalid_request", rq.method, rq.path, rq.body, resp.StatusCode, body)
				}
			}
			if logs := s.logs.String(); strings.Contains(logs, `"level":"ERROR"`) {
				t.Errorf("bad text caused errors in the server log:\n%s", logs)
			}
		})
	}
}

// TestAttackAuditFlood (item 11): 30 wrong or throttled passwords from one
// address make one audit row per kind with a count, not 30 rows.
func TestAttackAuditFlood(t *testing.T) {
	t.Parallel()
	e := newAttackEnv(t, backends(t)[0])
	lt := e.loginTarget(t)
	for i := 0; i < 30; i++ {
		if o := lt.post(e.srv.base, "203.0.113.5", e.user.email, "guess-"+strconv.Itoa(i)); o.err != nil {
			t.Fatal(o.err)
		}
	}
	rows, total := 0, 0
	for _, line := range strings.Split(e.srv.cli(t, "", "audit", "list", "--limit", "1000"), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || (f[1] != "login.failed" && f[1] != "login.throttled") {
			continue
		}
		n, err := strconv.Atoi(f[2])
		if err != nil {
			t.Fatalf("audit line without a count: %q", line)
		}
		rows++
		total += n
	}
	if total != 30 || rows > 4 {
		t.Fatalf("30 failed attempts made %d audit rows counting %d, want at most 4 rows counting 30", rows, total)
	}
}

// TestAttackRegistration (items 5 and 13): registration input once
// accepted is refused with the RFC 7591 error and nothing stored; a
// registered client never gains a scope or audience the policy does not
// give it; loopback redirect URIs match exactly but for the port.
func TestAttackRegistration(t *testing.T) {
	t.Parallel()
	s := startServer(t, backends(t)[0].newURL(t))
	regURL := s.issuer + "/oauth2/register"
	before := countClients(t, s)
	for name, c := range map[string]struct {
		body any
		code string
	}{
		// Issue 13, item 13: input that was once accepted.
		"trailing data":     {`{"redirect_uris":["https://rp.example.test/cb"]} {"x":1}`, "invalid_client_metadata"},
		"space in URI":      {map[string]any{"redirect_uris": []string{"https://a.example/ cb"}}, "invalid_redirect_uri"},
		"port 99999":        {map[string]any{"redirect_uris": []string{"https://a.example:99999/cb"}}, "invalid_redirect_uri"},
		"user info":         {map[string]any{"redirect_uris": []string{"https://user:password@a.example/cb"}}, "invalid_redirect_uri"},
		"about:":            {map[string]any{"redirect_uris": []string{"about:blank"}, "token_endpoint_auth_method": "none"}, "invalid_redirect_uri"},
		"blob:":             {map[string]any{"redirect_uris": []string{"blob:https://a.example/x"}, "token_endpoint_auth_method": "none"}, "invalid_redirect_uri"},
		"60 KB client name": {map[string]any{"redirect_uris": []string{rpRedirect}, "client_name": strings.Repeat("n", 60000)}, "invalid_client_metadata"},
		"too many URIs":     {map[string]any{"redirect_uris": manyURIs(21)}, "invalid_client_metadata"},
		// Issue 13, item 5: registration never grants what the policy does not.
		"foreign scope":        {map[string]any{"redirect_uris": []string{rpRedirect}, "scope": "openid admin payments:write"}, "invalid_client_metadata"},
		"audience":             {map[string]any{"redirect_uris": []string{rpRedirect}, "audience": []string{"another-client"}}, "invalid_client_metadata"},
		"machine grant closed": {map[string]any{"grant_types": []string{"client_credentials"}}, "invalid_client_metadata"},
	} {
		status, body := regCall(t, http.MethodPost, regURL, "", c.body)
		if status != 400 || body["error"] != c.code {
			t.Errorf("%s: %d %v, want 400 %s", name, status, body, c.code)
		}
	}
	if after := countClients(t, s); after != before {
		t.Errorf("bad registrations stored clients: %d → %d", before, after)
	}
	// A client registered with the defaults: no foreign scope or audience
	// appears at introspection of its tokens.
	status, reg := regCall(t, http.MethodPost, regURL, "", map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"}, "grant_types": []string{"authorization_code", "refresh_token"}})
	if status != 201 || reg["audience"] != nil || strings.Contains(fmt.Sprint(reg["scope"]), "admin") {
		t.Fatalf("register: %d %v", status, reg)
	}
	c := testClient{ID: reg["client_id"].(string), Secret: reg["client_secret"].(string)}
	e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, "http://127.0.0.1:43123/cb")}
	lb := newBrowser(t, s)
	a := e.rp.newRequest()
	p := lb.login(lb.follow(lb.get(a.url)), e.user)
	if strings.Contains(p.body, `action="/consent"`) {
		p = lb.approve(p)
	}
	tk := e.rp.exchange(a, lb.callback(p, "http://127.0.0.1:43123/cb")) // another port on loopback is fine (RFC 8252)
	st, in, _ := s.postJSON(t, "/oauth2/introspect", c, url.Values{"token": {tk.token.AccessToken}})
	if st != 200 || in["active"] != true || strings.Contains(fmt.Sprint(in["scope"]), "admin") || fmt.Sprint(in["aud"]) != fmt.Sprint([]any{}) && in["aud"] != nil {
		t.Errorf("introspection of a registered client's token: %d %v", st, in)
	}
	// Loopback matching ignores only the port: user information or an
	// escaped path is another URI, refused without a redirect.
	br := newBrowser(t, s)
	for _, bad := range []string{"http://user@127.0.0.1:1/cb", "http://127.0.0.1/%63b", "http://127.0.0.1:2/cb/"} {
		rp := newRP(t, s, c, bad)
		p := br.get(rp.newRequest().url)
		if p.status != http.StatusBadRequest || p.location != "" {
			t.Errorf("authorize with redirect_uri %s: %d to %q, want 400 and no redirect", bad, p.status, p.location)
		}
	}
}
