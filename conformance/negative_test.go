package conformance

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

var rawURL = base64.RawURLEncoding

// C111–C113, C218.
func testCodeReuse(t *testing.T, e *env) {
	br := newBrowser(t, e.srv)
	a, code := codeFor(t, e, br)
	tok, err := e.rp.conf.Exchange(e.rp.ctx, code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatal(err)
	}
	if st := e.srv.userinfoStatus(t, tok.AccessToken); st != 200 {
		t.Fatalf("userinfo: %d", st)
	}
	status, body, hdr := e.srv.tokenRequest(t, e.client, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {rpRedirect}, "code_verifier": {a.verifier}})
	if status != 400 || body["error"] != "invalid_grant" || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("code reuse: %d %v", status, body)
	}
	if st := e.srv.userinfoStatus(t, tok.AccessToken); st != http.StatusUnauthorized {
		t.Errorf("access token from the first redemption after reuse: userinfo %d, want 401", st)
	}
	status, body, _ = e.srv.tokenRequest(t, e.client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("refresh token from the first redemption after reuse: %d %v", status, body)
	}
}

// C185, C186, C190, C204.
func testWrongVerifier(t *testing.T, e *env) {
	cases := []struct {
		name string
		form func(a authRequest, code string) url.Values
	}{
		{"missing verifier", func(a authRequest, code string) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}}
		}},
		{"wrong verifier", func(a authRequest, code string) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {oauth2.GenerateVerifier()}}
		}},
		{"verifier too short", func(a authRequest, code string) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {a.verifier[:20]}}
		}},
		{"other redirect_uri", func(a authRequest, code string) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect + "/x"}, "code_verifier": {a.verifier}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, code := codeFor(t, e, newBrowser(t, e.srv))
			status, body, _ := e.srv.tokenRequest(t, e.client, tc.form(a, code))
			if status != 400 || body["error"] != "invalid_grant" {
				t.Errorf("%d %v, want 400 invalid_grant", status, body)
			}
		})
	}
}

// C187–C192: plain, missing and unknown challenge methods are refused with
// invalid_request, redirected with state and iss.
func testPKCERefused(t *testing.T, e *env) {
	base := url.Values{"client_id": {e.client.ID}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {rpRedirect}, "nonce": {randString(12)}}
	cases := map[string]url.Values{
		"plain":             {"code_challenge": {"abcdefghijabcdefghijabcdefghijabcdefghijabc"}, "code_challenge_method": {"plain"}},
		"missing challenge": {},
		"unknown method":    {"code_challenge": {s256(oauth2.GenerateVerifier())}, "code_challenge_method": {"S512"}},
	}
	for name, extra := range cases {
		t.Run(name, func(t *testing.T) {
			br := newBrowser(t, e.srv)
			q := url.Values{}
			for k, v := range base {
				q[k] = v
			}
			for k, v := range extra {
				q[k] = v
			}
			state := randString(16)
			q.Set("state", state)
			cb := br.callback(br.follow(br.get(e.srv.issuer+"/oauth2/auth?"+q.Encode())), rpRedirect)
			if cb.Get("error") != "invalid_request" || cb.Get("state") != state || cb.Get("code") != "" {
				t.Errorf("callback %v, want invalid_request with state", cb)
			}
			if d := cb.Get("error_description"); strings.ContainsAny(d, "\"\\\r\n\t") {
				t.Errorf("error_description has forbidden characters: %q", d)
			}
		})
	}
}

