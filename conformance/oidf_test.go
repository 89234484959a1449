package conformance

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestOIDFPlans replays the OpenID Foundation's OP plans — Config, Basic
// (static client, and the dynamic-only modules with a registered client),
// RP-Initiated Logout and Back-Channel RP-Initiated Logout — module by module, as the suite sends them: over
// https (a TLS proxy in front of the server), confidential clients without
// PKCE (pkce.required: public) authenticating with client_secret_basic or
// _post, ten-character alphanumeric state and nonce. Each subtest is named
// after the suite's module and records every check of
// testdata/oidf-op-checks.md it asserts (see oidf_report_test.go).
func TestOIDFPlans(t *testing.T) {
	t.Parallel()
	st := newOIDFSuite(t)
	modules := map[string]func(m *oidfModule){}
	for name, fn := range oidfConfigModules {
		modules["config/"+name] = fn
	}
	for name, fn := range oidfBasicModules {
		modules["basic/"+name] = fn
	}
	for name, fn := range oidfLogoutModules {
		modules["rp-logout/"+name] = fn
	}
	for name, fn := range oidfBackchannelModules {
		modules["bc-logout/"+name] = fn
	}
	names := make([]string, 0, len(modules))
	for n := range modules {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			modules[name](&oidfModule{oidfSuite: st, t: t, name: name})
		})
	}
}

// oidfSuite is what every module shares: the server behind TLS, the
// discovery document, the static clients and the user.
type oidfSuite struct {
	s            *server
	hc           *http.Client // trusts the proxy's certificate
	disc         map[string]any
	user         user
	basic, post  oidfClient // client_secret_basic and client_secret_post
	refresh      oidfClient // a second client with refresh tokens
	logoutTarget string
	bcl          *tlsLogoutReceiver // the suite's back-channel logout endpoint
}

// tlsLogoutReceiver is the suite's https back-channel logout endpoint: it
// answers 200 with Cache-Control: no-store and keeps each request, with
// the TLS version and cipher suite it came over. The server process
// trusts its certificate through SSL_CERT_FILE (roots: the system bundle
// and this certificate).
type tlsLogoutReceiver struct {
	url, roots string
	mu         sync.Mutex
	got        map[string][]logoutPost // path → requests
	notify     chan struct{}
}

type logoutPost struct {
	contentType string
	form        url.Values
	tlsVersion  uint16
	cipher      uint16
}

func startTLSLogoutReceiver(t *testing.T) *tlsLogoutReceiver {
	t.Helper()
	r := &tlsLogoutReceiver{got: map[string][]logoutPost{}, notify: make(chan struct{}, 1)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		p := logoutPost{contentType: req.Header.Get("Content-Type"), form: req.PostForm}
		if req.TLS != nil {
			p.tlsVersion, p.cipher = req.TLS.Version, req.TLS.CipherSuite
		}
		r.mu.Lock()
		r.got[req.URL.Path] = append(r.got[req.URL.Path], p)
		r.mu.Unlock()
		select {
		case r.notify <- struct{}{}:
		default:
		}
		w.Header().Set("Cache-Control", "no-store")
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	r.url = srv.URL
	bundle, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})...)
	r.roots = filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(r.roots, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// wait returns the first request to path, within d.
func (r *tlsLogoutReceiver) wait(t *testing.T, path string, d time.Duration) (logoutPost, bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		r.mu.Lock()
		got := r.got[path]
		r.mu.Unlock()
		if len(got) > 0 {
			return got[0], true
		}
		select {
		case <-r.notify:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			return logoutPost{}, false
		}
	}
}

type oidfClient struct {
	id, secret, method string
}

