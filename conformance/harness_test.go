package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/jackc/pgx/v5"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-conformance")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "gatehouse")
	// Built as the container image and `make build` build it: static and
	// path-free (TestStaticBinary runs it in an empty root).
	build := exec.Command("go", "build", "-trimpath", "-o", binary, "../cmd/gatehouse")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gatehouse:", err)
		os.Exit(2)
	}
	code := m.Run()
	if code == 0 {
		if err := finishReport(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// backend is a database the suite runs against.
type backend struct {
	name string
	// newURL returns the URL of a fresh, empty database.
	newURL func(t *testing.T) string
}

// backends lists SQLite always and PostgreSQL when GATEHOUSE_TEST_DATABASE_URL
// names a server; `make test` always sets it, and GATEHOUSE_REQUIRE_POSTGRES=1
// turns its absence into a failure rather than a skip.
func backends(t *testing.T) []backend {
	out := []backend{{name: "sqlite", newURL: func(t *testing.T) string {
		return "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	}}}
	base := os.Getenv("GATEHOUSE_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("GATEHOUSE_REQUIRE_POSTGRES") == "1" {
			t.Fatal("GATEHOUSE_REQUIRE_POSTGRES=1 but GATEHOUSE_TEST_DATABASE_URL is empty")
		}
		t.Log("GATEHOUSE_TEST_DATABASE_URL is not set: PostgreSQL runs are SKIPPED (make test always sets it)")
		return out
	}
	return append(out, backend{name: "postgres", newURL: func(t *testing.T) string { return freshPostgres(t, base) }})
}

// freshPostgres creates an empty database on the test server.
func freshPostgres(t *testing.T, base string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	name := "gh_" + hex.EncodeToString(randBytes(6))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func randString(n int) string { return base64.RawURLEncoding.EncodeToString(randBytes(n))[:n] }

// server is a running gatehouse.
type server struct {
	issuer string
	// base is where this process listens (the issuer's host for a single server).
	base string
	// admin is the admin listener's base URL.
	admin string
	dbURL string
	// env is the extra environment of the server, which its CLI shares.
	env  []string
	cmd  *exec.Cmd
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer runs `gatehouse serve --dev` on a free loopback port.
func startServer(t *testing.T, dbURL string, extraEnv ...string) *server {
	t.Helper()
	return startReplica(t, dbURL, "", extraEnv...)
}

// startReplica runs another server on the same database; with a non-empty
// issuer it serves that issuer (replicas behind one name) on its own port.
func startReplica(t *testing.T, dbURL, issuer string, extraEnv ...string) *server {
	t.Helper()
	return startOn(t, 0, dbURL, issuer, extraEnv...)
}

// startOn runs a server on the given port (0: a free one). A port found
// free can be taken by another test's process before the server binds it;
// the server then exits at once with "address already in use", and it is
// started again on other ports (the admin port always, the main one when it
// was not given).
func startOn(t *testing.T, port int, dbURL, issuer string, extraEnv ...string) *server {
	t.Helper()
	return startBinary(t, binary, port, dbURL, issuer, extraEnv...)
}

// startWith runs another build of gatehouse (bin) on dbURL, on a free port.
func startWith(t *testing.T, bin, dbURL string, extraEnv ...string) *server {
	t.Helper()
	return startBinary(t, bin, 0, dbURL, "", extraEnv...)
}

func startBinary(t *testing.T, bin string, port int, dbURL, issuer string, extraEnv ...string) *server {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p := port
		if p == 0 {
			p = freePort(t)
		}
		s, bindErr := tryStart(t, bin, p, dbURL, issuer, extraEnv...)
		if s != nil {
			return s
		}
		if attempt == 3 || port != 0 && strings.Contains(bindErr, fmt.Sprintf("127.0.0.1:%d:", p)) {
			t.Fatalf("server did not start:\n%s", bindErr)
		}
		t.Logf("port taken meanwhile, starting again: %s", bindErr)
	}
}

// startOnLocalhost runs a server whose issuer is http://localhost:PORT
// (browsers refuse passkeys on IP addresses) on a free port; a port taken
// by another test's process before the server binds it is replaced.
func startOnLocalhost(t *testing.T, dbURL string, extraEnv ...string) *server {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p := freePort(t)
		s, bindErr := tryStart(t, binary, p, dbURL, fmt.Sprintf("http://localhost:%d", p), extraEnv...)
		if s != nil {
			return s
		}
		if attempt == 3 {
			t.Fatalf("server did not start:\n%s", bindErr)
		}
		t.Logf("port taken meanwhile, starting again: %s", bindErr)
	}
}

// tryStart starts one server process; on a failure to bind it returns nil
// and the process's log.
func tryStart(t *testing.T, bin string, port int, dbURL, issuer string, extraEnv ...string) (*server, string) {
	t.Helper()
	if issuer == "" {
		issuer = fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	adminPort := freePort(t)
	s := &server{issuer: issuer, base: fmt.Sprintf("http://127.0.0.1:%d", port), admin: fmt.Sprintf("http://127.0.0.1:%d", adminPort), dbURL: dbURL, env: extraEnv, logs: &syncBuffer{}}
	s.cmd = exec.Command(bin, "serve", "--dev", "--issuer", s.issuer, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--database-url", dbURL)
	s.cmd.Dir = t.TempDir()
	s.cmd.Env = append(append(os.Environ(), fmt.Sprintf("GATEHOUSE_ADMIN_LISTEN=127.0.0.1:%d", adminPort)), extraEnv...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Cleanup(func() {
					_ = s.cmd.Process.Kill()
					_ = s.cmd.Wait()
					if t.Failed() {
						t.Logf("server log:\n%s", s.logs.String())
					}
				})
				return s, ""
			}
		}
		if logs := s.logs.String(); strings.Contains(logs, "address already in use") {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
			return nil, logs
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	t.Fatalf("server did not start:\n%s", s.logs.String())
	return nil, ""
}

// cli runs a gatehouse command against the server's database.
func (s *server) cli(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append(args, "--database-url", s.dbURL)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gatehouse %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// cliErr runs a gatehouse command that must fail and returns its output.
func (s *server) cliErr(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append(args, "--database-url", s.dbURL)...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("gatehouse %v succeeded:\n%s", args, out)
	}
	return string(out)
}

// testClient is a client registered through the CLI.
type testClient struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

const (
	rpRedirect   = "https://rp.example.test/cb"
	rpPostLogout = "https://rp.example.test/logged-out"
)

func (s *server) createClient(t *testing.T, args ...string) testClient {
	t.Helper()
	out := s.cli(t, "", append([]string{"clients", "create", "--output", "json"}, args...)...)
	var c testClient
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("clients create output %q: %v", out, err)
	}
	return c
}

// user is a local account made through the CLI.
type user struct{ email, password string }

func (s *server) createUser(t *testing.T) user {
	t.Helper()
	u := user{email: "user-" + strings.ToLower(randString(8)) + "@example.test", password: "pw-" + randString(16)}
	s.cli(t, u.password+"\n", "users", "create", "--email", u.email, "--name", "Test User", "--password-stdin")
	return u
}

// browser is a user agent with a cookie jar that stops at every redirect.
type browser struct {
	t   *testing.T
	c   *http.Client
	srv *server
	// from, when set, is sent as X-Forwarded-For: the address a trusted
	// proxy says the browser has.
	from string
}

func newBrowser(t *testing.T, s *server) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, srv: s, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// in is the same browser (cookies and all) reporting to t: a subtest's
// failure then stops only that subtest.
func (b *browser) in(t *testing.T) *browser {
	c := *b
	c.t = t
	return &c
}

// page is a response with its body read.
type page struct {
	status   int
	location string
	header   http.Header
	body     string
	url      string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	if b.from != "" {
		req.Header.Set("X-Forwarded-For", b.from)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), header: resp.Header, body: string(body), url: req.URL.String()}
}

func (b *browser) get(u string) page {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// follow follows redirects that stay on the server and returns the first
// response that is a page or a redirect off the server (to a client).
func (b *browser) follow(p page) page {
	b.t.Helper()
	for i := 0; i < 10 && p.status >= 300 && p.status < 400; i++ {
		next, err := url.Parse(p.url)
		if err != nil {
			b.t.Fatal(err)
		}
		loc, err := next.Parse(p.location)
		if err != nil {
			b.t.Fatal(err)
		}
		if !strings.HasPrefix(loc.String(), b.srv.issuer+"/") {
			p.location = loc.String()
			return p
		}
		p = b.get(loc.String())
	}
	return p
}

// form is an HTML form found on a page.
type form struct {
	action string
	fields url.Values
}

// findForm returns the first form whose action ends with suffix.
func findForm(t *testing.T, p page, suffix string) form {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var found *form
	var walk func(n *html.Node, f *form)
	walk = func(n *html.Node, f *form) {
		if n.Type == html.ElementNode {
			attr := func(k string) string {
				for _, a := range n.Attr {
					if a.Key == k {
						return a.Val
					}
				}
				return ""
			}
			switch n.Data {
			case "form":
				if found == nil && strings.HasSuffix(attr("action"), suffix) {
					found = &form{action: attr("action"), fields: url.Values{}}
					f = found
				}
			case "input":
				if f != nil && attr("name") != "" && attr("type") != "checkbox" {
					f.fields.Set(attr("name"), attr("value"))
				}
				if f != nil && attr("type") == "checkbox" && hasAttr(n, "checked") {
					f.fields.Set(attr("name"), attr("value"))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, f)
		}
	}
	walk(doc, nil)
	if found == nil {
		t.Fatalf("no form with action *%s on page (status %d):\n%s", suffix, p.status, p.body)
	}
	return *found
}

func hasAttr(n *html.Node, k string) bool {
	for _, a := range n.Attr {
		if a.Key == k {
			return true
		}
	}
	return false
}

// submit posts a form with some fields changed.
func (b *browser) submit(f form, set url.Values) page {
	vals := url.Values{}
	for k, v := range f.fields {
		vals[k] = v
	}
	for k, v := range set {
		vals[k] = v
	}
	return b.post(b.srv.issuer+f.action, vals)
}

// login fills the login form on p.
func (b *browser) login(p page, u user) page {
	b.t.Helper()
	f := findForm(b.t, p, "/login")
	return b.follow(b.submit(f, url.Values{"email": {u.email}, "password": {u.password}}))
}

// approve allows the consent page on p.
func (b *browser) approve(p page) page {
	b.t.Helper()
	f := findForm(b.t, p, "/consent")
	return b.follow(b.submit(f, url.Values{"action": {"allow"}}))
}

// callback parses a redirect to the client and checks RFC 9207 iss.
func (b *browser) callback(p page, wantPrefix string) url.Values {
	b.t.Helper()
	if p.status != http.StatusSeeOther && p.status != http.StatusFound {
		b.t.Fatalf("want a redirect to the client, got %d at %s:\n%s", p.status, p.url, p.body)
	}
	if !strings.HasPrefix(p.location, wantPrefix) {
		b.t.Fatalf("redirect to %q, want prefix %q", p.location, wantPrefix)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		b.t.Fatal(err)
	}
	q := u.Query()
	if q.Get("iss") != b.srv.issuer {
		b.t.Fatalf("authorization response iss = %q, want %q (RFC 9207)", q.Get("iss"), b.srv.issuer)
	}
	return q
}

// rp is a relying party built on x/oauth2 and go-oidc.
type rp struct {
	t        *testing.T
	srv      *server
	ctx      context.Context
	provider *oidc.Provider
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newRP(t *testing.T, s *server, c testClient, redirect string, scopes ...string) *rp {
	t.Helper()
	return newRPVia(t, s, c, &http.Client{Timeout: 10 * time.Second}, redirect, scopes...)
}

// newRPVia is newRP whose discovery, token and key requests go through hc.
func newRPVia(t *testing.T, s *server, c testClient, hc *http.Client, redirect string, scopes ...string) *rp {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), hc)
	p, err := oidc.NewProvider(ctx, s.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}
	}
	return &rp{t: t, srv: s, ctx: ctx, provider: p, verifier: p.Verifier(&oidc.Config{ClientID: c.ID}),
		conf: oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, Endpoint: p.Endpoint(), RedirectURL: redirect, Scopes: scopes}}
}

// authRequest is one authorization request's secrets.
type authRequest struct {
	state, nonce, verifier string
	url                    string
}

func (r *rp) newRequest(extra ...oauth2.AuthCodeOption) authRequest {
	a := authRequest{state: randString(16), nonce: randString(16), verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier)}, extra...)
	a.url = r.conf.AuthCodeURL(a.state, opts...)
	return a
}

// tokens is a verified token response.
type tokens struct {
	token   *oauth2.Token
	idToken *oidc.IDToken
	raw     string
	claims  map[string]any
}

// exchange redeems a code and verifies the ID token (signature, iss, aud,
// exp, nonce, at_hash).
func (r *rp) exchange(a authRequest, cb url.Values) tokens {
	r.t.Helper()
	if cb.Get("state") != a.state {
		r.t.Fatalf("state = %q, want %q", cb.Get("state"), a.state)
	}
	tok, err := r.conf.Exchange(r.ctx, cb.Get("code"), oauth2.VerifierOption(a.verifier))
	if err != nil {
		r.t.Fatalf("exchange: %v", err)
	}
	return r.verify(tok, a.nonce)
}

func (r *rp) verify(tok *oauth2.Token, nonce string) tokens {
	r.t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		r.t.Fatal("no id_token in the token response")
	}
	idt, err := r.verifier.Verify(r.ctx, raw)
	if err != nil {
		r.t.Fatalf("verify ID token: %v", err)
	}
	if nonce != "" && idt.Nonce != nonce {
		r.t.Fatalf("nonce = %q, want %q", idt.Nonce, nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		r.t.Fatalf("at_hash: %v", err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		r.t.Fatal(err)
	}
	return tokens{token: tok, idToken: idt, raw: raw, claims: claims}
}

// tokenRequest posts to the token endpoint with client_secret_basic and
// returns the status and JSON body.
func (s *server) tokenRequest(t *testing.T, c testClient, form url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	return s.postJSON(t, "/oauth2/token", c, form)
}

func (s *server) postJSON(t *testing.T, path string, c testClient, form url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.ID != "" {
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: not JSON (%d): %s", path, resp.StatusCode, body)
		}
	}
	return resp.StatusCode, m, resp.Header
}

func (s *server) introspect(t *testing.T, c testClient, token string) bool {
	t.Helper()
	status, body, _ := s.postJSON(t, "/oauth2/introspect", c, url.Values{"token": {token}})
	if status != 200 {
		t.Fatalf("introspect: %d %v", status, body)
	}
	active, _ := body["active"].(bool)
	return active
}

func (s *server) userinfoStatus(t *testing.T, accessToken string) int {
	t.Helper()
	st, _ := s.userinfo(t, accessToken)
	return st
}

// userinfo GETs the userinfo endpoint with a bearer token and returns the
// status and the JSON claims (nil when the body is not a JSON object).
func (s *server) userinfo(t *testing.T, accessToken string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var claims map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&claims)
	return resp.StatusCode, claims
}

