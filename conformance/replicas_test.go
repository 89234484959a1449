package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// roundRobin is a load balancer in front of replicas: each request goes to
// the next live replica; one that refuses a connection is taken out (a
// passive health check) and the request answered 502.
type roundRobin struct {
	backends []*url.URL
	proxies  []*httputil.ReverseProxy
	down     []atomic.Bool
	next     atomic.Uint64

	mu   sync.Mutex
	hits []int // the replica of each request, in order
}

func newRoundRobin(bases ...string) *roundRobin {
	rr := &roundRobin{down: make([]atomic.Bool, len(bases))}
	for i, b := range bases {
		u, _ := url.Parse(b)
		p := httputil.NewSingleHostReverseProxy(u)
		p.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			rr.down[i].Store(true)
			http.Error(w, "replica "+fmt.Sprint(i)+" failed: "+err.Error(), http.StatusBadGateway)
		}
		rr.backends, rr.proxies = append(rr.backends, u), append(rr.proxies, p)
	}
	return rr
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := uint64(len(rr.backends))
	for range n {
		i := int(rr.next.Add(1) % n)
		if rr.down[i].Load() {
			continue
		}
		rr.mu.Lock()
		rr.hits = append(rr.hits, i)
		rr.mu.Unlock()
		w.Header().Set("X-Replica", fmt.Sprint(i))
		rr.proxies[i].ServeHTTP(w, r)
		return
	}
	http.Error(w, "no replica", http.StatusBadGateway)
}

// since says how many distinct replicas served the requests since mark,
// how many requests there were, and whether no two consecutive ones went to
// the same replica.
func (rr *roundRobin) since(mark int) (distinct int, requests int, alternating bool) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	seen := map[int]bool{}
	alternating = true
	for k, i := range rr.hits[mark:] {
		seen[i] = true
		if k > 0 && rr.hits[mark+k-1] == i {
			alternating = false
		}
	}
	return len(seen), len(rr.hits) - mark, alternating
}

func (rr *roundRobin) mark() int {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return len(rr.hits)
}

// retrying is a client that retries a request answered 502 (a replica
// that died under it), as a client behind a load balancer does.
type retrying struct {
	base    http.RoundTripper
	retried atomic.Int64
}

func (rt *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		r := req
		if attempt > 0 && req.Body != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(req.Context())
			r.Body = body
		}
		resp, err := rt.base.RoundTrip(r)
		if err != nil || resp.StatusCode != http.StatusBadGateway || attempt == 3 {
			return resp, err
		}
		resp.Body.Close()
		rt.retried.Add(1)
	}
}