// C114, C206, C207, C210: no redirect to an unverified URI, ever.
func testRedirectURIMismatch(t *testing.T, e *env) {
	for _, uri := range []string{rpRedirect + "/evil", rpRedirect + "x", rpRedirect + "/", "https://RP.example.test/cb", "http://rp.example.test/cb",
		"https://rp.example.test:444/cb", rpRedirect + "?a=b", "https://rp.example.test@evil.example/cb", "https://evil.example/cb", "https://rp.example.test/%63b"} {
		t.Run(uri, func(t *testing.T) {
			br := newBrowser(t, e.srv)
			a := e.rp.newRequest(oauth2.SetAuthURLParam("redirect_uri", uri))
			p := br.get(a.url)
			if p.location != "" || p.status < 400 || p.status >= 500 {
				t.Fatalf("redirect_uri %s: status %d location %q; want a 4xx error page", uri, p.status, p.location)
			}
			if !strings.Contains(p.header.Get("Content-Type"), "text/html") {
				t.Errorf("error page content type %q", p.header.Get("Content-Type"))
			}
		})
	}
}

func testUnknownClient(t *testing.T, e *env) {
	br := newBrowser(t, e.srv)
	q := url.Values{"client_id": {"no-such-client"}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {rpRedirect},
		"state": {randString(12)}, "code_challenge": {s256(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	p := br.get(e.srv.issuer + "/oauth2/auth?" + q.Encode())
	if p.location != "" || p.status < 400 || p.status >= 500 {
		t.Fatalf("unknown client: %d %q", p.status, p.location)
	}
}

// C100, C101, C105.
func testPromptNone(t *testing.T, e *env) {
	br := newBrowser(t, e.srv)
	state := strings.Repeat("a", 100) + "-._~" + randString(20)
	a := e.rp.newRequest(oauth2.SetAuthURLParam("prompt", "none"))
	a.url = strings.Replace(a.url, "state="+a.state, "state="+url.QueryEscape(state), 1)
	cb := br.callback(br.follow(br.get(a.url)), rpRedirect)
	if cb.Get("error") != "login_required" || cb.Get("state") != state || cb.Get("code") != "" {
		t.Fatalf("prompt=none without a session: %v", cb)
	}
	_, first := e.fullLogin(t, br)
	a = e.rp.newRequest(oauth2.SetAuthURLParam("prompt", "none"))
	p := br.follow(br.get(a.url))
	cb = br.callback(p, rpRedirect)
	second := e.rp.exchange(a, cb)
	if second.idToken.Subject != first.idToken.Subject || authTime(second) != authTime(first) {
		t.Errorf("prompt=none with a session: sub/auth_time changed")
	}
	// id_token_hint of the same user works silently (C105).
	a = e.rp.newRequest(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", first.raw))
	e.rp.exchange(a, br.callback(br.follow(br.get(a.url)), rpRedirect))
	// A new client needs consent: consent_required.
	other := e.srv.createClient(t, "--name", "Fresh RP", "--redirect-uri", rpRedirect)
	orp := newRP(t, e.srv, other, rpRedirect)
	a = orp.newRequest(oauth2.SetAuthURLParam("prompt", "none"))
	cb = br.callback(br.follow(br.get(a.url)), rpRedirect)
	if cb.Get("error") != "consent_required" || cb.Get("state") != a.state {
		t.Errorf("prompt=none without consent: %v", cb)
	}
}

// C99, C102: prompt=login and max_age=0 show the login page again and
// advance auth_time.
func testReauthenticate(t *testing.T, e *env) {
	for _, opt := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")} {
		br := newBrowser(t, e.srv)
		_, first := e.fullLogin(t, br)
		time.Sleep(1100 * time.Millisecond) // auth_time has second resolution
		a := e.rp.newRequest(opt)
		p := br.follow(br.get(a.url))
		if !strings.Contains(p.body, `action="/login"`) {
			t.Fatalf("no login page for re-authentication (status %d, location %q)", p.status, p.location)
		}
		p = br.login(p, e.user)
		second := e.rp.exchange(a, br.callback(p, rpRedirect))
		if authTime(second) <= authTime(first) {
			t.Errorf("auth_time did not advance: %v then %v", authTime(first), authTime(second))
		}
	}
	// max_age large: no login, auth_time present and unchanged (C103).
	br := newBrowser(t, e.srv)
	_, first := e.fullLogin(t, br, oauth2.SetAuthURLParam("max_age", "15000"))
	a := e.rp.newRequest(oauth2.SetAuthURLParam("max_age", "10000"))
	second := e.rp.exchange(a, br.callback(br.follow(br.get(a.url)), rpRedirect))
	if authTime(second) != authTime(first) {
		t.Errorf("max_age=10000: auth_time changed")
	}
}

// C194, C195.
func testWrongSecret(t *testing.T, e *env) {
	bad := testClient{ID: e.client.ID, Secret: e.client.Secret + "x"}
	status, body, hdr := e.srv.tokenRequest(t, bad, url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {rpRedirect}})
	// The challenge names the error too: openid-client reads it before the body.
	if ch := hdr.Get("WWW-Authenticate"); status != 401 || body["error"] != "invalid_client" || !strings.HasPrefix(ch, "Basic") || !strings.Contains(ch, `error="invalid_client"`) {
		t.Errorf("wrong secret (basic): %d %v %q", status, body, hdr.Get("WWW-Authenticate"))
	}
	status, body, _ = e.srv.postJSON(t, "/oauth2/token", testClient{}, url.Values{"grant_type": {"authorization_code"}, "code": {"x"},
		"redirect_uri": {rpRedirect}, "client_id": {e.client.ID}, "client_secret": {"wrong"}})
	if (status != 401 && status != 400) || body["error"] != "invalid_client" {
		t.Errorf("wrong secret (post): %d %v", status, body)
	}
	status, body, _ = e.srv.postJSON(t, "/oauth2/token", testClient{}, url.Values{"grant_type": {"client_credentials"}})
	if status != 401 || body["error"] != "invalid_client" {
		t.Errorf("no client authentication: %d %v", status, body)
	}
}

func testIntrospectRevoke(t *testing.T, e *env) {
	br := newBrowser(t, e.srv)
	_, tk := e.fullLogin(t, br)
	status, body, _ := e.srv.postJSON(t, "/oauth2/introspect", e.client, url.Values{"token": {tk.token.AccessToken}})
	if status != 200 || body["active"] != true || body["client_id"] != e.client.ID || body["sub"] != tk.idToken.Subject {
		t.Fatalf("introspect live token: %d %v", status, body)
	}
	if !e.srv.introspect(t, e.client, tk.token.RefreshToken) {
		t.Error("refresh token not active")
	}
	// Without client authentication introspection is refused.
	status, _, _ = e.srv.postJSON(t, "/oauth2/introspect", testClient{}, url.Values{"token": {tk.token.AccessToken}})
	if status != 401 {
		t.Errorf("unauthenticated introspection: %d, want 401", status)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.issuer+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tk.token.AccessToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+tk.token.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("introspection with a bearer token as credential: %d, want 401", resp.StatusCode)
	}
	status, _, _ = e.srv.postJSON(t, "/oauth2/revoke", e.client, url.Values{"token": {tk.token.RefreshToken}})
	if status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	if e.srv.introspect(t, e.client, tk.token.AccessToken) || e.srv.introspect(t, e.client, tk.token.RefreshToken) {
		t.Error("tokens still active after revoking the refresh token")
	}
	if e.srv.introspect(t, e.client, "garbage") {
		t.Error("garbage token active")
	}
	status, _, _ = e.srv.postJSON(t, "/oauth2/revoke", e.client, url.Values{"token": {"unknown-token"}})
	if status != 200 {
		t.Errorf("revoking an unknown token: %d, want 200 (RFC 7009)", status)
	}
}

// C159–C170, and the confirmation: a logout that does not name this very
// session with a verified id_token_hint ends nothing until the user
// confirms (a POSTed form with a CSRF token), so a cross-site GET or POST
// cannot sign anyone out.
func testLogout(t *testing.T, e *env) {
	// The suite's 90-character state with VSCHAR punctuation.
	state := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX0123456789!\"#$%&'()*,-./:<=>?@[\\]^_`{|}~"
	logout := func(br *browser, params url.Values) page {
		return br.get(e.srv.issuer + "/oauth2/logout?" + params.Encode())
	}
	signedOut := func(t *testing.T, p page) {
		t.Helper()
		if p.location != "" || p.status != 200 || !strings.Contains(p.body, `id="signed-out"`) {
			t.Fatalf("%d %q, want the signed-out page and no redirect:\n%s", p.status, p.location, p.body)
		}
	}
	t.Run("valid hint and registered URI", func(t *testing.T) {
		br := newBrowser(t, e.srv)
		_, tk := e.fullLogin(t, br)
		p := logout(br, url.Values{"id_token_hint": {tk.raw}, "post_logout_redirect_uri": {rpPostLogout}, "state": {state}})
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, rpPostLogout+"?") {
			t.Fatalf("logout: %d %q", p.status, p.location)
		}
		u, _ := url.Parse(p.location)
		if got := u.Query(); got.Get("state") != state || len(got) != 1 {
			t.Errorf("post-logout redirect query %v, want only state %q", got, state)
		}
		if hasSession(t, e, br) {
			t.Error("session survived logout")
		}
	})
	t.Run("no state", func(t *testing.T) {
		br := newBrowser(t, e.srv)
		_, tk := e.fullLogin(t, br)
		p := logout(br, url.Values{"id_token_hint": {tk.raw}, "post_logout_redirect_uri": {rpPostLogout}})
		if p.location != rpPostLogout {
			t.Errorf("logout without state: %q", p.location)
		}
	})
	// A verified hint of this session ends it at once, without a redirect
	// unless the URI is registered exactly; the page names the apps the
	// session had signed in to.
	for _, tc := range []struct {
		name   string
		params func(raw string) url.Values
	}{
		{"no redirect uri", func(raw string) url.Values { return url.Values{"id_token_hint": {raw}, "state": {"x"}} }},
		{"unregistered redirect uri", func(raw string) url.Values {
			return url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {"https://rp.example.test/bad"}}
		}},
		{"query added to redirect uri", func(raw string) url.Values {
			return url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {rpPostLogout + "?foo=bar"}}
		}},
		{"client_id other than the hint's audience", func(raw string) url.Values {
			return url.Values{"id_token_hint": {raw}, "client_id": {"someone-else"}, "post_logout_redirect_uri": {rpPostLogout}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := newBrowser(t, e.srv)
			_, tk := e.fullLogin(t, br)
			p := logout(br, tc.params(tk.raw))
			if tc.name == "client_id other than the hint's audience" {
				// The hint does not verify for that client: asked, then no redirect.
				p = br.submit(findForm(t, p, "/oauth2/logout"), nil)
			}
			signedOut(t, p)
			if tc.name == "no redirect uri" && (!strings.Contains(p.body, `id="session-apps"`) || !strings.Contains(p.body, "Conformance RP")) {
				t.Errorf("the signed-out page does not name the session's app:\n%s", p.body)
			}
			if hasSession(t, e, br) {
				t.Error("session survived logout")
			}
		})
	}
	// Anything else asks first; confirming ends the session, with no
	// redirect (the client is not identified).
	for _, tc := range []struct {
		name   string
		params func(raw string) url.Values
	}{
		{"no params", func(string) url.Values { return url.Values{} }},
		{"only state", func(string) url.Values { return url.Values{"state": {"x"}} }},
		{"no hint", func(string) url.Values { return url.Values{"post_logout_redirect_uri": {rpPostLogout}, "state": {"x"}} }},
		{"alg none hint", func(raw string) url.Values {
			parts := strings.Split(raw, ".")
			return url.Values{"id_token_hint": {rawURL.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."}, "post_logout_redirect_uri": {rpPostLogout}}
		}},
		{"tampered hint", func(raw string) url.Values {
			parts := strings.Split(raw, ".")
			return url.Values{"id_token_hint": {parts[0] + "." + parts[1] + "." + rawURL.EncodeToString([]byte("forged-signature-bytes"))}, "post_logout_redirect_uri": {rpPostLogout}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := newBrowser(t, e.srv)
			_, tk := e.fullLogin(t, br)
			p := logout(br, tc.params(tk.raw))
			if p.location != "" || p.status != 200 || !strings.Contains(p.body, `id="confirm-logout"`) {
				t.Fatalf("%d %q, want the confirmation page:\n%s", p.status, p.location, p.body)
			}
			if !hasSession(t, e, br) {
				t.Fatal("the session ended before the user confirmed")
			}
			signedOut(t, br.submit(findForm(t, p, "/oauth2/logout"), nil))
			if hasSession(t, e, br) {
				t.Error("session survived the confirmed logout")
			}
		})
	}
	t.Run("cross-site POST without the CSRF token", func(t *testing.T) {
		br := newBrowser(t, e.srv)
		e.fullLogin(t, br)
		p := br.post(e.srv.issuer+"/oauth2/logout", url.Values{"confirm": {"yes"}, "csrf_token": {"forged"}})
		if !strings.Contains(p.body, `id="confirm-logout"`) || !hasSession(t, e, br) {
			t.Fatalf("a forged confirmation: %d, session alive %v", p.status, hasSession(t, e, br))
		}
	})
	t.Run("another session's hint", func(t *testing.T) {
		_, other := e.fullLogin(t, newBrowser(t, e.srv))
		br := newBrowser(t, e.srv)
		e.fullLogin(t, br)
		p := logout(br, url.Values{"id_token_hint": {other.raw}, "post_logout_redirect_uri": {rpPostLogout}, "state": {"s1"}})
		if !strings.Contains(p.body, `id="confirm-logout"`) || !hasSession(t, e, br) {
			t.Fatalf("another session's hint ended this one: %d %q", p.status, p.location)
		}
		// Confirmed, the hint still verifies, so the registered URI is used.
		p = br.submit(findForm(t, p, "/oauth2/logout"), nil)
		if p.status != http.StatusSeeOther || p.location != rpPostLogout+"?state=s1" {
			t.Fatalf("after confirming: %d %q", p.status, p.location)
		}
	})
	t.Run("client_id without a hint", func(t *testing.T) {
		br := newBrowser(t, e.srv)
		e.fullLogin(t, br)
		p := logout(br, url.Values{"client_id": {e.client.ID}, "post_logout_redirect_uri": {rpPostLogout}, "state": {"s2"}, "ui_locales": {"fr-CA en"}})
		if !strings.Contains(p.body, `id="confirm-logout"`) {
			t.Fatalf("no confirmation: %d %q", p.status, p.location)
		}
		p = br.submit(findForm(t, p, "/oauth2/logout"), nil)
		if p.status != http.StatusSeeOther || p.location != rpPostLogout+"?state=s2" {
			t.Fatalf("after confirming: %d %q", p.status, p.location)
		}
		if hasSession(t, e, br) {
			t.Error("session survived logout")
		}
	})
	t.Run("no session", func(t *testing.T) {
		_, tk := e.fullLogin(t, newBrowser(t, e.srv))
		p := logout(newBrowser(t, e.srv), url.Values{"id_token_hint": {tk.raw}, "post_logout_redirect_uri": {rpPostLogout}, "state": {"s3"}})
		if p.status != http.StatusSeeOther || p.location != rpPostLogout+"?state=s3" {
			t.Fatalf("nothing to end, a verified hint: %d %q", p.status, p.location)
		}
		if p := logout(newBrowser(t, e.srv), url.Values{}); !strings.Contains(p.body, `id="signed-out"`) {
			t.Fatalf("nothing to end, no hint: %d\n%s", p.status, p.body)
		}
	})
}

func testClientCredentials(t *testing.T, e *env) {
	m2m := e.srv.createClient(t, "--name", "Service", "--grant-type", "client_credentials", "--scope", "api:read", "--scope", "api:write")
	status, body, hdr := e.srv.tokenRequest(t, m2m, url.Values{"grant_type": {"client_credentials"}, "scope": {"api:read"}})
	if status != 200 || body["access_token"] == nil || body["token_type"] != "bearer" || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("client_credentials: %d %v", status, body)
	}
	if _, ok := body["refresh_token"]; ok {
		t.Error("client_credentials issued a refresh token")
	}
	if !e.srv.introspect(t, m2m, body["access_token"].(string)) {
		t.Error("client_credentials token not active")
	}
	status, body, _ = e.srv.tokenRequest(t, m2m, url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}})
	if status != 400 || body["error"] != "invalid_scope" {
		t.Errorf("scope not registered: %d %v", status, body)
	}
	status, body, _ = e.srv.tokenRequest(t, e.client, url.Values{"grant_type": {"client_credentials"}})
	if status != 400 || body["error"] != "unauthorized_client" {
		t.Errorf("client_credentials for a client without the grant: %d %v", status, body)
	}
}