func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// env is one server with a user, a confidential client and its RP.
type env struct {
	srv    *server
	user   user
	client testClient
	rp     *rp
}

func newEnv(t *testing.T, b backend) *env {
	t.Helper()
	s := startServer(t, b.newURL(t))
	c := s.createClient(t, "--name", "Conformance RP", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpPostLogout)
	return &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
}

// in is the same environment whose relying party reports to t.
func (e *env) in(t *testing.T) *env {
	c, r := *e, *e.rp
	r.t = t
	c.rp = &r
	return &c
}

// fullLogin runs authorize → login → consent → callback → token.
func (e *env) fullLogin(t *testing.T, br *browser, extra ...oauth2.AuthCodeOption) (authRequest, tokens) {
	t.Helper()
	a, code := codeFor(t, e, br, extra...)
	return a, e.rp.exchange(a, url.Values{"code": {code}, "state": {a.state}})
}

// authTime is the ID token's auth_time in seconds.
func authTime(tk tokens) int64 {
	v, _ := tk.claims["auth_time"].(float64)
	return int64(v)
}

// front is an address the test holds for its whole life, proxying to
// whichever server it is pointed at: a server restarted on another port
// keeps its issuer, and no other test can take the port in between.
func front(t *testing.T) (issuer string, point func(base string)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var target atomic.Pointer[httputil.ReverseProxy]
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := target.Load()
		if p == nil {
			http.Error(w, "no server yet", http.StatusBadGateway)
			return
		}
		p.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), func(base string) {
		u, _ := url.Parse(base)
		target.Store(httputil.NewSingleHostReverseProxy(u))
	}
}

// postgresURL is a fresh PostgreSQL database; the test is skipped without
// one (make test always has one).
func postgresURL(t *testing.T) string {
	t.Helper()
	for _, b := range backends(t) {
		if b.name == "postgres" {
			return b.newURL(t)
		}
	}
	t.Skip("needs PostgreSQL (make test provides it)")
	return ""
}

// balanced holds an address for the issuer; start puts a round-robin
// balancer over the servers' bases on it once they run.
func balanced(t *testing.T) (issuer string, start func(bases ...string) *roundRobin) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return "http://" + ln.Addr().String(), func(bases ...string) *roundRobin {
		rr := newRoundRobin(bases...)
		lb := &http.Server{Handler: rr}
		go func() { _ = lb.Serve(ln) }()
		t.Cleanup(func() { _ = lb.Close() })
		return rr
	}
}
