package conformance

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestOP runs every check against each backend, one server per backend.
func TestOP(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b)
			for _, tc := range opChecks {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, e) })
			}
		})
	}
}

var opChecks = []struct {
	name string
	run  func(t *testing.T, e *env)
}{
	{"discovery", testDiscovery},
	{"jwks has public keys only", testJWKS},
	{"code flow with PKCE, ID token and userinfo", testHappyPath},
	{"POST authorization request survives login", testPostAuthorize},
	{"login_hint prefills the email", testLoginHint},
	{"wrong password: uniform error, no session", testWrongPassword},
	{"login form without CSRF token: 403, no session", testLoginCSRF},
	{"remembered consent skips the page", testRememberedConsent},
	{"denied consent: access_denied with state and iss", testDenyConsent},
	{"refresh rotation and reuse revokes the family", testRefreshRotation},
	{"refresh with another client's credentials", testRefreshOtherClient},
	{"refresh narrows the scope; more is invalid_scope", testRefreshScope},
	{"code reuse revokes the first tokens", testCodeReuse},
	{"wrong or missing code_verifier", testWrongVerifier},
	{"PKCE plain and missing challenge refused", testPKCERefused},
	{"redirect URI must match exactly", testRedirectURIMismatch},
	{"unknown client shows an error page", testUnknownClient},
	{"prompt=none", testPromptNone},
	{"prompt=login and max_age=0 re-authenticate", testReauthenticate},
	{"wrong client secret: 401 invalid_client", testWrongSecret},
	{"introspection before and after revocation", testIntrospectRevoke},
	{"RP-initiated logout", testLogout},
	{"client_credentials", testClientCredentials},
	{"unsupported grants and response types", testUnsupported},
	{"security headers", testSecurityHeaders},
	{"no nonce; no state refused", testNoStateNoNonce},
	{"pushed authorization requests", testPAR},
	{"second factor: step-up, TOTP, backup codes", testSecondFactor},
	{"client that requires MFA", testClientRequiresMFA},
	{"second factor locks after repeated failures", testSecondFactorLockout},
	{"account page: CSRF bound to the session", testAccountNeedsFreshLogin},
	{"interoperability findings (issue 14)", testInteropFindings},
}

func getJSON(t *testing.T, u string) (map[string]any, http.Header) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m, resp.Header
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// C48–C72, C193, C220, C222.
func testDiscovery(t *testing.T, e *env) {
	d, _ := getJSON(t, e.srv.issuer+"/.well-known/openid-configuration")
	if d["issuer"] != e.srv.issuer {
		t.Fatalf("issuer = %v, want %s", d["issuer"], e.srv.issuer)
	}
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint", "introspection_endpoint", "revocation_endpoint"} {
		v, _ := d[k].(string)
		if !strings.HasPrefix(v, e.srv.issuer+"/") {
			t.Errorf("%s = %q: not under the issuer", k, v)
		}
	}
	want := map[string][]string{
		"response_types_supported":              {"code"},
		"subject_types_supported":               {"public"},
		"id_token_signing_alg_values_supported": {"RS256"},
		"code_challenge_methods_supported":      {"S256"},
		"scopes_supported":                      {"openid", "profile", "email", "offline_access"},
		"grant_types_supported":                 {"authorization_code", "refresh_token", "client_credentials"},
		"token_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post"},
	}
	for k, vals := range want {
		got := strs(d[k])
		for _, v := range vals {
			if !has(got, v) {
				t.Errorf("%s = %v: missing %s", k, got, v)
			}
		}
	}
	for _, bad := range []string{"token", "id_token", "id_token token", "code id_token"} {
		if has(strs(d["response_types_supported"]), bad) {
			t.Errorf("response_types_supported advertises %q (implicit/hybrid are out by design)", bad)
		}
	}
	for _, bad := range []string{"implicit", "password"} {
		if has(strs(d["grant_types_supported"]), bad) {
			t.Errorf("grant_types_supported advertises %q", bad)
		}
	}
	if has(strs(d["code_challenge_methods_supported"]), "plain") {
		t.Error("plain PKCE advertised")
	}
	if d["authorization_response_iss_parameter_supported"] != true {
		t.Error("authorization_response_iss_parameter_supported is not true")
	}
	// Every advertised endpoint exists (truthful metadata).
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "end_session_endpoint", "introspection_endpoint", "revocation_endpoint"} {
		resp, err := http.Post(d[k].(string), "application/x-www-form-urlencoded", strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode >= 500 {
			t.Errorf("%s answers %d to POST", k, resp.StatusCode)
		}
	}
}