func newOIDFSuite(t *testing.T) *oidfSuite {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "https://" + ln.Addr().String()
	bcl := startTLSLogoutReceiver(t)
	s := startOn(t, 0, backends(t)[0].newURL(t), issuer, "GATEHOUSE_PKCE_REQUIRED=public", "GATEHOUSE_PKCE_ALLOW_UNBOUND=true", "SSL_CERT_FILE="+bcl.roots)
	target, _ := url.Parse(s.base)
	proxy := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	proxy.Listener.Close()
	proxy.Listener = ln
	proxy.StartTLS()
	t.Cleanup(proxy.Close)
	st := &oidfSuite{s: s, hc: proxy.Client(), user: s.createUser(t), logoutTarget: "https://rp.example.test/post_logout_redirect", bcl: bcl}
	st.hc.Timeout = 30 * time.Second
	s.cli(t, `{"name":"Ada Lovelace","given_name":"Ada","family_name":"Lovelace","middle_name":"Augusta","nickname":"ada","picture":"https://rp.example.test/ada.png","profile":"https://ada.example/about",
		"website":"https://ada.example","gender":"female","birthdate":"1815-12-10","locale":"en-GB","zoneinfo":"Europe/London",
		"phone_number":"+44 20 0000 0000","phone_number_verified":true,
		"address":{"street_address":"12 St James's Square","locality":"London","postal_code":"SW1Y 4LB","country":"GB"}}`,
		"users", "set-profile", "--email", st.user.email)
	all := []string{"--scope", "openid", "--scope", "profile", "--scope", "email", "--scope", "address", "--scope", "phone", "--scope", "offline_access"}
	mk := func(name, method string) oidfClient {
		c := s.createClient(t, append([]string{"--name", name, "--redirect-uri", oidfCallback, "--post-logout-redirect-uri", st.logoutTarget,
			"--token-endpoint-auth-method", method}, all...)...)
		return oidfClient{id: c.ID, secret: c.Secret, method: method}
	}
	st.basic, st.post, st.refresh = mk("OIDF basic", "client_secret_basic"), mk("OIDF post", "client_secret_post"), mk("OIDF refresh", "client_secret_basic")
	st.disc = st.getJSON(t, issuer+"/.well-known/openid-configuration")
	return st
}

// oidfCallback is the suite's redirect URI.
const oidfCallback = "https://rp.example.test/test/a/gatehouse/callback"

func (st *oidfSuite) getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, err := st.hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	return m
}

func (st *oidfSuite) endpoint(name string) string { s, _ := st.disc[name].(string); return s }

// oidfModule is one module's run: its checks are recorded under its name.
type oidfModule struct {
	*oidfSuite
	t    *testing.T
	name string
}

// check records check id and fails the module if it does not hold.
func (m *oidfModule) check(id string, ok bool, format string, a ...any) bool {
	m.t.Helper()
	oidf.record(id, m.name, ok, "")
	if !ok {
		m.t.Errorf("%s: "+format, append([]any{id}, a...)...)
	}
	return ok
}

// warn records a check whose failure is a warning in the suite.
func (m *oidfModule) warn(id string, ok bool, warning string) {
	m.t.Helper()
	if ok {
		warning = ""
	} else {
		m.t.Logf("%s (warning): %s", id, warning)
	}
	oidf.record(id, m.name, true, warning)
}

// browser is a fresh user agent that trusts the proxy.
func (m *oidfModule) browser() *browser {
	br := newBrowser(m.t, m.s)
	br.c.Transport = m.hc.Transport
	return br
}

// alnum is the suite's random state and nonce alphabet.
func alnum(n int) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(letters))))
		b[i] = letters[k.Int64()]
	}
	return string(b)
}

// request is an authorization request as the suite builds it.
type request struct {
	params url.Values
	state  string
	nonce  string
}

func (m *oidfModule) newRequest(c oidfClient, set url.Values, drop ...string) request {
	r := request{state: alnum(10), nonce: alnum(10)}
	r.params = url.Values{"response_type": {"code"}, "client_id": {c.id}, "redirect_uri": {oidfCallback}, "scope": {"openid"}, "state": {r.state}, "nonce": {r.nonce}}
	for k, v := range set {
		r.params[k] = v
	}
	for _, k := range drop {
		r.params.Del(k)
	}
	r.state, r.nonce = r.params.Get("state"), r.params.Get("nonce")
	return r
}

// send sends the browser with the request (GET, or POST when post) and
// signs in and consents when asked; it returns the page that leaves the
// server and whether a login form was shown.
func (m *oidfModule) send(br *browser, r request, post bool) (page, bool) {
	m.t.Helper()
	var p page
	if post {
		p = br.follow(br.post(m.endpoint("authorization_endpoint"), r.params))
	} else {
		p = br.follow(br.get(m.endpoint("authorization_endpoint") + "?" + r.params.Encode()))
	}
	loggedIn := false
	if strings.Contains(p.body, `action="/login"`) {
		p, loggedIn = br.login(p, m.user), true
	}
	if strings.Contains(p.body, `action="/consent"`) {
		p = br.approve(p)
	}
	return p, loggedIn
}