// C80, C221, C222.
func testUnsupported(t *testing.T, e *env) {
	for _, gt := range []string{"password", "implicit", "urn:example:unknown"} {
		status, body, _ := e.srv.tokenRequest(t, e.client, url.Values{"grant_type": {gt}, "username": {e.user.email}, "password": {e.user.password}})
		if status != 400 || body["error"] != "unsupported_grant_type" {
			t.Errorf("grant_type %s: %d %v, want 400 unsupported_grant_type (RFC 6749 §5.2)", gt, status, body)
		}
	}
	if status, body, _ := e.srv.tokenRequest(t, e.client, url.Values{"code": {"x"}}); status != 400 || body["error"] != "invalid_request" {
		t.Errorf("no grant_type: %d %v, want 400 invalid_request", status, body)
	}
	br := newBrowser(t, e.srv)
	for _, rt := range []string{"token", "id_token", "code id_token", ""} {
		q := url.Values{"client_id": {e.client.ID}, "scope": {"openid"}, "redirect_uri": {rpRedirect}, "state": {randString(12)},
			"nonce": {randString(12)}, "code_challenge": {s256(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		if rt != "" {
			q.Set("response_type", rt)
		}
		p := br.follow(br.get(e.srv.issuer + "/oauth2/auth?" + q.Encode()))
		if p.location == "" {
			if p.status < 400 {
				t.Errorf("response_type %q: %d without redirect", rt, p.status)
			}
			continue
		}
		u, _ := url.Parse(p.location)
		vals := u.Query()
		if u.Fragment != "" {
			vals, _ = url.ParseQuery(u.Fragment)
		}
		if e := vals.Get("error"); e != "unsupported_response_type" && e != "invalid_request" {
			t.Errorf("response_type %q: error %q", rt, e)
		}
		if vals.Get("code") != "" || vals.Get("access_token") != "" || vals.Get("id_token") != "" {
			t.Errorf("response_type %q issued something: %v", rt, vals)
		}
	}
}

// C231–C233: clickjacking, CORS and referrer protections.
func testSecurityHeaders(t *testing.T, e *env) {
	br := newBrowser(t, e.srv)
	req, _ := http.NewRequest(http.MethodGet, e.rp.newRequest().url, nil)
	req.Header.Set("Origin", "https://evil.example")
	p := br.follow(br.do(req))
	h := p.header
	if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("login page framing headers: %q %q", h.Get("Content-Security-Policy"), h.Get("X-Frame-Options"))
	}
	if h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("referrer/nosniff headers: %q %q", h.Get("Referrer-Policy"), h.Get("X-Content-Type-Options"))
	}
	if h.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS on the authorization endpoint")
	}
	if strings.Contains(p.body, "http://") && strings.Contains(p.body, "<link") || strings.Contains(p.body, "<script src") {
		t.Error("login page loads external assets")
	}
}

