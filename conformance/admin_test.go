package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func adminCall(t *testing.T, s *server, method, path, key string, body any) (int, map[string]any) {
	t.Helper()
	return regCall(t, method, s.admin+path, key, body)
}

var pathParam = regexp.MustCompile(`\{[a-z]+\}`)

// TestAdminAPI walks the served OpenAPI document: every documented route
// exists and refuses a missing key (401), a key without its role (403) and a
// revoked key (401). Then it uses the API for real, and checks the audit log.
func TestAdminAPI(t *testing.T) {
	s := startServer(t, backends(t)[0].newURL(t))
	newKey := func(roles ...string) string {
		args := []string{"admin-keys", "create", "--name", "test"}
		for _, r := range roles {
			args = append(args, "--role", r)
		}
		return strings.TrimSpace(s.cli(t, "", args...))
	}
	admin := newKey("admin")
	usersRead := newKey("users:read")
	clientsRead := newKey("clients:read")
	revoked := newKey("admin")
	id := strings.SplitN(strings.TrimPrefix(revoked, "gh_"), "_", 2)[0]
	s.cli(t, "", "admin-keys", "revoke", id)

	resp, err := http.Get(s.admin + "/admin/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Role string `json:"x-gatehouse-role"`
		} `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || len(doc.Paths) == 0 {
		t.Fatalf("openapi.json: %v", err)
	}
	resp.Body.Close()
	routes := 0
	for path, ops := range doc.Paths {
		concrete := pathParam.ReplaceAllString(path, "does-not-exist")
		for method, op := range ops {
			m := strings.ToUpper(method)
			routes++
			if st, _ := adminCall(t, s, m, concrete, "", nil); st != 401 {
				t.Errorf("%s %s without a key: %d, want 401", m, path, st)
			}
			if st, _ := adminCall(t, s, m, concrete, revoked, nil); st != 401 {
				t.Errorf("%s %s with a revoked key: %d, want 401", m, path, st)
			}
			if st, _ := adminCall(t, s, m, concrete, "gh_0000_"+strings.Repeat("x", 43), nil); st != 401 {
				t.Errorf("%s %s with an unknown key: %d, want 401", m, path, st)
			}
			lacking := usersRead
			if strings.HasPrefix(op.Role, "users") {
				lacking = clientsRead
			}
			if st, _ := adminCall(t, s, m, concrete, lacking, nil); st != 403 {
				t.Errorf("%s %s with a key without %s: %d, want 403", m, path, op.Role, st)
			}
			if st, body := adminCall(t, s, m, concrete, admin, map[string]any{}); st == 405 || (st == 404 && body["error_description"] == "There is no admin endpoint here.") {
				t.Errorf("%s %s is documented but not served (%d)", m, path, st)
			}
		}
	}
	if routes < 10 {
		t.Fatalf("only %d documented routes", routes)
	}

	// Use it: a client, a user, disabling signs out, keys, audit.
	st, c := adminCall(t, s, "POST", "/admin/v1/clients", admin, map[string]any{"client_name": "Admin-made", "redirect_uris": []string{rpRedirect},
		"grant_types": []string{"authorization_code", "refresh_token"}, "first_party": true, "owner": "team-payments",
		"backchannel_logout_uri": "https://rp.example.test/bcl"})
	if st != 201 || c["client_secret"] == nil || c["first_party"] != true || c["owner"] != "team-payments" || c["backchannel_logout_uri"] != "https://rp.example.test/bcl" {
		t.Fatalf("create client: %d %v", st, c)
	}
	if st, body := adminCall(t, s, "POST", "/admin/v1/clients", admin, map[string]any{"redirect_uris": []string{"http://evil.example/cb"}}); st != 400 || body["error"] != "invalid_redirect_uri" {
		t.Errorf("bad client: %d %v", st, body)
	}
	st, u := adminCall(t, s, "POST", "/admin/v1/users", admin, map[string]any{"email": "admin-made@example.test", "password": "a long password"})
	if st != 201 || u["sub"] == nil || u["password_hash"] != nil {
		t.Fatalf("create user: %d %v", st, u)
	}
	client := testClient{ID: c["client_id"].(string), Secret: c["client_secret"].(string)}
	e := &env{srv: s, user: user{email: "admin-made@example.test", password: "a long password"}, client: client, rp: newRP(t, s, client, rpRedirect)}
	br := newBrowser(t, s)
	e.fullLogin(t, br) // first-party: no consent page
	sub := u["sub"].(string)
	if st, body := adminCall(t, s, "GET", "/admin/v1/users/"+sub+"/sessions", usersRead, nil); st != 200 || len(body["items"].([]any)) != 1 {
		t.Fatalf("sessions: %d %v", st, body)
	}
	// Grants: a third-party app the user consented to, then revoked.
	tp := s.createClient(t, "--name", "Third party", "--redirect-uri", rpRedirect)
	te := &env{srv: s, user: e.user, client: tp, rp: newRP(t, s, tp, rpRedirect)}
	_, ttk := te.fullLogin(t, br)
	if st, body := adminCall(t, s, "GET", "/admin/v1/users/"+sub+"/grants", usersRead, nil); st != 200 || !strings.Contains(fmt.Sprint(body), tp.ID) {
		t.Fatalf("grants: %d %v", st, body)
	}
	if st, body := adminCall(t, s, "DELETE", "/admin/v1/users/"+sub+"/grants/"+tp.ID, admin, nil); st != 200 || body["revoked_tokens"] == float64(0) {
		t.Fatalf("revoke grant: %d %v", st, body)
	}
	if st := s.userinfoStatus(t, ttk.token.AccessToken); st != 401 {
		t.Errorf("a revoked grant's access token still works: %d", st)
	}
	// Update keeps the secret.
	if st, body := adminCall(t, s, "PUT", "/admin/v1/clients/"+client.ID, admin, map[string]any{"client_name": "Renamed", "redirect_uris": []string{rpRedirect},
		"grant_types": []string{"authorization_code", "refresh_token"}, "first_party": true, "require_mfa": true}); st != 200 || body["client_name"] != "Renamed" || body["client_secret"] != nil || body["require_mfa"] != true || body["owner"] != nil {
		t.Fatalf("update client: %d %v", st, body)
	}
	e.fullLogin(t, br)
	if st, _ := adminCall(t, s, "POST", "/admin/v1/users/"+sub+"/disabled", admin, map[string]any{"disabled": true}); st != 200 {
		t.Fatalf("disable: %d", st)
	}
	if hasSession(t, e, br) {
		t.Error("a disabled user is still signed in")
	}
	if st, body := adminCall(t, s, "GET", "/admin/v1/clients?limit=1", clientsRead, nil); st != 200 || len(body["items"].([]any)) != 1 || body["next_cursor"] == "" {
		t.Errorf("paging: %d %v", st, body)
	}
	if st, body := adminCall(t, s, "POST", "/admin/v1/keys/rotate", admin, map[string]any{"alg": "RS256"}); st != 201 || body["kid"] == nil {
		t.Errorf("rotate: %d %v", st, body)
	}
	st, audit := adminCall(t, s, "GET", "/admin/v1/audit", admin, nil)
	if st != 200 {
		t.Fatalf("audit: %d", st)
	}
	raw, _ := json.Marshal(audit)
	for _, want := range []string{"client.created", "user.created", "user.disabled_set", "key.rotated", "admin-key:"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
	if strings.Contains(string(raw), "a long password") {
		t.Error("a password reached the audit log")
	}
}

// adminGetText GETs a non-JSON admin path with an admin key (none if
// empty) and returns the status and the body.
func adminGetText(t *testing.T, s *server, path, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.admin+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAdminPprof: with admin.pprof on, Go's profiles are on the admin
// listener for admin keys only; off (the default) they are not there.
func TestAdminPprof(t *testing.T) {
	get := func(s *server, key string) (int, string) { return adminGetText(t, s, "/debug/pprof/heap?debug=1", key) }
	on := startServer(t, backends(t)[0].newURL(t), "GATEHOUSE_ADMIN_PPROF=true")
	admin := strings.TrimSpace(on.cli(t, "", "admin-keys", "create", "--name", "ops", "--role", "admin"))
	reader := strings.TrimSpace(on.cli(t, "", "admin-keys", "create", "--name", "ro", "--role", "users:read"))
	if st, _ := get(on, ""); st != 401 {
		t.Errorf("pprof without a key: %d", st)
	}
	if st, _ := get(on, reader); st != 403 {
		t.Errorf("pprof with a users:read key: %d", st)
	}
	if st, body := get(on, admin); st != 200 || !strings.Contains(body, "heap profile") {
		t.Errorf("pprof with an admin key: %d", st)
	}
	off := startServer(t, backends(t)[0].newURL(t))
	key := strings.TrimSpace(off.cli(t, "", "admin-keys", "create", "--name", "ops", "--role", "admin"))
	if st, _ := get(off, key); st != 404 {
		t.Errorf("pprof while off: %d, want 404", st)
	}
}

// TestAdminMetrics: /metrics on the admin listener, for keys with
// metrics:read (or admin) only; the SQL statement counter grows with the
// statements a request sends, on each database.
func TestAdminMetrics(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := startServer(t, b.newURL(t))
			scraper := strings.TrimSpace(s.cli(t, "", "admin-keys", "create", "--name", "prometheus", "--role", "metrics:read"))
			reader := strings.TrimSpace(s.cli(t, "", "admin-keys", "create", "--name", "ro", "--role", "users:read"))
			scrape := func(key string) (int, string) { return adminGetText(t, s, "/metrics", key) }
			statements := func() float64 {
				st, body := scrape(scraper)
				if st != 200 {
					t.Fatalf("metrics with a metrics:read key: %d", st)
				}
				prefix := `gatehouse_sql_statements_total{database="` + b.name + `"} `
				for _, line := range strings.Split(body, "\n") {
					if v, ok := strings.CutPrefix(line, prefix); ok {
						f, err := strconv.ParseFloat(v, 64)
						if err != nil {
							t.Fatalf("statement counter %q: %v", line, err)
						}
						return f
					}
				}
				t.Fatalf("no %s in the metrics:\n%s", prefix, body)
				return 0
			}
			if st, _ := scrape(""); st != 401 {
				t.Errorf("metrics without a key: %d, want 401", st)
			}
			if st, _ := scrape(reader); st != 403 {
				t.Errorf("metrics with a users:read key: %d, want 403", st)
			}
			if st, _ := adminCall(t, s, "GET", "/admin/v1/users", scraper, nil); st != 403 {
				t.Errorf("a metrics:read key read the users: %d, want 403", st)
			}
			if resp, err := http.Get(s.issuer + "/.well-known/openid-configuration"); err != nil {
				t.Fatal(err)
			} else {
				resp.Body.Close()
			}
			_, body := scrape(scraper)
			for _, want := range []string{"go_goroutines ", "process_cpu_seconds_total ", `go_sql_open_connections{db_name="gatehouse"} `,
				`gatehouse_http_request_duration_seconds_count{code="200",route="GET /.well-known/openid-configuration"} `} {
				if !strings.Contains(body, want) {
					t.Errorf("the metrics lack %s", want)
				}
			}
			before := statements()
			// Each scrape reads its key (one statement); the users list reads
			// its key and the users.
			if st, _ := adminCall(t, s, "GET", "/admin/v1/users", reader, nil); st != 200 {
				t.Fatalf("list users: %d", st)
			}
			if got := statements() - before; got < 3 {
				t.Errorf("the counter grew by %v across a key read and a users list, want at least 3", got)
			}
		})
	}
}

// TestAdminResetFactors: an operator removes the second factors of a user
// who lost them; the user is signed out and signs in with the password.
func TestAdminResetFactors(t *testing.T) {
	s := startServer(t, backends(t)[0].newURL(t))
	admin := strings.TrimSpace(s.cli(t, "", "admin-keys", "create", "--name", "support", "--role", "users:write"))
	c := s.createClient(t, "--name", "RP", "--redirect-uri", rpRedirect, "--first-party")
	u := s.createUser(t)
	e := &env{srv: s, user: u, client: c, rp: newRP(t, s, c, rpRedirect)}
	br := newBrowser(t, s)
	enrollTOTP(t, br, accountPage(t, br, u))
	var sub string
	for _, line := range strings.Split(s.cli(t, "", "users", "list"), "\n") {
		if strings.Contains(line, u.email) {
			sub = strings.Fields(line)[0]
		}
	}
	if st, body := adminCall(t, s, "GET", "/admin/v1/users/"+sub, admin, nil); st != 200 || body["second_factor"] != true {
		t.Fatalf("before: %d %v", st, body)
	}
	if st, body := adminCall(t, s, "DELETE", "/admin/v1/users/"+sub+"/factors", admin, nil); st != 200 || body["second_factor"] != false {
		t.Fatalf("reset: %d %v", st, body)
	}
	if st, _ := adminCall(t, s, "DELETE", "/admin/v1/users/no-such-user/factors", admin, nil); st != 404 {
		t.Errorf("reset of an unknown user: %d", st)
	}
	if hasSession(t, e, br) {
		t.Error("the user is still signed in after the reset")
	}
	// The password alone signs in again (no second-factor page).
	_, tk := e.fullLogin(t, newBrowser(t, s))
	if tk.claims["acr"] != "urn:gatehouse:acr:1fa" {
		t.Errorf("after the reset: acr %v", tk.claims["acr"])
	}
	if !strings.Contains(s.cli(t, "", "audit", "list", "--subject", sub), "user.factors_reset") {
		t.Error("the reset is not in the audit log")
	}
	// The same from the command line: the app and its ten backup codes.
	br2 := newBrowser(t, s)
	enrollTOTP(t, br2, accountPage(t, br2, u))
	if out := s.cli(t, "", "users", "reset-factors", "--email", u.email); !strings.Contains(out, "removed 11 ") {
		t.Errorf("users reset-factors: %s", out)
	}
	if st, body := adminCall(t, s, "GET", "/admin/v1/users/"+sub, admin, nil); st != 200 || body["second_factor"] != false {
		t.Errorf("after the CLI reset: %d %v", st, body)
	}
	if hasSession(t, e, br2) {
		t.Error("the CLI reset left the user signed in")
	}
}

// TestBuildInfo (issue 15): a binary built from a checkout (go build
// -buildvcs=true; this machine's GOFLAGS turn the stamp off) names its
// commit in `gatehouse version`, and /metrics publishes the same as
// gatehouse_build_info. Release builds stamp with -ldflags instead
// (internal/buildinfo's test covers which wins).
func TestBuildInfo(t *testing.T) {
	t.Parallel()
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	commit := strings.TrimSpace(string(head))
	stamped := filepath.Join(t.TempDir(), "gatehouse")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", stamped, "../cmd/gatehouse").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(stamped, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "commit "+commit) || !strings.Contains(string(out), "built 20") {
		t.Fatalf("gatehouse version: %v\n%s", err, out)
	}
	s := startWith(t, stamped, backends(t)[0].newURL(t))
	key := strings.TrimSpace(s.cli(t, "", "admin-keys", "create", "--name", "prometheus", "--role", "metrics:read"))
	st, body := adminGetText(t, s, "/metrics", key)
	if st != 200 || !regexp.MustCompile(`gatehouse_build_info\{commit="`+commit+`",date="[^"]+",goversion="go[^"]+",version="[^"]+"\} 1`).MatchString(body) {
		t.Errorf("metrics: %d, no gatehouse_build_info for %s", st, commit)
	}
}