// callback checks that p redirects to the client (C15), in the query, with
// the registered URI's own parameters (C16) and a correct iss (C17).
func (m *oidfModule) callback(p page) url.Values {
	m.t.Helper()
	ok := (p.status == http.StatusSeeOther || p.status == http.StatusFound) && strings.HasPrefix(p.location, oidfCallback)
	if !m.check("C15", ok, "want a redirect to the client, got %d %q", p.status, p.location) {
		m.t.FailNow()
	}
	u, _ := url.Parse(p.location)
	q := u.Query()
	m.check("C16", u.Scheme+"://"+u.Host+u.Path == oidfCallback, "callback %s", p.location)
	m.check("C17", !q.Has("iss") || q.Get("iss") == m.disc["issuer"], "iss %q", q.Get("iss"))
	return q
}

// login is the happy path: authorization, code, token, ID token, userinfo
// (section A).
type login struct {
	cb       url.Values
	token    map[string]any
	idToken  map[string]any
	idHeader map[string]any
	raw      string
	loggedIn bool
}

func (m *oidfModule) login(br *browser, c oidfClient, set url.Values, drop ...string) login {
	m.t.Helper()
	return m.loginWith(br, c, m.newRequest(c, set, drop...), false)
}

func (m *oidfModule) loginWith(br *browser, c oidfClient, r request, post bool) login {
	m.t.Helper()
	p, loggedIn := m.send(br, r, post)
	cb := m.callback(p)
	if !m.check("C18", !cb.Has("error"), "error %q: %s", cb.Get("error"), cb.Get("error_description")) {
		m.t.FailNow()
	}
	m.check("C19", cb.Get("state") == r.state, "state %q, want %q", cb.Get("state"), r.state)
	if !m.check("C20", cb.Get("code") != "", "no code") {
		m.t.FailNow()
	}
	l := m.redeem(c, cb.Get("code"), r.nonce, nil)
	l.cb, l.loggedIn = cb, loggedIn
	m.userinfo(l)
	return l
}

// tokenRequest posts to the token endpoint with the client's method.
func (m *oidfModule) tokenRequest(c oidfClient, form url.Values) (int, map[string]any, http.Header) {
	m.t.Helper()
	if c.method == "client_secret_post" {
		form.Set("client_id", c.id)
		form.Set("client_secret", c.secret)
	}
	req, _ := http.NewRequest(http.MethodPost, m.endpoint("token_endpoint"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.method == "client_secret_basic" {
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(body, &out)
	return resp.StatusCode, out, resp.Header
}

// redeem exchanges a code (C21–C24) and validates the ID token.
func (m *oidfModule) redeem(c oidfClient, code, nonce string, extra url.Values) login {
	m.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {oidfCallback}}
	for k, v := range extra {
		form[k] = v
	}
	st, body, _ := m.tokenRequest(c, form)
	if !m.check("C21", st == 200, "token endpoint %d %v", st, body) {
		m.t.FailNow()
	}
	at, _ := body["access_token"].(string)
	tt, _ := body["token_type"].(string)
	m.check("C22", body["error"] == nil && at != "" && tt != "", "token response %v", body)
	if v, ok := body["expires_in"]; ok {
		n, isNum := v.(float64)
		m.check("C23", isNum && n > 0 && n <= 31536000, "expires_in %v", v)
	} else {
		oidf.record("C23", m.name, true, "")
	}
	raw, _ := body["id_token"].(string)
	hdr, claims, err := parseJWT(raw)
	if !m.check("C24", err == nil, "id_token: %v", err) {
		m.t.FailNow()
	}
	l := login{token: body, idToken: claims, idHeader: hdr, raw: raw}
	m.validateIDToken(l, c, nonce)
	return l
}

func parseJWT(raw string) (map[string]any, map[string]any, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("%d parts", len(parts))
	}
	var h, c map[string]any
	for i, dst := range []*map[string]any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, nil, err
		}
		d := json.NewDecoder(strings.NewReader(string(b)))
		if err := d.Decode(dst); err != nil {
			return nil, nil, err
		}
	}
	return h, c, nil
}