// RFC 9126 pushed authorization requests: the client pushes its request,
// the browser carries only the single-use request_uri.
func testPAR(t *testing.T, e *env) {
	verifier := oauth2.GenerateVerifier()
	state, nonce := randString(16), randString(16)
	push := url.Values{"response_type": {"code"}, "redirect_uri": {rpRedirect}, "scope": {"openid email"}, "state": {state}, "nonce": {nonce},
		"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}
	status, body, _ := e.srv.postJSON(t, "/oauth2/par", e.client, push)
	if status != http.StatusCreated || !strings.HasPrefix(fmt.Sprint(body["request_uri"]), "urn:ietf:params:oauth:request_uri:") || body["expires_in"] == nil {
		t.Fatalf("push: %d %v", status, body)
	}
	requestURI := body["request_uri"].(string)
	br := newBrowser(t, e.srv)
	authURL := e.srv.issuer + "/oauth2/auth?" + url.Values{"client_id": {e.client.ID}, "request_uri": {requestURI}}.Encode()
	p := br.follow(br.get(authURL))
	if strings.Contains(p.body, `action="/login"`) {
		p = br.login(p, e.user)
	}
	if strings.Contains(p.body, `action="/consent"`) {
		p = br.approve(p)
	}
	cb := br.callback(p, rpRedirect)
	e.rp.exchange(authRequest{state: state, nonce: nonce, verifier: verifier}, cb)

	// The request_uri is single-use.
	again := newBrowser(t, e.srv).get(authURL)
	if again.location != "" || again.status < 400 {
		t.Errorf("reused request_uri: %d %q", again.status, again.location)
	}
	// Pushing needs client authentication and PKCE.
	status, body, _ = e.srv.postJSON(t, "/oauth2/par", testClient{ID: e.client.ID, Secret: "wrong"}, push)
	if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("push with a wrong secret: %d %v", status, body)
	}
	noPKCE := url.Values{}
	for k, v := range push {
		noPKCE[k] = v
	}
	noPKCE.Del("code_challenge")
	status, body, _ = e.srv.postJSON(t, "/oauth2/par", e.client, noPKCE)
	if status != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Errorf("push without PKCE: %d %v", status, body)
	}
	// The browser's client_id must match the pushing client.
	status, body, _ = e.srv.postJSON(t, "/oauth2/par", e.client, push)
	if status != http.StatusCreated {
		t.Fatalf("push: %d %v", status, body)
	}
	other := e.srv.createClient(t, "--name", "PAR other", "--redirect-uri", rpRedirect)
	p = newBrowser(t, e.srv).get(e.srv.issuer + "/oauth2/auth?" + url.Values{"client_id": {other.ID}, "request_uri": {body["request_uri"].(string)}}.Encode())
	if p.status < 300 || (p.location != "" && !strings.Contains(p.location, "error=")) {
		t.Errorf("request_uri with another client_id: %d %q", p.status, p.location)
	}
}

