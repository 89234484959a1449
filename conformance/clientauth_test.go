package conformance

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// assertion signs an RFC 7523 client assertion.
func assertion(t *testing.T, key any, kid, alg string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func assertionClaims(clientID, aud string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": clientID, "sub": clientID, "aud": aud, "jti": randString(20), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
}

// assertionRequest posts to an endpoint with private_key_jwt only.
func (s *server) assertionRequest(t *testing.T, path string, form url.Values, a string) (int, map[string]any) {
	t.Helper()
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", a)
	status, body, _ := s.postJSON(t, path, testClient{}, form)
	return status, body
}

// TestPrivateKeyJWT: client authentication with a client-held key (RFC 7523)
// through the token endpoint, and every way it must fail: replay (also on a
// second server process sharing PostgreSQL), wrong audience, long or missing
// exp, an unregistered key, alg none, and a client using a method it did not
// register.
func TestPrivateKeyJWT(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.newURL(t)
			s := startServer(t, db)
			key, _ := rsa.GenerateKey(rand.Reader, 2048)
			jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "rp-key-1", Algorithm: "RS256", Use: "sig"}}})
			file := filepath.Join(t.TempDir(), "jwks.json")
			if err := os.WriteFile(file, jwks, 0o600); err != nil {
				t.Fatal(err)
			}
			c := s.createClient(t, "--name", "PKJWT RP", "--redirect-uri", rpRedirect, "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", file)
			if c.Secret != "" {
				t.Fatal("a private_key_jwt client was given a secret")
			}
			e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
			tokenURL := s.issuer + "/oauth2/token"
			exchange := func(a string) (int, map[string]any) {
				req, code := codeFor(t, e, newBrowser(t, s))
				return s.assertionRequest(t, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {rpRedirect}, "code_verifier": {req.verifier}, "client_id": {c.ID}}, a)
			}

			good := assertion(t, key, "rp-key-1", "RS256", assertionClaims(c.ID, tokenURL))
			status, body := exchange(good)
			if status != 200 || body["id_token"] == nil {
				t.Fatalf("private_key_jwt code exchange: %d %v", status, body)
			}
			if _, err := e.rp.verifier.Verify(e.rp.ctx, body["id_token"].(string)); err != nil {
				t.Fatalf("ID token: %v", err)
			}
			// The issuer is an accepted audience too.
			if status, body = exchange(assertion(t, key, "rp-key-1", "RS256", assertionClaims(c.ID, s.issuer))); status != 200 {
				t.Fatalf("aud = issuer: %d %v", status, body)
			}
			// Issue 14, X10: an assertion addressed to the endpoint it is sent
			// to (introspection, revocation) is accepted there.
			for _, ep := range []string{"/oauth2/introspect", "/oauth2/revoke"} {
				st, resp := s.assertionRequest(t, ep, url.Values{"token": {body["access_token"].(string)}, "client_id": {c.ID}},
					assertion(t, key, "rp-key-1", "RS256", assertionClaims(c.ID, s.issuer+ep)))
				if st != 200 {
					t.Errorf("assertion with aud %s at %s: %d %v", ep, ep, st, resp)
				}
			}
			// An assertion valid for 9 minutes (oauth2c signs 10) is accepted.
			nine := assertionClaims(c.ID, tokenURL)
			nine["exp"] = time.Now().Add(9 * time.Minute).Unix()
			if status, body = exchange(assertion(t, key, "rp-key-1", "RS256", nine)); status != 200 {
				t.Errorf("assertion expiring in 9 minutes: %d %v", status, body)
			}
			// Replay of the same assertion.
			if status, body = exchange(good); status != 401 || body["error"] != "invalid_client" {
				t.Errorf("replayed assertion: %d %v", status, body)
			}
			if b.name == "postgres" {
				other := startReplica(t, db, s.issuer)
				fresh := assertion(t, key, "rp-key-1", "RS256", assertionClaims(c.ID, tokenURL))
				if status, body = exchange(fresh); status != 200 {
					t.Fatalf("fresh assertion: %d %v", status, body)
				}
				req, code := codeFor(t, e, newBrowser(t, s))
				status, body = other.assertionRequest(t, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {rpRedirect}, "code_verifier": {req.verifier}, "client_id": {c.ID}}, fresh)
				if status != 401 || body["error"] != "invalid_client" {
					t.Errorf("assertion replayed at a second server process: %d %v", status, body)
				}
			}
			stranger, _ := rsa.GenerateKey(rand.Reader, 2048)
			longExp := assertionClaims(c.ID, tokenURL)
			longExp["exp"] = time.Now().Add(time.Hour).Unix()
			noExp := assertionClaims(c.ID, tokenURL)
			delete(noExp, "exp")
			noSub := assertionClaims(c.ID, tokenURL)
			delete(noSub, "sub")
			expired := assertionClaims(c.ID, tokenURL)
			expired["exp"] = time.Now().Add(-5 * time.Minute).Unix()
			unsigned := strings.Split(assertion(t, key, "rp-key-1", "RS256", assertionClaims(c.ID, tokenURL)), ".")
			for name, a := range map[string]string{
				"wrong audience":   assertion(t, key, "rp-key-1", "RS256", assertionClaims(c.ID, "https://other.example/token")),
				"exp an hour away": assertion(t, key, "rp-key-1", "RS256", longExp),
				"no exp":           assertion(t, key, "rp-key-1", "RS256", noExp),
				"expired":          assertion(t, key, "rp-key-1", "RS256", expired),
				"no sub":           assertion(t, key, "rp-key-1", "RS256", noSub),
				"unregistered key": assertion(t, stranger, "rp-key-1", "RS256", assertionClaims(c.ID, tokenURL)),
				"alg none":         rawURL.EncodeToString([]byte(`{"alg":"none","kid":"rp-key-1"}`)) + "." + unsigned[1] + ".",
			} {
				if status, body = exchange(a); (status != 401 && status != 400) || body["error"] != "invalid_client" {
					t.Errorf("%s: %d %v, want invalid_client", name, status, body)
				}
			}
			// A client can only use the method it registered.
			if status, body, _ := s.tokenRequest(t, testClient{ID: c.ID, Secret: "anything"}, url.Values{"grant_type": {"client_credentials"}}); status != 401 || body["error"] != "invalid_client" {
				t.Errorf("private_key_jwt client with a basic secret: %d %v", status, body)
			}
			basic := s.createClient(t, "--name", "Basic RP", "--redirect-uri", rpRedirect)
			if status, body = s.assertionRequest(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {basic.ID}},
				assertion(t, key, "rp-key-1", "RS256", assertionClaims(basic.ID, tokenURL))); status != 401 || body["error"] != "invalid_client" {
				t.Errorf("client_secret_basic client with an assertion: %d %v", status, body)
			}
			post := s.createClient(t, "--name", "Post RP", "--redirect-uri", rpRedirect, "--token-endpoint-auth-method", "client_secret_post")
			if status, body, _ := s.tokenRequest(t, post, url.Values{"grant_type": {"client_credentials"}}); status != 401 || body["error"] != "invalid_client" {
				t.Errorf("client_secret_post client using basic: %d %v", status, body)
			}
			// client_secret_post and none through the code flow.
			pe := &env{srv: s, user: e.user, client: post, rp: newRP(t, s, post, rpRedirect)}
			pe.rp.conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
			pe.fullLogin(t, newBrowser(t, s))
			pub := s.createClient(t, "--name", "Native", "--public", "--redirect-uri", "http://127.0.0.1/cb")
			ne := &env{srv: s, user: e.user, client: pub, rp: newRP(t, s, pub, "http://127.0.0.1/cb")}
			ne.rp.conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
			a := ne.rp.newRequest()
			cbPage := newBrowser(t, s)
			p := cbPage.follow(cbPage.get(strings.Replace(a.url, url.QueryEscape("http://127.0.0.1/cb"), url.QueryEscape("http://127.0.0.1:53127/cb"), 1)))
			p = cbPage.approve(cbPage.login(p, e.user))
			if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "http://127.0.0.1:53127/cb?") {
				t.Fatalf("native client with a loopback port: %d %q", p.status, p.location)
			}
			cb, _ := url.Parse(p.location)
			ne.rp.conf.RedirectURL = "http://127.0.0.1:53127/cb"
			ne.rp.exchange(a, cb.Query())
		})
	}
}