// identityClaims are the claims C31 does not type-check.
var nonIdentity = []string{"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "c_hash", "at_hash", "s_hash", "jti", "nbf", "verified_claims", "sub", "sid"}

// validateIDToken applies C25–C36 (C33 and C37 where they apply).
func (m *oidfModule) validateIDToken(l login, c oidfClient, nonce string) {
	m.t.Helper()
	cl, now := l.idToken, time.Now()
	m.check("C25", cl["iss"] == m.disc["issuer"], "iss %v", cl["iss"])
	audOK := cl["aud"] == c.id
	if list, ok := cl["aud"].([]any); ok {
		audOK = slices.Contains(list, any(c.id))
	}
	m.check("C26", audOK, "aud %v", cl["aud"])
	exp, _ := cl["exp"].(float64)
	m.check("C27", exp > float64(now.Add(-5*time.Minute).Unix()) && exp < float64(now.AddDate(50, 0, 0).Unix()), "exp %v", cl["exp"])
	iat, _ := cl["iat"].(float64)
	m.check("C28", iat > float64(now.Add(-5*time.Minute).Unix()) && iat < float64(now.Add(5*time.Minute).Unix()), "iat %v", cl["iat"])
	if v, ok := cl["auth_time"]; ok {
		at, _ := v.(float64)
		m.check("C29", at > float64(now.AddDate(-1, 0, 0).Unix()) && at < float64(now.Add(5*time.Minute).Unix()), "auth_time %v", v)
	} else {
		oidf.record("C29", m.name, true, "")
	}
	if v, ok := cl["acr"]; ok {
		s, _ := v.(string)
		m.check("C30", s != "", "acr %v", v)
	} else {
		oidf.record("C30", m.name, true, "")
	}
	m.check("C31", typedClaims(cl, nonIdentity) == "", "%s", typedClaims(cl, nonIdentity))
	if nonce == "" {
		m.check("C32", cl["nonce"] == nil, "nonce %v without one sent", cl["nonce"])
	} else {
		m.check("C32", cl["nonce"] == nonce, "nonce %v, want %q", cl["nonce"], nonce)
	}
	m.check("C34", m.verifySignature(l.raw, l.idHeader) == nil, "signature: %v", m.verifySignature(l.raw, l.idHeader))
	sub, _ := cl["sub"].(string)
	m.check("C35", sub != "" && len(sub) <= 255 && !strings.ContainsFunc(sub, func(r rune) bool { return r < 0x20 || r > 0x7e }), "sub %q", sub)
	if v, ok := cl["updated_at"]; ok {
		n, _ := v.(float64)
		m.check("C36", n <= float64(now.Unix()) && n >= float64(time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).Unix()), "updated_at %v", v)
	} else {
		oidf.record("C36", m.name, true, "")
	}
}

var birthdate = regexp.MustCompile(`^(\d{4}|\d{4}-\d{2}-\d{2}|0000-\d{2}-\d{2})$`)

// typedClaims applies the suite's OIDC claim types (C31, C85); "" when
// they hold.
func typedClaims(cl map[string]any, skip []string) string {
	for k, v := range cl {
		if slices.Contains(skip, k) {
			continue
		}
		switch k {
		case "email_verified", "phone_number_verified":
			if _, ok := v.(bool); !ok {
				return k + " is not a boolean"
			}
		case "updated_at":
			if _, ok := v.(float64); !ok {
				return k + " is not a number"
			}
		case "address":
			a, ok := v.(map[string]any)
			if !ok {
				return "address is not an object"
			}
			for f, s := range a {
				if _, ok := s.(string); !ok {
					return "address." + f + " is not a string"
				}
			}
		case "birthdate":
			if s, _ := v.(string); !birthdate.MatchString(s) {
				return "birthdate " + s
			}
		default:
			if s, ok := v.(string); ok && (strings.TrimSpace(s) == "" || s == "null") {
				return k + " is blank"
			} else if v == nil {
				return k + " is null"
			}
		}
	}
	return ""
}

// verifySignature applies C34: a key with the header's kid and kty, alg
// and use consistent, that verifies the JWS.
func (m *oidfModule) verifySignature(raw string, hdr map[string]any) error {
	resp, err := m.hc.Get(m.endpoint("jwks_uri"))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return err
	}
	alg, _ := hdr["alg"].(string)
	kid, _ := hdr["kid"].(string)
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		return err
	}
	matches := 0
	for _, k := range set.Keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if (k.Algorithm != "" && k.Algorithm != alg) || (k.Use != "" && k.Use != "sig") {
			return fmt.Errorf("key %s: alg %s use %s for a %s signature", k.KeyID, k.Algorithm, k.Use, alg)
		}
		if _, err := jws.Verify(k.Key); err == nil {
			matches++
		}
	}
	if matches != 1 {
		return fmt.Errorf("%d keys verify it (kid %q)", matches, kid)
	}
	return nil
}

// userinfo is the call that ends every happy path (C38) and the userinfo
// checks (C84–C87).
func (m *oidfModule) userinfo(l login) map[string]any {
	m.t.Helper()
	st, claims, hdr := m.callUserinfo(http.MethodGet, l.token["access_token"].(string), false)
	m.check("C38", st == 200, "userinfo %d", st)
	m.userinfoChecks("C84", "C85", "C86", "C87", st, claims, hdr, l)
	return claims
}