// TestReplicas (issue 15): three `gatehouse serve` processes on one
// PostgreSQL behind a round-robin balancer. x/oauth2 and go-oidc run the
// code flow, refresh, introspection, logout and registration with
// consecutive requests on different replicas; a key rotated through one
// replica's admin API signs on all within the reload interval; the attempt
// limiter counts across replicas; one replica is SIGKILLed while requests
// run, and only its in-flight requests fail, then succeed when retried.
func TestReplicas(t *testing.T) {
	t.Parallel()
	db := postgresURL(t)
	issuer, balance := balanced(t)
	vars := []string{trustLoopback, "GATEHOUSE_KEYS_PRE_PUBLICATION=6s"} // keys reload every 1.5 s
	replicas := []*server{startReplica(t, db, issuer, vars...)}
	replicas = append(replicas, startReplica(t, db, issuer, vars...), startReplica(t, db, issuer, vars...))
	rr := balance(replicas[0].base, replicas[1].base, replicas[2].base)

	rt := &retrying{base: http.DefaultTransport}
	hc := &http.Client{Transport: rt, Timeout: 30 * time.Second}
	s := &server{issuer: issuer, base: issuer, admin: replicas[0].admin, dbURL: db}
	c := s.createClient(t, "--name", "Replicated RP", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpPostLogout)
	u := s.createUser(t)
	r := newRPVia(t, s, c, hc, rpRedirect)
	ctx := r.ctx
	e := &env{srv: s, user: u, client: c, rp: r}
	newBr := func() *browser {
		br := newBrowser(t, s)
		br.c.Transport = rt
		return br
	}
	spread := func(what string, mark int) {
		t.Helper()
		if d, n, alt := rr.since(mark); d < 3 || !alt {
			t.Errorf("%s: %d requests on %d replicas (alternating %v)", what, n, d, alt)
		}
	}

	// The code flow, refresh and introspection.
	mark := rr.mark()
	br := newBr()
	_, tk := e.fullLogin(t, br)
	fresh, err := r.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tk.token.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	r.verify(fresh, "")
	for range 3 {
		if !s.introspect(t, c, fresh.AccessToken) {
			t.Error("introspection on some replica says inactive")
		}
	}
	spread("code flow, refresh, introspection", mark)

	// Registration: created on one replica, read and deleted through others.
	mark = rr.mark()
	st, reg := regCall(t, http.MethodPost, issuer+"/oauth2/register", "", map[string]any{"redirect_uris": []string{rpRedirect}})
	if st != 201 {
		t.Fatalf("register: %d %v", st, reg)
	}
	for range 2 {
		if st, got := regCall(t, http.MethodGet, reg["registration_client_uri"].(string), reg["registration_access_token"].(string), nil); st != 200 || got["client_id"] != reg["client_id"] {
			t.Errorf("read the registration: %d %v", st, got)
		}
	}
	if st, _ := regCall(t, http.MethodDelete, reg["registration_client_uri"].(string), reg["registration_access_token"].(string), nil); st != 204 {
		t.Errorf("delete the registration: %d", st)
	}
	spread("registration", mark)

	// The attempt limiter counts on every replica: five wrong passwords,
	// each on the next replica, then the account is locked everywhere.
	lt := func() loginTarget {
		b := newBr()
		f := findForm(t, b.follow(b.get(r.newRequest().url)), "/login")
		return loginTarget{action: f.action, fields: f.fields, jar: b.c.Jar}
	}()
	mark = rr.mark()
	var statuses []int
	for range 8 {
		statuses = append(statuses, lt.post(issuer, "", u.email, "wrong-"+randString(8)).status)
	}
	locked := 0
	for _, st := range statuses[5:] {
		if st == http.StatusTooManyRequests {
			locked++
		}
	}
	if locked != 3 || statuses[0] == http.StatusTooManyRequests {
		t.Errorf("wrong passwords across replicas: %v, want the sixth on refused (429)", statuses)
	}
	spread("attempt limiter", mark)

	// A key rotated through one replica's admin API is published by all
	// within the reload interval and signs on all once it is active.
	admin := strings.TrimSpace(s.cli(t, "", "admin-keys", "create", "--name", "ops", "--role", "admin"))
	st, rot := adminCall(t, replicas[0], "POST", "/admin/v1/keys/rotate", admin, map[string]any{"alg": "RS256"})
	if st/100 != 2 || rot["kid"] == nil {
		t.Fatalf("rotate: %d %v", st, rot)
	}
	kid := rot["kid"].(string)
	rotated := time.Now()
	for i, rep := range replicas {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			jwks, _ := getJSON(t, rep.base+"/.well-known/jwks.json")
			if has(kids(jwks), kid) {
				t.Logf("replica %d publishes %s after %v", i, kid, time.Since(rotated).Round(100*time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d does not publish %s", i, kid)
			}
		}
	}
	time.Sleep(time.Until(rotated.Add(6*time.Second + 3*time.Second))) // active, plus two reload intervals
	rt2, lastAT := fresh.RefreshToken, ""
	for i, rep := range replicas {
		status, body, _ := rep.tokenRequest(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}})
		if status != 200 {
			t.Fatalf("refresh on replica %d: %d %v", i, status, body)
		}
		rt2, lastAT = body["refresh_token"].(string), body["access_token"].(string)
		if h := decodeSegment(t, strings.Split(body["id_token"].(string), ".")[0]); !strings.Contains(h, `"kid":"`+kid+`"`) {
			t.Errorf("replica %d signs with %s, want the rotated %s", i, h, kid)
		}
	}

	// Logout through one replica ends the session on every replica.
	mark = rr.mark()
	p := br.get(issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {tk.raw}, "post_logout_redirect_uri": {rpPostLogout}, "state": {"s-1234567"}}.Encode())
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, rpPostLogout) {
		t.Errorf("logout: %d %q", p.status, p.location)
	}
	for range 3 {
		a := r.newRequest(oauth2.SetAuthURLParam("prompt", "none"))
		if cb := br.callback(br.follow(br.get(a.url)), rpRedirect); cb.Get("error") != "login_required" {
			t.Errorf("after logout, prompt=none: %v", cb)
		}
	}
	spread("logout", mark)

	// SIGKILL one replica while requests run: only its in-flight requests
	// fail, and they succeed when retried.
	var failed, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, issuer+"/userinfo", nil)
				req.Header.Set("Authorization", "Bearer "+lastAT) // each refresh revoked the one before
				resp, err := hc.Do(req)
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					if err == nil {
						t.Logf("worker %d: %d after retries", w, resp.StatusCode)
					} else if !errors.Is(err, context.Canceled) {
						t.Logf("worker %d: %v", w, err)
					}
				}
				if resp != nil {
					resp.Body.Close()
				}
				done.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := replicas[1].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || rt.retried.Load() == 0 {
		t.Errorf("with a replica killed: %d of %d requests failed after retries, %d retried", failed.Load(), done.Load(), rt.retried.Load())
	}
	t.Logf("replica killed under %d userinfo requests: %d retried, none failed", done.Load(), rt.retried.Load())
	// The survivors run a whole flow.
	e.fullLogin(t, newBr())
}
