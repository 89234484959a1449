package conformance

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// TestIDTokenAlgorithms: with every algorithm enabled, discovery lists
// exactly those, and a client that asks for one gets ID tokens signed with
// it that go-oidc verifies (signature and at_hash).
func TestIDTokenAlgorithms(t *testing.T) {
	s := startServer(t, backends(t)[0].newURL(t), "GATEHOUSE_KEYS_ALGORITHMS=RS256,ES256,PS256,EdDSA")
	d, _ := getJSON(t, s.issuer+"/.well-known/openid-configuration")
	if got := strings.Join(strs(d["id_token_signing_alg_values_supported"]), ","); got != "RS256,ES256,PS256,EdDSA" {
		t.Fatalf("id_token_signing_alg_values_supported = %s", got)
	}
	jwks, _ := getJSON(t, s.issuer+"/.well-known/jwks.json")
	if n := len(jwks["keys"].([]any)); n != 4 {
		t.Fatalf("JWKS has %d keys for 4 algorithms", n)
	}
	u := s.createUser(t)
	for _, alg := range []string{"RS256", "ES256", "PS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			c := s.createClient(t, "--name", alg+" RP", "--redirect-uri", rpRedirect, "--id-token-signed-response-alg", alg)
			r := newRP(t, s, c, rpRedirect)
			r.verifier = r.provider.Verifier(&oidc.Config{ClientID: c.ID, SupportedSigningAlgs: []string{alg}})
			e := &env{srv: s, user: u, client: c, rp: r}
			_, tk := e.fullLogin(t, newBrowser(t, s)) // verifies the signature and at_hash
			jws, err := jose.ParseSignedCompact(tk.raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil || string(jws.Signatures[0].Header.Algorithm) != alg {
				t.Fatalf("ID token not signed with %s: %v", alg, err)
			}
			// A refresh keeps the client's algorithm.
			tok, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tk.token.RefreshToken}).Token()
			if err != nil {
				t.Fatal(err)
			}
			r.verify(tok, "")
		})
	}
	// A client cannot ask for an algorithm the server does not enable.
	plain := startServer(t, backends(t)[0].newURL(t))
	cmd := plain.cliErr(t, "clients", "create", "--name", "x", "--redirect-uri", rpRedirect, "--id-token-signed-response-alg", "EdDSA")
	if !strings.Contains(cmd, "not enabled") {
		t.Fatalf("EdDSA client on an RS256-only server: %s", cmd)
	}
}

// TestJWTAccessTokens: RFC 9068 access tokens for clients that ask for
// them: typ at+jwt, kid, the configured algorithm, the standard claims;
// usable at userinfo, introspectable, and revocable like opaque ones.
func TestJWTAccessTokens(t *testing.T) {
	s := startServer(t, backends(t)[0].newURL(t), "GATEHOUSE_KEYS_ALGORITHMS=RS256,ES256", "GATEHOUSE_ACCESS_TOKEN_ALGORITHM=ES256")
	c := s.createClient(t, "--name", "API RP", "--redirect-uri", rpRedirect, "--access-token-format", "jwt")
	e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
	_, tk := e.fullLogin(t, newBrowser(t, s))
	at := tk.token.AccessToken
	jwksMap, _ := getJSON(t, s.issuer+"/.well-known/jwks.json")
	raw, _ := json.Marshal(jwksMap)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(at, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("access token is not an ES256 JWS: %v", err)
	}
	h := jws.Signatures[0].Header
	if h.ExtraHeaders["typ"] != "at+jwt" || h.KeyID == "" || len(set.Key(h.KeyID)) == 0 {
		t.Fatalf("header typ=%v kid=%q", h.ExtraHeaders["typ"], h.KeyID)
	}
	payload, err := jws.Verify(set.Key(h.KeyID)[0])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "auth_time", "amr"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("access token lacks %s: %v", k, claims)
		}
	}
	if claims["iss"] != s.issuer || claims["sub"] != tk.idToken.Subject || claims["client_id"] != c.ID || !strings.Contains(claims["scope"].(string), "openid") {
		t.Errorf("claims %v", claims)
	}
	if st := s.userinfoStatus(t, at); st != 200 {
		t.Fatalf("userinfo with a JWT access token: %d", st)
	}
	if !s.introspect(t, c, at) {
		t.Fatal("JWT access token not active")
	}
	parts := strings.Split(at, ".")
	forged := parts[0] + "." + rawURL.EncodeToString([]byte(strings.Replace(string(payload), c.ID, "someone-else", 1))) + "." + parts[2]
	if st := s.userinfoStatus(t, forged); st != 401 {
		t.Errorf("forged JWT access token: userinfo %d", st)
	}
	status, _, _ := s.postJSON(t, "/oauth2/revoke", c, url.Values{"token": {at}, "token_type_hint": {"access_token"}})
	if status != 200 || s.introspect(t, c, at) || s.userinfoStatus(t, at) != 401 {
		t.Error("a revoked JWT access token still works")
	}
	// A machine client: the client is the subject.
	m2m := s.createClient(t, "--name", "Service", "--grant-type", "client_credentials", "--scope", "api", "--access-token-format", "jwt",
		"--audience", "https://api.example.test")
	if status, body, _ := s.tokenRequest(t, m2m, url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}, "audience": {"https://other.example.test"}}); status != 400 {
		t.Errorf("an audience the client may not ask for: %d %v", status, body)
	}
	status, body, _ := s.tokenRequest(t, m2m, url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}, "audience": {"https://api.example.test"}})
	if status != 200 {
		t.Fatalf("client_credentials: %d %v", status, body)
	}
	jws, err = jose.ParseSignedCompact(body["access_token"].(string), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ = jws.Verify(set.Key(jws.Signatures[0].Header.KeyID)[0])
	_ = json.Unmarshal(payload, &claims)
	if claims["sub"] != m2m.ID || claims["client_id"] != m2m.ID || claims["scope"] != "api" || fmt.Sprint(claims["aud"]) != "[https://api.example.test]" {
		t.Errorf("client_credentials claims %v", claims)
	}
}