var secretLine = regexp.MustCompile(`client_secret: (\S+)`)

// TestClientSecretRotation: a rotated secret works at once, also on a
// server that had the client cached; the old one works for the grace period
// and not after a rotation without grace.
func TestClientSecretRotation(t *testing.T) {
	s := startServer(t, backends(t)[0].newURL(t))
	c := s.createClient(t, "--name", "Service", "--grant-type", "client_credentials", "--scope", "api")
	works := func(secret string) bool {
		status, _, _ := s.tokenRequest(t, testClient{ID: c.ID, Secret: secret}, url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}})
		return status == 200
	}
	if !works(c.Secret) {
		t.Fatal("the first secret does not work")
	}
	second := secretLine.FindStringSubmatch(s.cli(t, "", "clients", "rotate-secret", c.ID, "--grace", "1h"))[1]
	if !works(second) || !works(c.Secret) {
		t.Fatalf("during the grace period: new %v, old %v", works(second), works(c.Secret))
	}
	third := secretLine.FindStringSubmatch(s.cli(t, "", "clients", "rotate-secret", c.ID, "--grace", "0s"))[1]
	if !works(third) || works(second) || works(c.Secret) {
		t.Fatalf("after a rotation without grace: newest %v, previous %v, first %v", works(third), works(second), works(c.Secret))
	}
	if out := s.cli(t, "", "clients", "get", c.ID); strings.Contains(out, third) || !strings.Contains(out, c.ID) {
		t.Fatalf("clients get:\n%s", out)
	}
	public := s.createClient(t, "--name", "Native", "--public", "--redirect-uri", "http://127.0.0.1/cb")
	if out := s.cliErr(t, "clients", "rotate-secret", public.ID); !strings.Contains(out, "no secret") {
		t.Fatalf("rotating a public client's secret: %s", out)
	}
}