// C3–C9, C5.
func testJWKS(t *testing.T, e *env) {
	set, hdr := getJSON(t, e.srv.issuer+"/.well-known/jwks.json")
	if hdr.Get("Cache-Control") == "" {
		t.Error("JWKS without Cache-Control")
	}
	keys := set["keys"].([]any)
	if len(keys) == 0 {
		t.Fatal("empty JWKS")
	}
	seen := map[string]bool{}
	for _, k := range keys {
		jwk := k.(map[string]any)
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := jwk[private]; ok {
				t.Errorf("JWKS key has private member %q", private)
			}
		}
		if jwk["kty"] == "oct" {
			t.Error("JWKS has a symmetric key")
		}
		kid, _ := jwk["kid"].(string)
		if kid == "" || seen[kid] {
			t.Errorf("kid %q missing or duplicated", kid)
		}
		seen[kid] = true
		if jwk["use"] != "sig" || jwk["alg"] == nil {
			t.Errorf("key %s: use=%v alg=%v", kid, jwk["use"], jwk["alg"])
		}
	}
}

// C15–C38, C73–C79, C84–C88, C92.
func testHappyPath(t *testing.T, e *env) {
	br := newBrowser(t, e.srv)
	before := time.Now().Add(-2 * time.Second).Unix()
	_, tk := e.fullLogin(t, br)
	c := tk.claims
	if c["iss"] != e.srv.issuer {
		t.Errorf("iss = %v", c["iss"])
	}
	for _, k := range []string{"sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr", "acr", "sid"} {
		if _, ok := c[k]; !ok {
			t.Errorf("ID token lacks %s", k)
		}
	}
	if _, ok := c["rat"]; ok {
		t.Error("ID token carries fosite's rat claim")
	}
	if at, _ := c["auth_time"].(float64); int64(at) < before || int64(at) > time.Now().Unix()+1 {
		t.Errorf("auth_time %v is not the time of this login", c["auth_time"])
	}
	if amr := strs(c["amr"]); !has(amr, "pwd") {
		t.Errorf("amr = %v, want pwd", amr)
	}
	if c["acr"] != "urn:gatehouse:acr:1fa" {
		t.Errorf("acr = %v", c["acr"])
	}
	if v, ok := c["email_verified"].(bool); !ok || !v {
		t.Errorf("email_verified = %#v, want boolean true", c["email_verified"])
	}
	if _, ok := c["updated_at"].(float64); !ok {
		t.Errorf("updated_at = %#v, want a number", c["updated_at"])
	}
	if tk.token.RefreshToken == "" {
		t.Error("no refresh token for offline_access")
	}
	if exp := tk.token.Expiry; exp.Before(time.Now()) || exp.After(time.Now().Add(2*time.Hour)) {
		t.Errorf("expires_in gives %v", exp)
	}
	hdr := strings.SplitN(tk.raw, ".", 2)[0]
	if !strings.Contains(decodeSegment(t, hdr), `"kid"`) || !strings.Contains(decodeSegment(t, hdr), `"typ":"JWT"`) {
		t.Errorf("ID token header %s lacks kid or typ", decodeSegment(t, hdr))
	}
	// Userinfo with GET and POST (C84–C88) via go-oidc and by hand.
	ui, err := e.rp.provider.UserInfo(e.rp.ctx, oauth2.StaticTokenSource(tk.token))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if ui.Subject != tk.idToken.Subject || ui.Email != e.user.email || !ui.EmailVerified {
		t.Errorf("userinfo = %+v, ID token sub %s", ui, tk.idToken.Subject)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tk.token.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("POST userinfo: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if st := e.srv.userinfoStatus(t, "not-a-token"); st != http.StatusUnauthorized {
		t.Errorf("userinfo with a bad token: %d, want 401", st)
	}
}

func decodeSegment(t *testing.T, s string) string {
	b, err := rawURL.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// C115: the authorization request arrives as a form POST.
func testPostAuthorize(t *testing.T, e *env) {
	br := newBrowser(t, e.srv)
	a := e.rp.newRequest()
	u, _ := url.Parse(a.url)
	p := br.follow(br.post(e.srv.issuer+"/oauth2/auth", u.Query()))
	p = br.approve(br.login(p, e.srv.createUser(t)))
	cb := br.callback(p, rpRedirect)
	e.rp.exchange(a, cb)
}

// C106.
func testLoginHint(t *testing.T, e *env) {
	br := newBrowser(t, e.srv)
	a := e.rp.newRequest(oauth2.SetAuthURLParam("login_hint", e.user.email))
	p := br.follow(br.get(a.url))
	f := findForm(t, p, "/login")
	if f.fields.Get("email") != e.user.email {
		t.Errorf("email field = %q, want the login_hint", f.fields.Get("email"))
	}
}

// hasSession reports whether the browser has a usable session (prompt=none).
func hasSession(t *testing.T, e *env, br *browser) bool {
	a := e.rp.newRequest(oauth2.SetAuthURLParam("prompt", "none"))
	cb := br.callback(br.follow(br.get(a.url)), rpRedirect)
	if cb.Get("state") != a.state {
		t.Fatalf("state = %q, want %q", cb.Get("state"), a.state)
	}
	if cb.Get("code") == "" && cb.Get("error") != "login_required" {
		t.Fatalf("prompt=none without a session: error %q, want login_required", cb.Get("error"))
	}
	return cb.Get("code") != ""
}

func testWrongPassword(t *testing.T, e *env) {
	br := newBrowser(t, e.srv)
	a := e.rp.newRequest()
	p := br.follow(br.get(a.url))
	wrong := br.login(p, user{email: e.user.email, password: "not-the-password"})
	unknown := br.login(p, user{email: "nobody-" + randString(6) + "@example.test", password: "whatever-pass"})
	for _, r := range []page{wrong, unknown} {
		if r.status != 200 || !strings.Contains(r.body, "Incorrect email or password.") {
			t.Fatalf("failed login: %d, want the uniform message:\n%s", r.status, r.body)
		}
	}
	if hasSession(t, e, br) {
		t.Error("a failed login created a session")
	}
	// Password guessing is throttled per account, known or not, and the
	// right password does not get through while throttled.
	victim := e.srv.createUser(t)
	for _, email := range []string{victim.email, "nobody-" + randString(6) + "@example.test"} {
		var last page
		for i := 0; i < 6; i++ {
			last = br.login(br.follow(br.get(e.rp.newRequest().url)), user{email: email, password: "guess-" + randString(8)})
		}
		if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
			t.Errorf("6th wrong password for %s: %d, want 429 with Retry-After", email, last.status)
		}
	}
	if p := br.login(br.follow(br.get(e.rp.newRequest().url)), victim); p.status != http.StatusTooManyRequests {
		t.Errorf("the right password got through while throttled: %d", p.status)
	}
	// Both attempts are in the audit log, with no password.
	out := e.srv.cli(t, "", "audit", "list", "--limit", "200")
	if !strings.Contains(out, "login.failed") || !strings.Contains(out, "login.throttled") || strings.Contains(out, "not-the-password") {
		t.Errorf("audit log:\n%s", out)
	}
}

func testLoginCSRF(t *testing.T, e *env) {
	br := newBrowser(t, e.srv)
	p := br.follow(br.get(e.rp.newRequest().url))
	f := findForm(t, p, "/login")
	for name, token := range map[string][]string{"missing": nil, "forged": {"AAAA" + randString(40)}} {
		vals := url.Values{"email": {e.user.email}, "password": {e.user.password}, "flow": {f.fields.Get("flow")}}
		if token != nil {
			vals["csrf_token"] = token
		}
		r := br.post(e.srv.issuer+"/login", vals)
		if r.status != http.StatusForbidden {
			t.Errorf("%s CSRF token: %d, want 403", name, r.status)
		}
		for _, c := range r.header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "gatehouse_session=") || strings.HasPrefix(c, "__Host-gatehouse_session=") {
				t.Errorf("%s CSRF token: a session cookie was set", name)
			}
		}
	}
	if hasSession(t, e, br) {
		t.Error("a login without CSRF token created a session")
	}
	// A token from another browser does not work either.
	other := newBrowser(t, e.srv)
	op := other.follow(other.get(e.rp.newRequest().url))
	of := findForm(t, op, "/login")
	r := br.post(e.srv.issuer+"/login", url.Values{"email": {e.user.email}, "password": {e.user.password}, "flow": {of.fields.Get("flow")}, "csrf_token": {of.fields.Get("csrf_token")}})
	if r.status != http.StatusForbidden {
		t.Errorf("CSRF token of another browser: %d, want 403", r.status)
	}
}

