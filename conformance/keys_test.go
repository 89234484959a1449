package conformance

import (
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
