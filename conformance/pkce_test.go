package conformance

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestPKCEPolicy (issue 14, C18/C73/C129, C185, C189): under
// pkce.required: public a confidential OpenID Connect client may bind its
// code with a nonce instead of PKCE, as the OpenID Foundation's plans send
// it; public clients and clients registered with require_pkce still need
// PKCE, a request without either is refused, and there is no downgrade: a
// code issued with a challenge needs its verifier, and a verifier for a code
// issued without one is refused.
func TestPKCEPolicy(t *testing.T) {
	t.Parallel()
	s := startServer(t, backends(t)[0].newURL(t), "GATEHOUSE_PKCE_REQUIRED=public")
	u := s.createUser(t)
	conf := s.createClient(t, "--name", "Suite RP", "--redirect-uri", rpRedirect, "--first-party")
	strict := s.createClient(t, "--name", "Strict RP", "--redirect-uri", rpRedirect, "--first-party", "--require-pkce")
	public := s.createClient(t, "--name", "Native", "--public", "--redirect-uri", "http://127.0.0.1/cb", "--first-party")
	br := newBrowser(t, s)
	e := &env{srv: s, user: u, client: conf, rp: newRP(t, s, conf, rpRedirect)}
	e.fullLogin(t, br) // a session, so the requests below come straight back

	// authorize sends a request shaped as the suite sends it (no PKCE) with
	// the given extra parameters and returns the callback's parameters.
	authorize := func(c testClient, redirect string, extra url.Values) url.Values {
		t.Helper()
		q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirect}, "scope": {"openid profile"}, "state": {randString(10)}}
		for k, v := range extra {
			q[k] = v
		}
		p := br.follow(br.get(s.issuer + "/oauth2/auth?" + q.Encode()))
		if p.location == "" {
			t.Fatalf("no redirect back to the client: %d\n%s", p.status, p.body)
		}
		loc, _ := url.Parse(p.location)
		return loc.Query()
	}
	token := func(c testClient, code string, extra url.Values) (int, map[string]any) {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}}
		for k, v := range extra {
			f[k] = v
		}
		st, body, _ := s.tokenRequest(t, c, f)
		return st, body
	}

	// A confidential client with a nonce and no PKCE: the suite's login.
	cb := authorize(conf, rpRedirect, url.Values{"nonce": {"suite-nonce"}})
	st, body := token(conf, cb.Get("code"), nil)
	if st != 200 {
		t.Fatalf("code without PKCE, bound by nonce: %d %v", st, body)
	}
	idt, err := e.rp.verifier.Verify(e.rp.ctx, body["id_token"].(string))
	if err != nil || idt.Nonce != "suite-nonce" {
		t.Fatalf("ID token: %v, nonce %q", err, idt.Nonce)
	}
	// Neither PKCE nor a nonce, or no OpenID Connect: refused.
	if cb := authorize(conf, rpRedirect, nil); cb.Get("error") != "invalid_request" || cb.Get("code") != "" {
		t.Errorf("no PKCE and no nonce: %v", cb)
	}
	if cb := authorize(conf, rpRedirect, url.Values{"scope": {"profile"}, "nonce": {"n"}}); cb.Get("error") != "invalid_request" {
		t.Errorf("no PKCE, not OpenID Connect: %v", cb)
	}
	// Public clients and clients with require_pkce need PKCE.
	if cb := authorize(public, "http://127.0.0.1/cb", url.Values{"nonce": {"n"}}); cb.Get("error") != "invalid_request" {
		t.Errorf("public client without PKCE: %v", cb)
	}
	if cb := authorize(strict, rpRedirect, url.Values{"nonce": {"n"}}); cb.Get("error") != "invalid_request" {
		t.Errorf("require_pkce client without PKCE: %v", cb)
	}
	// No downgrade: a verifier for a code issued without a challenge (C189)…
	cb = authorize(conf, rpRedirect, url.Values{"nonce": {"n2"}})
	if st, body := token(conf, cb.Get("code"), url.Values{"code_verifier": {oauth2.GenerateVerifier()}}); st != 400 || body["error"] != "invalid_grant" {
		t.Errorf("verifier without a challenge: %d %v, want invalid_grant", st, body)
	}
	// …and a code issued with a challenge needs its verifier (C185).
	verifier := oauth2.GenerateVerifier()
	cb = authorize(conf, rpRedirect, url.Values{"nonce": {"n3"}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}})
	if st, body := token(conf, cb.Get("code"), nil); st != 400 || body["error"] != "invalid_grant" {
		t.Errorf("challenge sent, no verifier: %d %v, want invalid_grant", st, body)
	}
	// plain stays refused.
	if cb := authorize(conf, rpRedirect, url.Values{"nonce": {"n4"}, "code_challenge": {verifier}, "code_challenge_method": {"plain"}}); cb.Get("error") != "invalid_request" {
		t.Errorf("plain challenge: %v", cb)
	}
	// A relying-party library without PKCE completes the flow.
	rp := newRP(t, s, conf, rpRedirect)
	state, nonce := randString(12), randString(12)
	p := br.follow(br.get(rp.conf.AuthCodeURL(state, oidc.Nonce(nonce))))
	code := br.callback(p, rpRedirect).Get("code")
	tok, err := rp.conf.Exchange(rp.ctx, code)
	if err != nil {
		t.Fatalf("x/oauth2 exchange without PKCE: %v", err)
	}
	rp.verify(tok, nonce)
	if !strings.HasPrefix(p.location, rpRedirect) || p.status != http.StatusSeeOther && p.status != http.StatusFound {
		t.Errorf("callback %d %q", p.status, p.location)
	}
}
