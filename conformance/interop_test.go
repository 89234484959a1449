package conformance

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// testInteropFindings replays the interoperability findings of issue 14
// that real relying parties and the OpenID Foundation's suite trip over.
func testInteropFindings(t *testing.T, e *env) {
	// Subtests use their own t through e.in and shared.in, so one failing
	// check stops only itself.
	shared := newBrowser(t, e.srv)
	e.fullLogin(t, shared) // a session with remembered consent
	t.Run("PAR is in discovery and works from it (C71, C156, C171)", func(t *testing.T) {
		e := e.in(t)
		d, _ := getJSON(t, e.srv.issuer+"/.well-known/openid-configuration")
		par, _ := d["pushed_authorization_request_endpoint"].(string)
		if par != e.srv.issuer+"/oauth2/par" {
			t.Fatalf("pushed_authorization_request_endpoint = %q", par)
		}
		st, body, _ := e.srv.postJSON(t, strings.TrimPrefix(par, e.srv.issuer), e.client, url.Values{"response_type": {"code"}, "client_id": {e.client.ID},
			"redirect_uri": {rpRedirect}, "scope": {"openid"}, "state": {randString(12)}, "code_challenge": {s256(oauth2.GenerateVerifier())},
			"code_challenge_method": {"S256"}})
		if st != http.StatusCreated || body["request_uri"] == nil {
			t.Fatalf("PAR at the discovered endpoint: %d %v", st, body)
		}
	})
	t.Run("after PAR, parameters outside the pushed request are ignored (X4)", func(t *testing.T) {
		e := e.in(t)
		v := oauth2.GenerateVerifier()
		st, body, _ := e.srv.postJSON(t, "/oauth2/par", e.client, url.Values{"response_type": {"code"}, "client_id": {e.client.ID},
			"redirect_uri": {rpRedirect}, "scope": {"openid"}, "state": {randString(12)}, "code_challenge": {s256(v)}, "code_challenge_method": {"S256"}})
		if st != http.StatusCreated {
			t.Fatalf("PAR: %d %v", st, body)
		}
		for param, want := range map[string]string{"request": "invalid_request_object", "request_uri": "invalid_request"} {
			st, body, _ := e.srv.postJSON(t, "/oauth2/par", e.client, url.Values{"response_type": {"code"}, "client_id": {e.client.ID},
				"redirect_uri": {rpRedirect}, "scope": {"openid"}, "code_challenge": {s256(v)}, "code_challenge_method": {"S256"}, param: {"eyJhbGciOiJub25lIn0.e30."}})
			if st != 400 || body["error"] != want {
				t.Errorf("PAR with %s: %d %v, want 400 %s", param, st, body, want)
			}
		}
		fresh := newBrowser(t, e.srv) // no session: prompt=none, if honoured, would end in login_required
		q := url.Values{"client_id": {e.client.ID}, "request_uri": {body["request_uri"].(string)}, "prompt": {"none"}, "max_age": {"0"}}
		p := fresh.get(e.srv.issuer + "/oauth2/auth?" + q.Encode())
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/login?") {
			t.Fatalf("pushed request with prompt=none added to the URL: %d to %q, want the login page", p.status, p.location)
		}
	})
	t.Run("a huge max_age is no limit (X2)", func(t *testing.T) {
		e := e.in(t)
		br := shared.in(t)
		a := e.rp.newRequest(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("max_age", "99999999999999999999"))
		cb := br.callback(br.follow(br.get(a.url)), rpRedirect)
		if cb.Get("code") == "" {
			t.Fatalf("max_age=99999999999999999999 with a fresh session: %v", cb)
		}
		e.rp.exchange(a, cb)
	})
	t.Run("a short nonce is accepted (X3)", func(t *testing.T) {
		e := e.in(t)
		br := shared.in(t)
		a := authRequest{state: randString(12), nonce: "n1", verifier: oauth2.GenerateVerifier()}
		a.url = e.rp.conf.AuthCodeURL(a.state, oauth2.SetAuthURLParam("nonce", a.nonce), oauth2.S256ChallengeOption(a.verifier))
		tk := e.rp.exchange(a, br.callback(br.follow(br.get(a.url)), rpRedirect))
		if tk.idToken.Nonce != "n1" {
			t.Fatalf("nonce = %q", tk.idToken.Nonce)
		}
	})
	t.Run("a scope the client does not have is ignored (X8)", func(t *testing.T) {
		e := e.in(t)
		br := shared.in(t)
		a := authRequest{state: randString(12), nonce: randString(12), verifier: oauth2.GenerateVerifier()}
		conf := e.rp.conf
		conf.Scopes = []string{"openid", "email", "urn:example:unknown", "address"}
		a.url = conf.AuthCodeURL(a.state, oauth2.SetAuthURLParam("nonce", a.nonce), oauth2.S256ChallengeOption(a.verifier))
		cb := br.callback(br.follow(br.get(a.url)), rpRedirect)
		if cb.Get("code") == "" {
			t.Fatalf("unknown scope: %v", cb)
		}
		tk := e.rp.exchange(a, cb)
		if got, _ := tk.token.Extra("scope").(string); got != "openid email" {
			t.Fatalf("granted scope %q, want the known ones (openid email)", got)
		}
	})
	t.Run("request objects this client may not send: a redirected error (C117, C118)", func(t *testing.T) {
		e := e.in(t)
		br := shared.in(t)
		unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
			base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+e.client.ID+`","aud":"`+e.srv.issuer+`","scope":"openid","prompt":"none"}`)) + "."
		for param, want := range map[string][2]string{"request": {unsigned, "invalid_request_object"}, "request_uri": {"https://rp.example.test/request.jwt", "invalid_request_uri"}} {
			a := e.rp.newRequest(oauth2.SetAuthURLParam(param, want[0]))
			cb := br.callback(br.follow(br.get(a.url)), rpRedirect)
			if cb.Get("error") != want[1] || cb.Get("state") != a.state || cb.Get("code") != "" {
				t.Errorf("%s: %v, want error %s", param, cb, want[1])
			}
		}
	})
	t.Run("prompt=none with another value is invalid_request (X12)", func(t *testing.T) {
		e := e.in(t)
		br := shared.in(t)
		a := e.rp.newRequest(oauth2.SetAuthURLParam("prompt", "none login"))
		cb := br.callback(br.follow(br.get(a.url)), rpRedirect)
		if cb.Get("error") != "invalid_request" || cb.Get("state") != a.state {
			t.Fatalf("prompt=none login: %v", cb)
		}
	})
	t.Run("userinfo without a token: 401 with a JSON type (X11)", func(t *testing.T) {
		e := e.in(t)
		resp, err := http.Get(e.srv.issuer + "/userinfo")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("userinfo without a token: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("a parameter twice, a token two ways (X9)", func(t *testing.T) {
		e := e.in(t)
		br := shared.in(t)
		if st, body, _ := e.srv.tokenRequest(t, e.client, url.Values{"grant_type": {"client_credentials", "client_credentials"}}); st != 400 || body["error"] != "invalid_request" {
			t.Errorf("grant_type twice: %d %v, want 400 invalid_request", st, body)
		}
		_, tk := e.fullLogin(t, br)
		req, _ := http.NewRequest(http.MethodPost, e.srv.base+"/userinfo", strings.NewReader(url.Values{"access_token": {tk.token.AccessToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+tk.token.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("a bearer token in the header and the body: %d, want 400 invalid_request", resp.StatusCode)
		}
	})
	t.Run("x/oauth2 and go-oidc: PAR from discovery alone, code + PKCE, invalid_client", func(t *testing.T) {
		e := e.in(t)
		br := shared.in(t)
		var meta struct {
			PAR string `json:"pushed_authorization_request_endpoint"`
		}
		if err := e.rp.provider.Claims(&meta); err != nil || meta.PAR == "" {
			t.Fatalf("go-oidc discovery: PAR endpoint %q, %v", meta.PAR, err)
		}
		verifier, state, nonce := oauth2.GenerateVerifier(), randString(12), randString(12)
		form := url.Values{"response_type": {"code"}, "client_id": {e.client.ID}, "redirect_uri": {e.rp.conf.RedirectURL}, "scope": {"openid email"},
			"state": {state}, "nonce": {nonce}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
		req, _ := http.NewRequest(http.MethodPost, meta.PAR, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(e.client.ID), url.QueryEscape(e.client.Secret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var pushed struct {
			RequestURI string `json:"request_uri"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&pushed)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || pushed.RequestURI == "" {
			t.Fatalf("PAR: %d", resp.StatusCode)
		}
		auth := e.rp.provider.Endpoint().AuthURL + "?" + url.Values{"client_id": {e.client.ID}, "request_uri": {pushed.RequestURI}}.Encode()
		e.rp.exchange(authRequest{state: state, nonce: nonce, verifier: verifier}, br.callback(br.follow(br.get(auth)), rpRedirect))
		// A wrong secret: x/oauth2 reports invalid_client.
		wrong := e.rp.conf
		wrong.ClientSecret = "wrong"
		_, err = wrong.Exchange(e.rp.ctx, "some-code", oauth2.VerifierOption(verifier))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
			t.Errorf("x/oauth2 with a wrong secret: %v", err)
		}
	})
	t.Run("registration keeps jwks with a secret-based client (C11)", func(t *testing.T) {
		e := e.in(t)
		n := base64.RawURLEncoding.EncodeToString(make([]byte, 256))
		n = "u" + n[1:]
		status, reg := regCall(t, http.MethodPost, e.srv.issuer+"/oauth2/register", "", map[string]any{"redirect_uris": []string{rpRedirect},
			"token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{"authorization_code"}, "response_types": []string{"code"},
			"jwks":     map[string]any{"keys": []any{map[string]any{"kty": "RSA", "kid": "suite", "alg": "RS256", "use": "sig", "e": "AQAB", "n": n}}},
			"contacts": []string{"certification@oidf.org"}})
		if status != 201 || reg["client_secret"] == nil || reg["jwks"] == nil {
			t.Fatalf("DCR with jwks and client_secret_basic: %d %v", status, reg)
		}
	})
	t.Run("registration keeps what it honours and refuses what it cannot (X7)", func(t *testing.T) {
		e := e.in(t)
		regURL := e.srv.issuer + "/oauth2/register"
		status, reg := regCall(t, http.MethodPost, regURL, "", map[string]any{"redirect_uris": []string{rpRedirect}, "default_max_age": 1,
			"require_auth_time": true, "initiate_login_uri": "https://rp.example.test/login", "subject_type": "public"})
		if status != 201 || reg["default_max_age"] != float64(1) || reg["require_auth_time"] != true || reg["initiate_login_uri"] != "https://rp.example.test/login" {
			t.Fatalf("registration: %d %v", status, reg)
		}
		for field, v := range map[string]any{"subject_type": "secret", "sector_identifier_uri": "https://rp.example.test/sector.json",
			"userinfo_signed_response_alg": "HS256", "id_token_encrypted_response_alg": "RSA-OAEP"} {
			st, body := regCall(t, http.MethodPost, regURL, "", map[string]any{"redirect_uris": []string{rpRedirect}, field: v})
			if st != 400 || body["error"] != "invalid_client_metadata" || !strings.Contains(fmt.Sprint(body["error_description"]), strings.SplitN(field, "_", 2)[0]) {
				t.Errorf("%s: %d %v, want invalid_client_metadata naming it", field, st, body)
			}
		}
		// default_max_age is enforced: a session older than it means a new login.
		c := testClient{ID: reg["client_id"].(string), Secret: reg["client_secret"].(string)}
		rp := newRP(t, e.srv, c, rpRedirect)
		dbr := newBrowser(t, e.srv)
		a := rp.newRequest()
		p := dbr.login(dbr.follow(dbr.get(a.url)), e.user)
		if strings.Contains(p.body, `action="/consent"`) {
			dbr.approve(p)
		}
		time.Sleep(2100 * time.Millisecond) // auth_time has one-second resolution
		a = rp.newRequest(oauth2.SetAuthURLParam("prompt", "none"))
		if cb := dbr.callback(dbr.follow(dbr.get(a.url)), rpRedirect); cb.Get("error") != "login_required" {
			t.Errorf("a session older than default_max_age with prompt=none: %v, want login_required", cb)
		}
	})
	t.Run("the consent page shows the client's logo, policy and terms (C141, C142, C143)", func(t *testing.T) {
		e := e.in(t)
		br := shared.in(t)
		status, reg := regCall(t, http.MethodPost, e.srv.issuer+"/oauth2/register", "", map[string]any{"redirect_uris": []string{rpRedirect},
			"client_name": "Linked RP", "client_uri": "https://rp.example.test/", "policy_uri": "https://rp.example.test/privacy", "tos_uri": "https://rp.example.test/terms",
			"logo_uri": "https://rp.example.test/logo.png"})
		if status != 201 {
			t.Fatalf("register: %d %v", status, reg)
		}
		rp := newRP(t, e.srv, testClient{ID: reg["client_id"].(string), Secret: reg["client_secret"].(string)}, rpRedirect)
		p := br.follow(br.get(rp.newRequest().url))
		// The logo is served from the server's own origin, never from the client's.
		logo := `src="/clients/` + reg["client_id"].(string) + `/logo"`
		if strings.Contains(p.body, "rp.example.test/logo.png") {
			t.Error("the page loads the logo from the client's site")
		}
		for _, want := range []string{`href="https://rp.example.test/privacy"`, `href="https://rp.example.test/terms"`, `href="https://rp.example.test/"`, `rel="noopener noreferrer"`, logo} {
			if !strings.Contains(p.body, want) {
				t.Errorf("consent page lacks %s:\n%s", want, p.body)
			}
		}
	})
	t.Run("a logo that cannot be fetched is a 404, not an error", func(t *testing.T) {
		e := e.in(t)
		resp, err := http.Get(e.srv.issuer + "/clients/" + e.client.ID + "/logo") // no logo_uri
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("logo of a client without one: %d", resp.StatusCode)
		}
	})
}