func testRememberedConsent(t *testing.T, e *env) {
	br := newBrowser(t, e.srv)
	e.fullLogin(t, br)
	a := e.rp.newRequest()
	p := br.follow(br.get(a.url))
	cb := br.callback(p, rpRedirect) // straight back: no login, no consent page
	e.rp.exchange(a, cb)
	// prompt=consent shows the page again.
	a = e.rp.newRequest(oauth2.SetAuthURLParam("prompt", "consent"))
	p = br.follow(br.get(a.url))
	findForm(t, p, "/consent")

	// Remembering adds scopes: email, then profile, then both pass silently.
	br = newBrowser(t, e.srv)
	u := e.srv.createUser(t)
	emailRP := newRP(t, e.srv, e.client, rpRedirect, "openid", "email")
	profileRP := newRP(t, e.srv, e.client, rpRedirect, "openid", "profile")
	br.approve(br.login(br.follow(br.get(emailRP.newRequest().url)), u))
	p = br.follow(br.get(profileRP.newRequest().url))
	br.callback(br.approve(p), rpRedirect)
	for _, r := range []*rp{emailRP, profileRP} {
		a := r.newRequest()
		r.exchange(a, br.callback(br.follow(br.get(a.url)), rpRedirect))
	}
}

func testDenyConsent(t *testing.T, e *env) {
	br := newBrowser(t, e.srv)
	u := e.srv.createUser(t)
	a := e.rp.newRequest()
	p := br.login(br.follow(br.get(a.url)), u)
	f := findForm(t, p, "/consent")
	p = br.follow(br.submit(f, url.Values{"action": {"deny"}}))
	cb := br.callback(p, rpRedirect)
	if cb.Get("error") != "access_denied" || cb.Get("state") != a.state || cb.Get("code") != "" {
		t.Errorf("deny: %v", cb)
	}
	// The flow is single-use: replaying the resume URL fails with a page.
	again := br.get(p.url)
	if again.status != http.StatusBadRequest || again.location != "" {
		t.Errorf("replayed resume: %d %q", again.status, again.location)
	}
}

