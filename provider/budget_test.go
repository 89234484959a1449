package provider_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-id/gatehouse/internal/apptest"
	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// statementBudget is the most SQL statements (BEGIN and COMMIT included)
// each flow may send on one database. They are ceilings, lowered as the hot
// paths get cheaper; see README "Performance".
type statementBudget struct {
	// authorize → login → consent → token → userinfo; the password step's
	// attempt limiter is four of them (the address and the account reserved
	// before the check, given back after it); one records that the new
	// session signed in to the client (single logout tells it).
	firstLogin int64
	// The returning user's flow is the benchmark's authcode iteration:
	// authorize (session, user, consent; code+PKCE+OIDC in one insert) →
	// token (code family in one read; then the redemption: code used,
	// access+refresh stored, PKCE+OIDC deleted) → userinfo (token, user).
	returning int64
	// A refresh: the refresh token read, its account checked, then a
	// database transaction (BEGIN; the token rotated, the family's access
	// tokens revoked, the new pair stored; COMMIT).
	refresh int64
}

// PostgreSQL writes a code's redemption as one statement; SQLite as a
// transaction (BEGIN, UPDATE, DELETE or INSERT as needed, COMMIT).
var budgets = map[string]statementBudget{
	"postgres": {firstLogin: 36, returning: 8, refresh: 7},
	"sqlite":   {firstLogin: 40, returning: 12, refresh: 7},
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

type inproc struct {
	t   *testing.T
	ts  *httptest.Server
	c   *http.Client
	srv *apptest.Server
}

func (b *inproc) do(method, path string, form url.Values, auth bool) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	u := path
	if strings.HasPrefix(path, "/") {
		u = b.ts.URL + path
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth {
		req.SetBasicAuth(apptest.ClientID, apptest.ClientSecret)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

func hidden(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], m[2])
	}
	return v
}

// codeFlow runs one authorization-code flow and returns the statements it
// cost and the refresh token it got.
func (b *inproc) codeFlow(login, consent bool) (int64, string) {
	b.t.Helper()
	start := b.srv.Store.Statements()
	verifier := "verifier-" + strings.Repeat("x", 40)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {apptest.ClientID}, "response_type": {"code"}, "scope": {"openid email offline_access"}, "redirect_uri": {apptest.RedirectURI},
		"state": {"state-1234567"}, "nonce": {"nonce-1234567"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	resp, _ := b.do("GET", "/oauth2/auth?"+q.Encode(), nil, false)
	loc := resp.Header.Get("Location")
	if login {
		_, page := b.do("GET", loc, nil, false)
		f := hidden(page)
		f.Set("email", apptest.UserEmail)
		f.Set("password", apptest.UserPassword)
		resp, _ = b.do("POST", "/login", f, false)
		loc = resp.Header.Get("Location")
	}
	if consent {
		_, page := b.do("GET", loc, nil, false)
		f := hidden(page)
		f.Set("action", "allow")
		f.Set("remember", "yes")
		resp, _ = b.do("POST", "/consent", f, false)
		loc = resp.Header.Get("Location")
	}
	if strings.HasPrefix(loc, "/oauth2/auth/resume") {
		resp, _ = b.do("GET", loc, nil, false)
		loc = resp.Header.Get("Location")
	}
	cb, err := url.Parse(loc)
	if err != nil || cb.Query().Get("code") == "" {
		b.t.Fatalf("no code: %q", loc)
	}
	resp, body := b.do("POST", "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {apptest.RedirectURI}, "code_verifier": {verifier}}, true)
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &tok) != nil {
		b.t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", b.ts.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	ui, err := b.c.Do(req)
	if err != nil || ui.StatusCode != 200 {
		b.t.Fatalf("userinfo: %v %v", err, ui)
	}
	ui.Body.Close()
	return b.srv.Store.Statements() - start, tok.RefreshToken
}

// TestStatementBudget counts the SQL statements of whole flows, on each
// database.
func TestStatementBudget(t *testing.T) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			srv := apptest.New(t)
			if name == "postgres" {
				u := storagetest.PostgresURL(t)
				st, err := sqlstore.Open(t.Context(), u, sqlstore.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				if err := st.Migrate(t.Context()); err != nil {
					t.Fatal(err)
				}
				srv = apptest.NewOn(t, st, u, nil)
			}
			testStatementBudget(t, srv, budgets[name])
		})
	}
}