// TestJWKSURI: a client registered (by DCR) with a jwks_uri authenticates
// with private_key_jwt; when it publishes a new key under a new kid, the
// server refetches the set and accepts assertions signed with it.
func TestJWKSURI(t *testing.T) {
	s := startServer(t, backends(t)[0].newURL(t), machineRegistration...)
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	var current atomic.Value
	publish := func(k *rsa.PrivateKey, kid string) {
		b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}}})
		current.Store(b)
	}
	publish(k1, "one")
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(current.Load().([]byte))
	}))
	defer rp.Close()
	status, reg := regCall(t, http.MethodPost, s.issuer+"/oauth2/register", "", map[string]any{
		"client_name": "jwks_uri RP", "grant_types": []string{"client_credentials"}, "scope": "api",
		"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": rp.URL + "/jwks.json"})
	if status != 201 || reg["client_secret"] != nil {
		t.Fatalf("register: %d %v", status, reg)
	}
	id := reg["client_id"].(string)
	token := func(key *rsa.PrivateKey, kid string) (int, map[string]any) {
		return s.assertionRequest(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}, "client_id": {id}},
			assertion(t, key, kid, "RS256", assertionClaims(id, s.issuer+"/oauth2/token")))
	}
	if st, body := token(k1, "one"); st != 200 {
		t.Fatalf("first key: %d %v", st, body)
	}
	publish(k2, "two")
	time.Sleep(1100 * time.Millisecond) // the fetcher refetches an unknown kid at most once a second
	if st, body := token(k2, "two"); st != 200 {
		t.Fatalf("new key after rotation: %d %v", st, body)
	}
	if st, body := token(k1, "one"); st != 401 {
		t.Errorf("the withdrawn key still authenticates: %d %v", st, body)
	}
	// Both jwks and jwks_uri, or an http jwks_uri off loopback, are refused.
	for name, meta := range map[string]map[string]any{
		"both":          {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": rp.URL, "jwks": map[string]any{"keys": []any{}}, "grant_types": []string{"client_credentials"}},
		"http jwks_uri": {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://keys.example.test/jwks", "grant_types": []string{"client_credentials"}},
	} {
		if st, body := regCall(t, http.MethodPost, s.issuer+"/oauth2/register", "", meta); st != 400 || body["error"] != "invalid_client_metadata" {
			t.Errorf("%s: %d %v", name, st, body)
		}
	}
}