// C121–C124, C224.
func testRefreshRotation(t *testing.T, e *env) {
	br := newBrowser(t, e.srv)
	_, first := e.fullLogin(t, br)
	ts := e.rp.conf.TokenSource(e.rp.ctx, &oauth2.Token{RefreshToken: first.token.RefreshToken})
	second, err := ts.Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.token.RefreshToken {
		t.Fatal("refresh did not rotate the refresh token")
	}
	again := e.rp.verify(second, "")
	if again.idToken.Subject != first.idToken.Subject || authTime(again) != authTime(first) {
		t.Errorf("refreshed ID token: sub %s auth_time %v, want %s %v", again.idToken.Subject, authTime(again), first.idToken.Subject, authTime(first))
	}
	if st := e.srv.userinfoStatus(t, second.AccessToken); st != 200 {
		t.Errorf("userinfo with refreshed token: %d", st)
	}
	// Reuse of the rotated token: invalid_grant, and the family is revoked.
	status, body, _ := e.srv.tokenRequest(t, e.client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.token.RefreshToken}})
	if status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("reuse of rotated refresh token: %d %v", status, body)
	}
	status, body, _ = e.srv.tokenRequest(t, e.client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second.RefreshToken}})
	if status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("newest refresh token after reuse: %d %v, want invalid_grant", status, body)
	}
	if e.srv.introspect(t, e.client, second.AccessToken) {
		t.Error("access token of a revoked family is still active")
	}
}

// C125, C223.
func testRefreshOtherClient(t *testing.T, e *env) {
	other := e.srv.createClient(t, "--name", "Other RP", "--redirect-uri", rpRedirect)
	br := newBrowser(t, e.srv)
	_, tk := e.fullLogin(t, br)
	status, body, _ := e.srv.tokenRequest(t, other, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.token.RefreshToken}})
	if status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("refresh with another client: %d %v", status, body)
	}
}

func codeFor(t *testing.T, e *env, br *browser, extra ...oauth2.AuthCodeOption) (authRequest, string) {
	t.Helper()
	a := e.rp.newRequest(extra...)
	p := br.follow(br.get(a.url))
	if strings.Contains(p.body, `action="/login"`) {
		p = br.login(p, e.user)
	}
	if strings.Contains(p.body, `action="/consent"`) {
		p = br.approve(p)
	}
	cb := br.callback(p, rpRedirect)
	if cb.Get("code") == "" || cb.Get("state") != a.state {
		t.Fatalf("callback %v", cb)
	}
	return a, cb.Get("code")
}

// C32, C90: no nonce → no nonce in the ID token. A missing or short state
// is refused with the standard invalid_request (fosite requires ≥ 8
// characters), before any login.
func testNoStateNoNonce(t *testing.T, e *env) {
	br := newBrowser(t, e.srv)
	e.fullLogin(t, br)
	verifier := oauth2.GenerateVerifier()
	u := e.rp.conf.AuthCodeURL("", oauth2.S256ChallengeOption(verifier))
	cb := br.callback(br.follow(br.get(strings.Replace(u, "&state=", "", 1))), rpRedirect)
	if cb.Get("error") != "invalid_request" || cb.Get("code") != "" {
		t.Fatalf("callback without state: %v", cb)
	}
	state := randString(12)
	cb = br.callback(br.follow(br.get(e.rp.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))), rpRedirect)
	if cb.Get("code") == "" || cb.Get("state") != state {
		t.Fatalf("callback without nonce: %v", cb)
	}
	tok, err := e.rp.conf.Exchange(e.rp.ctx, cb.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	tk := e.rp.verify(tok, "")
	if _, ok := tk.claims["nonce"]; ok {
		t.Error("ID token has a nonce the request did not send")
	}
}