func testStatementBudget(t *testing.T, srv *apptest.Server, budget statementBudget) {
	ts := httptest.NewServer(srv.App.Handler)
	defer ts.Close()
	jar, _ := cookiejar.New(nil)
	b := &inproc{t: t, ts: ts, srv: srv, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	var trace []string
	srv.Store.Trace(func(q string) {
		q = strings.Join(strings.Fields(q), " ")
		if len(q) > 90 {
			q = q[:90] + "…"
		}
		trace = append(trace, q)
	})
	first, _ := b.codeFlow(true, true)
	trace = nil
	returning, rt := b.codeFlow(false, false)
	for i, q := range trace {
		t.Logf("returning %2d: %s", i+1, q)
	}
	trace = nil
	start := srv.Store.Statements()
	resp, body := b.do("POST", "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, true)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh: %d %s", resp.StatusCode, body)
	}
	refresh := srv.Store.Statements() - start
	srv.Store.Trace(nil)
	for i, q := range trace {
		t.Logf("refresh %2d: %s", i+1, q)
	}
	t.Logf("SQL statements: first login (login, consent, token, userinfo) %d; returning user (session, remembered consent) %d; refresh %d", first, returning, refresh)
	for _, c := range []struct {
		what      string
		got, most int64
	}{
		{"first-login flow", first, budget.firstLogin},
		{"returning-user flow", returning, budget.returning},
		{"refresh", refresh, budget.refresh},
	} {
		if c.got > c.most {
			t.Errorf("%s sent %d statements, budget %d", c.what, c.got, c.most)
		}
	}
}

// TestStatelessTokenBudget: a client_credentials JWT access token costs no
// statement to issue (the client is cached once read), one read to
// introspect (its revocation row) and one write to revoke.
func TestStatelessTokenBudget(t *testing.T) {
	srv := apptest.New(t)
	ctx := t.Context()
	now := time.Now().UTC()
	const id, secret = "jwt-service", "jwt-service-secret-0123456789abcdef0123456789"
	if err := srv.Store.CreateClient(ctx, storage.Client{ID: id, SecretHash: clientspec.HashSecret(secret), Name: "Service", RedirectURIs: []string{},
		PostLogoutRedirectURIs: []string{}, GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{}, Scopes: []string{"api"},
		TokenEndpointAuthMethod: "client_secret_basic", AccessTokenFormat: clientspec.FormatJWT, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	post := func(path string, form url.Values) map[string]any {
		t.Helper()
		req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		w := srv.Do(req)
		var body map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		return body
	}
	token := func() string {
		return post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}})["access_token"].(string)
	}
	token() // reads the client into the cache
	cost := func(f func()) int64 {
		start := srv.Store.Statements()
		var trace []string
		srv.Store.Trace(func(q string) { trace = append(trace, strings.Join(strings.Fields(q), " ")) })
		f()
		srv.Store.Trace(nil)
		for _, q := range trace {
			t.Log(q)
		}
		return srv.Store.Statements() - start
	}
	var at string
	if n := cost(func() {
		for range 10 {
			at = token()
		}
	}); n != 0 {
		t.Errorf("10 client_credentials JWT access tokens: %d statements, want 0", n)
	}
	if n := cost(func() {
		if post("/oauth2/introspect", url.Values{"token": {at}})["active"] != true {
			t.Error("inactive")
		}
	}); n != 1 {
		t.Errorf("introspecting a stateless token: %d statements, want 1", n)
	}
	if n := cost(func() { post("/oauth2/revoke", url.Values{"token": {at}}) }); n != 1 {
		t.Errorf("revoking a stateless token: %d statements, want 1", n)
	}
	if post("/oauth2/introspect", url.Values{"token": {at}})["active"] != false {
		t.Error("a revoked stateless token is active")
	}
}