// testRefreshScope: a refresh may narrow the scope (RFC 6749 §6) and the new
// tokens carry only what it asked for; a scope beyond the grant is
// invalid_scope and rotates nothing.
func testRefreshScope(t *testing.T, e *env) {
	_, tk := e.fullLogin(t, newBrowser(t, e.srv))
	refresh := func(rt, scope string) (int, map[string]any) {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		if scope != "" {
			f.Set("scope", scope)
		}
		st, body, _ := e.srv.tokenRequest(t, e.client, f)
		return st, body
	}
	if st, body := refresh(tk.token.RefreshToken, "openid admin"); st != 400 || body["error"] != "invalid_scope" {
		t.Fatalf("refresh asking for more: %d %v, want 400 invalid_scope", st, body)
	}
	st, body := refresh(tk.token.RefreshToken, "openid email offline_access")
	if st != 200 || body["scope"] != "openid email offline_access" {
		t.Fatalf("narrowing refresh: %d %v", st, body)
	}
	_, in, _ := e.srv.postJSON(t, "/oauth2/introspect", e.client, url.Values{"token": {body["access_token"].(string)}})
	if in["scope"] != "openid email offline_access" {
		t.Errorf("the narrowed access token has scope %v", in["scope"])
	}
	if st, body := refresh(body["refresh_token"].(string), ""); st != 200 || body["scope"] != "openid email offline_access" {
		t.Errorf("the next refresh keeps the narrowed scope: %d %v", st, body)
	}
}
