package conformance

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"net/url"

	"github.com/go-jose/go-jose/v3"
	"golang.org/x/oauth2"
)

// TestRequestObjects (issue 14, C117–C120, C149–C153): authorization
// requests as signed JWTs (RFC 9101), by value and by reference, with every
// algorithm advertised; only the object's parameters count; every way a
// request object can be wrong is an error redirected to the verified
// redirect URI; unsigned objects only from a client that registered none;
// require_signed_request_object; request objects pushed (PAR).
func TestRequestObjects(t *testing.T) {
	t.Parallel()
	s := startServer(t, backends(t)[0].newURL(t))
	u := s.createUser(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &rsaKey.PublicKey, KeyID: "rsa", Use: "sig"},
		{Key: &ecKey.PublicKey, KeyID: "ec", Algorithm: "ES256", Use: "sig"},
		{Key: edKey.Public(), KeyID: "ed", Algorithm: "EdDSA", Use: "sig"},
	}}
	keyFor := map[string]struct {
		key any
		kid string
	}{"RS256": {rsaKey, "rsa"}, "PS256": {rsaKey, "rsa"}, "ES256": {ecKey, "ec"}, "EdDSA": {edKey, "ed"}}

	// The relying party hosts request objects by reference.
	var mu sync.Mutex
	hosted := map[string]string{}
	rpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		obj, ok := hosted[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/oauth-authz-req+jwt")
		_, _ = w.Write([]byte(obj))
	}))
	defer rpSrv.Close()
	host := func(path, obj string) string {
		mu.Lock()
		hosted[path] = obj
		mu.Unlock()
		return rpSrv.URL + path
	}
	requestURI := host("/req/registered", "")

	register := func(t *testing.T, meta map[string]any) (int, map[string]any) {
		t.Helper()
		body := map[string]any{"client_name": "Request object RP", "redirect_uris": []string{rpRedirect}, "token_endpoint_auth_method": "client_secret_basic"}
		for k, v := range meta {
			body[k] = v
		}
		return regCall(t, http.MethodPost, s.issuer+"/oauth2/register", "", body)
	}
	st, reg := register(t, map[string]any{"jwks": jwks, "request_uris": []string{requestURI}})
	if st != 201 || len(strs(reg["request_uris"])) != 1 {
		t.Fatalf("register: %d %v", st, reg)
	}
	client := testClient{ID: reg["client_id"].(string), Secret: reg["client_secret"].(string)}
	rp := newRP(t, s, client, rpRedirect, "openid")

	type obj struct {
		a      authRequest
		claims map[string]any
	}
	newObj := func() obj {
		a := authRequest{state: randString(16), nonce: randString(16), verifier: oauth2.GenerateVerifier()}
		now := time.Now()
		return obj{a: a, claims: map[string]any{"iss": client.ID, "aud": s.issuer, "client_id": client.ID, "response_type": "code",
			"redirect_uri": rpRedirect, "scope": "openid", "state": a.state, "nonce": a.nonce, "code_challenge": s256(a.verifier),
			"code_challenge_method": "S256", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}}
	}
	sign := func(t *testing.T, alg string, claims map[string]any) string {
		t.Helper()
		k := keyFor[alg]
		return assertion(t, k.key, k.kid, alg, claims)
	}
	unsigned := func(claims map[string]any) string {
		b, _ := json.Marshal(claims)
		return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
	}
	// authorize sends the browser with query (the parameters outside the
	// object) and returns the callback, signing in and consenting on the way.
	authorize := func(t *testing.T, br *browser, query url.Values) url.Values {
		t.Helper()
		p := br.follow(br.get(s.issuer + "/oauth2/auth?" + query.Encode()))
		if strings.Contains(p.body, `action="/login"`) {
			p = br.login(p, u)
		}
		if strings.Contains(p.body, `action="/consent"`) {
			p = br.approve(p)
		}
		return br.callback(p, rpRedirect)
	}
	// outside is what the suite duplicates in the URL, plus parameters that
	// must not count: another state, prompt=none, a redirect_uri that was
	// never registered (C120).
	outside := func() url.Values {
		return url.Values{"client_id": {client.ID}, "response_type": {"code"}, "scope": {"openid"},
			"redirect_uri": {rpRedirect + "_invalid"}, "state": {"url-state-ignored"}, "prompt": {"none"}}
	}

	d, _ := getJSON(t, s.issuer+"/.well-known/openid-configuration")
	recordCheck(t, "C149", d["request_uri_parameter_supported"] != false, "request_uri_parameter_supported %v", d["request_uri_parameter_supported"])
	recordCheck(t, "C151", has(strs(d["request_object_signing_alg_values_supported"]), "RS256") && d["request_uri_parameter_supported"] == true, "algs %v", d["request_object_signing_alg_values_supported"])
	if d["request_parameter_supported"] != true || d["request_uri_parameter_supported"] != true ||
		!has(strs(d["request_object_signing_alg_values_supported"]), "RS256") || has(strs(d["request_object_signing_alg_values_supported"]), "none") {
		t.Errorf("discovery: request_parameter_supported %v, request_uri_parameter_supported %v, algs %v",
			d["request_parameter_supported"], d["request_uri_parameter_supported"], d["request_object_signing_alg_values_supported"])
	}

	br := newBrowser(t, s)
	for _, alg := range []string{"RS256", "PS256", "ES256", "EdDSA"} {
		t.Run("by value "+alg, func(t *testing.T) {
			rp := *rp
			rp.t = t
			o := newObj()
			q := outside()
			q.Set("request", sign(t, alg, o.claims))
			cb := authorize(t, br.in(t), q)
			tk := rp.exchange(o.a, cb) // state and nonce from the object
			if tk.idToken.Nonce != o.a.nonce {
				t.Errorf("nonce %q", tk.idToken.Nonce)
			}
		})
	}
	t.Run("by reference (C152)", func(t *testing.T) {
		rp := *rp
		rp.t = t
		o := newObj()
		host("/req/registered", sign(t, "RS256", o.claims))
		q := outside()
		q.Set("request_uri", requestURI)
		tk := rp.exchange(o.a, authorize(t, br.in(t), q)) // fails the test unless state and nonce come from the object
		recordCheck(t, "C152", tk.idToken.Nonce == o.a.nonce, "nonce %q", tk.idToken.Nonce)
	})
	t.Run("pushed (PAR)", func(t *testing.T) {
		rp := *rp
		rp.t = t
		o := newObj()
		st, body, _ := s.postJSON(t, "/oauth2/par", client, url.Values{"request": {sign(t, "ES256", o.claims)}, "prompt": {"none"}})
		if st != 201 {
			t.Fatalf("PAR: %d %v", st, body)
		}
		rp.exchange(o.a, authorize(t, br.in(t), url.Values{"client_id": {client.ID}, "request_uri": {body["request_uri"].(string)}}))
	})

	// Every failure is redirected to the redirect URI verified from the
	// URL, with the URL's state.
	bad := func(mut func(map[string]any)) map[string]any {
		c := newObj().claims
		mut(c)
		return c
	}
	failures := []struct {
		name, param, value, want string
	}{
		{"unsigned from a client that did not register none", "request", unsigned(newObj().claims), "invalid_request_object"},
		{"signed by a key the client does not have", "request", assertion(t, otherKey, "rsa", "RS256", newObj().claims), "invalid_request_object"},
		{"HS256 with the client secret", "request", assertion(t, []byte(client.Secret), "", "HS256", newObj().claims), "invalid_request_object"},
		{"iss another client", "request", sign(t, "RS256", bad(func(c map[string]any) { c["iss"] = "someone-else" })), "invalid_request_object"},
		{"aud another server", "request", sign(t, "RS256", bad(func(c map[string]any) { c["aud"] = "https://other.example" })), "invalid_request_object"},
		{"expired", "request", sign(t, "RS256", bad(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), "invalid_request_object"},
		{"client_id differs", "request", sign(t, "RS256", bad(func(c map[string]any) { c["client_id"] = "someone-else" })), "invalid_request_object"},
		{"nested request_uri", "request", sign(t, "RS256", bad(func(c map[string]any) { c["request_uri"] = requestURI })), "invalid_request_object"},
		{"encrypted", "request", "a.b.c.d.e", "invalid_request_object"},
		{"not a JWT", "request", "garbage", "invalid_request_object"},
		{"unregistered request_uri", "request_uri", host("/req/other", sign(t, "RS256", newObj().claims)), "invalid_request_uri"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"client_id": {client.ID}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {rpRedirect}, "state": {"url-state"}, tc.param: {tc.value}}
			cb := newBrowser(t, s).callback(newBrowser(t, s).get(s.issuer+"/oauth2/auth?"+q.Encode()), rpRedirect)
			if cb.Get("error") != tc.want || cb.Get("code") != "" || cb.Get("state") != "url-state" {
				t.Errorf("callback %v, want error %s", cb, tc.want)
			}
		})
	}
	t.Run("request_uri that answers 404", func(t *testing.T) {
		mu.Lock()
		delete(hosted, "/req/registered")
		mu.Unlock()
		q := url.Values{"client_id": {client.ID}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {rpRedirect}, "state": {"url-state"}, "request_uri": {requestURI}}
		if cb := newBrowser(t, s).callback(newBrowser(t, s).get(s.issuer+"/oauth2/auth?"+q.Encode()), rpRedirect); cb.Get("error") != "invalid_request_uri" {
			t.Errorf("callback %v", cb)
		}
	})
	t.Run("request and request_uri together", func(t *testing.T) {
		q := url.Values{"client_id": {client.ID}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {rpRedirect}, "state": {"url-state"},
			"request_uri": {requestURI}, "request": {sign(t, "RS256", newObj().claims)}}
		if cb := newBrowser(t, s).callback(newBrowser(t, s).get(s.issuer+"/oauth2/auth?"+q.Encode()), rpRedirect); cb.Get("error") != "invalid_request" {
			t.Errorf("callback %v", cb)
		}
	})

	t.Run("unsigned from a client that registered none", func(t *testing.T) {
		st, reg := register(t, map[string]any{"request_object_signing_alg": "none"})
		if st != 201 {
			t.Fatalf("register: %d %v", st, reg)
		}
		c := testClient{ID: reg["client_id"].(string), Secret: reg["client_secret"].(string)}
		rp := newRP(t, s, c, rpRedirect, "openid")
		o := newObj()
		o.claims["iss"], o.claims["client_id"] = c.ID, c.ID
		q := outside()
		q.Set("client_id", c.ID)
		q.Set("request", unsigned(o.claims))
		rp.exchange(o.a, authorize(t, br.in(t), q))
	})
	t.Run("require_signed_request_object and a pinned algorithm", func(t *testing.T) {
		st, reg := register(t, map[string]any{"jwks": jwks, "require_signed_request_object": true, "request_object_signing_alg": "ES256"})
		if st != 201 || reg["require_signed_request_object"] != true {
			t.Fatalf("register: %d %v", st, reg)
		}
		c := testClient{ID: reg["client_id"].(string), Secret: reg["client_secret"].(string)}
		plain := newRP(t, s, c, rpRedirect, "openid").newRequest()
		if cb := newBrowser(t, s).callback(newBrowser(t, s).get(plain.url), rpRedirect); cb.Get("error") != "invalid_request" || cb.Get("state") != plain.state {
			t.Errorf("plain request: %v", cb)
		}
		o := newObj()
		o.claims["iss"], o.claims["client_id"] = c.ID, c.ID
		q := url.Values{"client_id": {c.ID}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {rpRedirect}, "state": {"url-state"}}
		q.Set("request", sign(t, "RS256", o.claims))
		if cb := newBrowser(t, s).callback(newBrowser(t, s).get(s.issuer+"/oauth2/auth?"+q.Encode()), rpRedirect); cb.Get("error") != "invalid_request_object" {
			t.Errorf("RS256 for a client pinned to ES256: %v", cb)
		}
		q.Set("request", sign(t, "ES256", o.claims))
		rp := newRP(t, s, c, rpRedirect, "openid")
		rp.exchange(o.a, authorize(t, br.in(t), q))
		if st, body, _ := s.postJSON(t, "/oauth2/par", c, url.Values{"response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {rpRedirect},
			"code_challenge": {s256(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}); st != 400 || body["error"] != "invalid_request" {
			t.Errorf("plain PAR: %d %v", st, body)
		}
	})
	t.Run("registration refuses what cannot work", func(t *testing.T) {
		for name, meta := range map[string]map[string]any{
			"http request_uri":                 {"jwks": jwks, "request_uris": []string{"http://rp.example.test/r.jwt"}},
			"HS256":                            {"jwks": jwks, "request_object_signing_alg": "HS256"},
			"RS256 without keys":               {"request_object_signing_alg": "RS256"},
			"require signed without keys":      {"require_signed_request_object": true},
			"require signed and none together": {"jwks": jwks, "require_signed_request_object": true, "request_object_signing_alg": "none"},
		} {
			if st, body := register(t, meta); st != 400 || body["error"] != "invalid_client_metadata" {
				t.Errorf("%s: %d %v", name, st, body)
			}
		}
		// The CLI applies the same rules and keeps what it accepts.
		if out := s.cliErr(t, "clients", "create", "--name", "x", "--redirect-uri", rpRedirect, "--require-signed-request-object"); !strings.Contains(out, "require_signed_request_object") {
			t.Errorf("CLI: %s", out)
		}
		out := s.cli(t, "", "clients", "create", "--name", "x", "--redirect-uri", rpRedirect, "--request-object-signing-alg", "none",
			"--request-uri", requestURI, "--output", "json")
		if !strings.Contains(out, `"request_object_signing_alg": "none"`) || !strings.Contains(out, requestURI) {
			t.Errorf("CLI kept: %s", out)
		}
	})
}
