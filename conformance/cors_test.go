package conformance

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCORS (issue 14, X13): a browser-based public client (an SPA) finishes
// the code flow from its own origin: preflights are answered for origins a
// client has, and token, userinfo and revocation responses are readable
// only from the origins of the client they are for (its redirect URIs'
// origins and its allowed_cors_origins). Other origins get no CORS headers,
// and nothing allows credentials.
func TestCORS(t *testing.T) {
	t.Parallel()
	s := startServer(t, backends(t)[0].newURL(t))
	const spa, extra, evil = "https://spa.example.test", "https://app2.example.test", "https://evil.example.test"
	c := s.createClient(t, "--name", "SPA", "--public", "--redirect-uri", spa+"/cb", "--allowed-cors-origin", extra, "--first-party")
	e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, spa+"/cb")}

	var last map[string]any // the last JSON body
	call := func(method, path, origin string, form url.Values, bearer string) *http.Response {
		t.Helper()
		var body *strings.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("")
		}
		req, _ := http.NewRequest(method, s.base+path, body)
		req.Header.Set("Origin", origin)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if method == http.MethodOptions {
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization")
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Type") == "application/json;charset=UTF-8" {
			_ = json.NewDecoder(resp.Body).Decode(&last)
		}
		return resp
	}
	allowed := func(resp *http.Response, origin string) bool {
		if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("credentials allowed for %s", origin)
		}
		return resp.Header.Get("Access-Control-Allow-Origin") == origin
	}

	for _, path := range []string{"/oauth2/token", "/oauth2/revoke", "/oauth2/introspect", "/userinfo"} {
		for origin, want := range map[string]bool{spa: true, extra: true, evil: false} {
			resp := call(http.MethodOptions, path, origin, nil, "")
			if got := allowed(resp, origin); got != want || resp.StatusCode != http.StatusNoContent {
				t.Errorf("preflight %s from %s: %d allowed=%v, want %v", path, origin, resp.StatusCode, got, want)
			}
			if want && !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
				t.Errorf("preflight %s: allowed headers %q", path, resp.Header.Get("Access-Control-Allow-Headers"))
			}
		}
	}
	// The code flow, its token request from the SPA's origin.
	br := newBrowser(t, s)
	a := e.rp.newRequest()
	cb := br.callback(br.login(br.follow(br.get(a.url)), e.user), spa+"/cb")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {spa + "/cb"}, "client_id": {c.ID}, "code_verifier": {a.verifier}}
	resp := call(http.MethodPost, "/oauth2/token", spa, form, "")
	if resp.StatusCode != 200 || !allowed(resp, spa) {
		t.Fatalf("token request from the SPA: %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	at, _ := last["access_token"].(string)
	for origin, want := range map[string]bool{spa: true, extra: true, evil: false} {
		if got := allowed(call(http.MethodGet, "/userinfo", origin, nil, at), origin); got != want {
			t.Errorf("userinfo from %s: allowed=%v, want %v", origin, got, want)
		}
		if got := allowed(call(http.MethodPost, "/oauth2/token", origin, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {c.ID}}, ""), origin); got != want {
			t.Errorf("token endpoint from %s: allowed=%v, want %v", origin, got, want)
		}
	}
	if resp := call(http.MethodPost, "/oauth2/revoke", spa, url.Values{"token": {at}, "client_id": {c.ID}}, ""); resp.StatusCode != 200 || !allowed(resp, spa) {
		t.Errorf("revocation from the SPA: %d %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// Nothing else is opened: the login page, the authorization endpoint.
	for _, path := range []string{"/login", "/oauth2/auth"} {
		if resp := call(http.MethodGet, path, spa, nil, ""); resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s answers CORS", path)
		}
	}
	// allowed_cors_origins must be origins.
	if out := s.cliErr(t, "clients", "create", "--name", "Bad", "--public", "--redirect-uri", spa+"/cb", "--allowed-cors-origin", "https://x.example/path"); !strings.Contains(out, "allowed_cors_origins") {
		t.Errorf("a bad CORS origin: %s", out)
	}
}