func (m *oidfModule) callUserinfo(method, at string, inBody bool) (int, map[string]any, http.Header) {
	m.t.Helper()
	var body io.Reader
	if inBody {
		body = strings.NewReader(url.Values{"access_token": {at}}.Encode())
	}
	req, _ := http.NewRequest(method, m.endpoint("userinfo_endpoint"), body)
	if inBody {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req.Header.Set("Authorization", "Bearer "+at)
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	var claims map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&claims)
	return resp.StatusCode, claims, resp.Header
}

func (m *oidfModule) userinfoChecks(c84, c85, c86, c87 string, st int, claims map[string]any, hdr http.Header, l login) {
	m.t.Helper()
	m.check(c84, st == 200 && strings.HasPrefix(hdr.Get("Content-Type"), "application/json"), "userinfo %d %q", st, hdr.Get("Content-Type"))
	m.check(c85, typedClaims(claims, []string{"sub"}) == "", "%s", typedClaims(claims, []string{"sub"}))
	m.check(c86, claims["sub"] != nil && claims["sub"] == l.idToken["sub"], "userinfo sub %v, ID token sub %v", claims["sub"], l.idToken["sub"])
	ok := true
	if v, has := claims["updated_at"]; has {
		n, _ := v.(float64)
		ok = n <= float64(time.Now().Unix()) && n >= float64(time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	}
	m.check(c87, ok && (claims["_claim_sources"] == nil) == (claims["_claim_names"] == nil), "updated_at %v", claims["updated_at"])
}

// errorRedirect applies C39–C44 to an error sent to the client and
// returns its error code.
func (m *oidfModule) errorRedirect(p page, state string) string {
	m.t.Helper()
	q := m.callback(p)
	m.check("C39", q.Get("state") == state, "state %q, want %q", q.Get("state"), state)
	m.check("C40", !q.Has("iss") || q.Get("iss") == m.disc["issuer"], "iss %q", q.Get("iss"))
	u, _ := url.Parse(p.location)
	m.check("C41", q.Get("error") != "" && !q.Has("code") && !strings.Contains(u.Fragment, "code="), "error response %v", q)
	extra := false
	for k := range q {
		extra = extra || !slices.Contains([]string{"error", "error_description", "error_uri", "state", "session_state", "iss"}, k)
	}
	m.warn("C42", !extra, fmt.Sprintf("unexpected parameters in %v", q))
	d := q.Get("error_description")
	m.warn("C43", !strings.ContainsAny(d, "\r\n\t"), "error_description has CR, LF or TAB")
	m.check("C44", strings.IndexFunc(d, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' }) < 0, "error_description %q", d)
	return q.Get("error")
}

// tokenError applies C45–C47 to a token-endpoint error.
func (m *oidfModule) tokenError(st int, body map[string]any, hdr http.Header, allow401 bool) string {
	m.t.Helper()
	m.check("C45", st == 400 || (allow401 && st == 401), "status %d", st)
	m.check("C46", strings.HasPrefix(hdr.Get("Content-Type"), "application/json"), "content type %q", hdr.Get("Content-Type"))
	e, _ := body["error"].(string)
	d, _ := body["error_description"].(string)
	m.check("C47", e != "" && strings.IndexFunc(e+d, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' }) < 0, "error %q %q", e, d)
	return e
}

// errorPage says a response is an error page shown to the user: no
// redirect to any client URI (the suite's screenshot modules).
func errorPage(p page) bool {
	return p.status >= 400 && p.status < 500 && p.location == "" && strings.Contains(p.header.Get("Content-Type"), "text/html")
}

func hashHalf(s string) string {
	h := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

// hs256 signs claims with a secret, as the suite's fake ID token (C170).
func hs256(secret string, claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	in := h + "." + base64.RawURLEncoding.EncodeToString(b)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// entropyBits is the suite's estimate: Shannon entropy per character
// times the length.
func entropyBits(s string) float64 {
	if s == "" {
		return 0
	}
	counts := map[rune]int{}
	for _, r := range s {
		counts[r]++
	}
	h := 0.0
	n := float64(len(s))
	for _, c := range counts {
		p := float64(c) / n
		h -= p * math.Log2(p)
	}
	return h * n
}

var regexpLocale = regexp.MustCompile(`^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|\d{3}))?$`)

func newJSONRequest(method, u string, body any) (*http.Request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(method, u, strings.NewReader(string(b)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