// TestClientCredentialsFormat: a client that chose no format gets the
// server's client_credentials default (as access_token.format, opaque,
// unless configured jwt: not stored); a client's own choice wins either way.
func TestClientCredentialsFormat(t *testing.T) {
	for _, tc := range []struct {
		name, serverDefault, clientFormat string
		tokenFormat                       string // access_token.format
		wantJWT                           bool
	}{
		{"default, client silent", "", "", "", false},
		{"default, client jwt", "", clientspec.FormatJWT, "", true},
		{"jwt configured, client silent", clientspec.FormatJWT, "", "", true},
		{"jwt configured, client opaque", clientspec.FormatJWT, clientspec.FormatOpaque, "", false},
		{"opaque configured, client silent", clientspec.FormatOpaque, "", "", false},
		{"opaque configured, client jwt", clientspec.FormatOpaque, clientspec.FormatJWT, "", true},
		{"access tokens jwt, client silent", "", "", clientspec.FormatJWT, true},
		{"access tokens jwt, client_credentials opaque", clientspec.FormatOpaque, "", clientspec.FormatJWT, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := apptest.NewWith(t, func(c *config.Config) {
				if tc.serverDefault != "" {
					c.AccessToken.ClientCredentialsFormat = tc.serverDefault
				}
				if tc.tokenFormat != "" {
					c.AccessToken.Format = tc.tokenFormat
				}
			})
			now := time.Now().UTC()
			const id, secret = "service", "service-secret-0123456789abcdef0123456789"
			if err := srv.Store.CreateClient(t.Context(), storage.Client{ID: id, SecretHash: clientspec.HashSecret(secret), Name: "Service", RedirectURIs: []string{},
				PostLogoutRedirectURIs: []string{}, GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{}, Scopes: []string{"api"},
				TokenEndpointAuthMethod: "client_secret_basic", AccessTokenFormat: tc.clientFormat, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			issue := func() string {
				req := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader("grant_type=client_credentials&scope=api"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(id, secret)
				w := srv.Do(req)
				var body struct {
					AccessToken string `json:"access_token"`
				}
				if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.AccessToken == "" {
					t.Fatalf("token: %d %s", w.Code, w.Body)
				}
				return body.AccessToken
			}
			issue() // the client is cached
			start := srv.Store.Statements()
			at := issue()
			stored := srv.Store.Statements() - start
			if isJWT := strings.Count(at, ".") == 2; isJWT != tc.wantJWT {
				t.Errorf("token %q: JWT %v, want %v", at, isJWT, tc.wantJWT)
			}
			if (stored == 0) != tc.wantJWT {
				t.Errorf("issuing cost %d statements; a JWT should cost none, an opaque token its insert", stored)
			}
		})
	}
}

// TestOrderedRequestIDs: every new grant's records are keyed by a
// time-ordered request ID (UUIDv7), so they land at the end of the
// request-ID index; the records of one grant share it.
func TestOrderedRequestIDs(t *testing.T) {
	srv := apptest.NewWith(t, func(c *config.Config) { c.AccessToken.ClientCredentialsFormat = clientspec.FormatOpaque }) // stored
	ts := httptest.NewServer(srv.App.Handler)
	defer ts.Close()
	jar, _ := cookiejar.New(nil)
	b := &inproc{t: t, ts: ts, srv: srv, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	b.codeFlow(true, true)
	for range 2 {
		if resp, body := b.do("POST", "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, true); resp.StatusCode != 200 {
			t.Fatalf("client_credentials: %d %s", resp.StatusCode, body)
		}
		time.Sleep(2 * time.Millisecond) // a new millisecond: the IDs' order is their time's
	}
	b.codeFlow(false, false)
	rows, err := srv.Store.DB().QueryContext(t.Context(), `SELECT request_id, kind FROM oauth2_tokens ORDER BY created_at, kind`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	kinds := map[string][]string{}
	for rows.Next() {
		var id, kind string
		if err := rows.Scan(&id, &kind); err != nil {
			t.Fatal(err)
		}
		if u, err := uuid.Parse(id); err != nil || u.Version() != 7 {
			t.Errorf("%s record keyed by %q: not a UUIDv7 (%v)", kind, id, err)
		}
		if len(kinds[id]) == 0 {
			ids = append(ids, id)
		}
		kinds[id] = append(kinds[id], kind)
	}
	// Two logins (their code, access and refresh token records) and two
	// client_credentials grants.
	if len(ids) != 4 || !slices.IsSorted(ids) {
		t.Errorf("grants %v (records %v): want 4 in ascending order", ids, kinds)
	}
}
