package conformance

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestStandardClaims (issue 14, C91): a user's OpenID Connect standard
// claims, set through the CLI and the admin API, are released by the
// profile, address and phone scopes at userinfo; discovery lists the scopes
// and claims; bad values are refused with a reason.
func TestStandardClaims(t *testing.T) {
	t.Parallel()
	s := startServer(t, backends(t)[0].newURL(t))
	c := s.createClient(t, "--name", "Claims RP", "--redirect-uri", rpRedirect, "--first-party",
		"--scope", "openid", "--scope", "profile", "--scope", "email", "--scope", "address", "--scope", "phone")
	u := s.createUser(t)
	s.cli(t, `{"name":"Ada Lovelace","given_name":"Ada","family_name":"Lovelace","nickname":"ada","birthdate":"1815-12-10",
		"locale":"en-GB","zoneinfo":"Europe/London","website":"https://ada.example","phone_number":"+44 20 0000 0000","phone_number_verified":true,
		"address":{"street_address":"12 St James's Square","locality":"London","postal_code":"SW1Y 4LB","country":"GB"}}`,
		"users", "set-profile", "--email", u.email)
	e := &env{srv: s, user: u, client: c, rp: newRP(t, s, c, rpRedirect, "openid", "profile", "address", "phone")}
	_, tk := e.fullLogin(t, newBrowser(t, s))

	st, claims := s.userinfo(t, tk.token.AccessToken)
	if st != 200 {
		t.Fatalf("userinfo: %d", st)
	}
	for k, want := range map[string]any{"name": "Ada Lovelace", "given_name": "Ada", "nickname": "ada", "birthdate": "1815-12-10",
		"locale": "en-GB", "zoneinfo": "Europe/London", "website": "https://ada.example", "phone_number": "+44 20 0000 0000", "phone_number_verified": true} {
		if claims[k] != want {
			t.Errorf("userinfo %s = %v, want %v", k, claims[k], want)
		}
	}
	if addr, _ := claims["address"].(map[string]any); addr["locality"] != "London" || addr["country"] != "GB" {
		t.Errorf("userinfo address = %v", claims["address"])
	}
	if _, ok := claims["email"]; ok {
		t.Error("email released without the email scope")
	}
	d, _ := getJSON(t, s.issuer+"/.well-known/openid-configuration")
	for _, sc := range []string{"address", "phone"} {
		if !has(strs(d["scopes_supported"]), sc) {
			t.Errorf("scopes_supported lacks %s", sc)
		}
	}
	for _, cl := range []string{"birthdate", "address", "phone_number", "locale"} {
		if !has(strs(d["claims_supported"]), cl) {
			t.Errorf("claims_supported lacks %s", cl)
		}
	}
	// The admin API replaces the claims; a bad birthdate is refused.
	admin := strings.TrimSpace(s.cli(t, "", "admin-keys", "create", "--name", "claims", "--role", "users:write"))
	sub := tk.idToken.Subject
	if st, body := adminCall(t, s, "PUT", "/admin/v1/users/"+sub+"/profile", admin, map[string]any{"name": "Ada", "birthdate": "10.12.1815"}); st != 400 || !strings.Contains(body["error_description"].(string), "birthdate") {
		t.Errorf("bad birthdate: %d %v", st, body)
	}
	if st, body := adminCall(t, s, "PUT", "/admin/v1/users/"+sub+"/profile", admin, map[string]any{"name": "Ada King", "locale": "en"}); st != 200 {
		t.Errorf("set profile: %d %v", st, body)
	} else if p, _ := body["profile"].(map[string]any); body["name"] != "Ada King" || p["locale"] != "en" || p["address"] != nil {
		t.Errorf("after the admin API: %v", body)
	}
}

// TestClaimsParameter (issue 14, C119, C33): the `claims` parameter asks
// for single claims in the ID token or at userinfo; it is advertised; the
// user consents to the scope a claim belongs to, and a client never gets a
// claim of a scope it may not have; an essential acr that is not met is a
// failed authentication; a malformed parameter is invalid_request.
func TestClaimsParameter(t *testing.T) {
	t.Parallel()
	s := startServer(t, backends(t)[0].newURL(t))
	// A third-party client (consent page) that may have profile and email,
	// not phone.
	c := s.createClient(t, "--name", "Claims RP", "--redirect-uri", rpRedirect, "--grant-type", "authorization_code", "--grant-type", "refresh_token",
		"--scope", "openid", "--scope", "profile", "--scope", "email", "--scope", "offline_access")
	u := s.createUser(t)
	s.cli(t, `{"name":"Ada Lovelace","phone_number":"+44 20 0000 0000"}`, "users", "set-profile", "--email", u.email)
	e := &env{srv: s, user: u, client: c, rp: newRP(t, s, c, rpRedirect, "openid", "offline_access")}
	if d, _ := getJSON(t, s.issuer+"/.well-known/openid-configuration"); d["claims_parameter_supported"] != true {
		t.Errorf("claims_parameter_supported = %v", d["claims_parameter_supported"])
	}
	claimsOpt := func(v string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam("claims", v) }
	userinfo := func(t *testing.T, at string) map[string]any {
		t.Helper()
		st, m := s.userinfo(t, at)
		if st != 200 || m == nil {
			t.Fatalf("userinfo: %d", st)
		}
		return m
	}

	t.Run("C119 userinfo name, essential", func(t *testing.T) {
		e := e.in(t)
		br := newBrowser(t, s)
		a := e.rp.newRequest(claimsOpt(`{"userinfo":{"name":{"essential":true}}}`), oauth2.SetAuthURLParam("prompt", "consent"))
		p := br.login(br.follow(br.get(a.url)), u)
		if !strings.Contains(p.body, "See your name and profile details") {
			t.Fatalf("the consent page does not ask for the profile the name belongs to:\n%s", p.body)
		}
		tk := e.rp.exchange(a, br.callback(br.approve(p), rpRedirect))
		if _, ok := tk.claims["name"]; ok {
			t.Error("the ID token holds name, asked for userinfo only")
		}
		if sc := tk.token.Extra("scope"); sc != "openid offline_access" {
			t.Errorf("granted scope %v: a claim asked for alone grants no scope", sc)
		}
		ui := userinfo(t, tk.token.AccessToken)
		if ui["name"] != "Ada Lovelace" {
			t.Errorf("userinfo name = %v", ui["name"])
		}
		if _, ok := ui["given_name"]; ok || ui["email"] != nil {
			t.Errorf("userinfo released more than asked: %v", ui)
		}
		// The request is kept with the grant: a refreshed token sees it too.
		fresh, err := e.rp.conf.TokenSource(e.rp.ctx, &oauth2.Token{RefreshToken: tk.token.RefreshToken}).Token()
		if err != nil {
			t.Fatal(err)
		}
		if ui := userinfo(t, fresh.AccessToken); ui["name"] != "Ada Lovelace" {
			t.Errorf("userinfo after refresh: %v", ui)
		}
	})
	t.Run("id_token email; phone never", func(t *testing.T) {
		e := e.in(t)
		br := newBrowser(t, s)
		a := e.rp.newRequest(claimsOpt(`{"id_token":{"email":null,"phone_number":{"essential":true}},"userinfo":{"phone_number":null}}`))
		p := br.login(br.follow(br.get(a.url)), u)
		if strings.Contains(p.body, "phone") {
			t.Error("the consent page asks for a phone scope the client may not have")
		}
		tk := e.rp.exchange(a, br.callback(br.approve(p), rpRedirect))
		if tk.claims["email"] != u.email || tk.claims["phone_number"] != nil {
			t.Errorf("ID token claims: %v", tk.claims)
		}
		if ui := userinfo(t, tk.token.AccessToken); ui["phone_number"] != nil || ui["email"] != nil {
			t.Errorf("userinfo: %v", ui)
		}
	})
	t.Run("denied consent releases nothing", func(t *testing.T) {
		e := e.in(t)
		br := newBrowser(t, s)
		a := e.rp.newRequest(claimsOpt(`{"userinfo":{"email":null}}`), oauth2.SetAuthURLParam("prompt", "consent"))
		p := br.login(br.follow(br.get(a.url)), u)
		cb := br.callback(br.follow(br.submit(findForm(t, p, "/consent"), url.Values{"action": {"deny"}})), rpRedirect)
		if cb.Get("error") != "access_denied" {
			t.Errorf("denied consent: %v", cb)
		}
	})
	for _, tc := range []struct{ name, claims, login, want string }{
		{"malformed", `{"userinfo":`, "", "invalid_request"},
		{"not an object", `["name"]`, "", "invalid_request"},
		{"essential acr never met", `{"id_token":{"acr":{"essential":true,"values":["urn:example:loa:4"]}}}`, "", "access_denied"},
		{"essential acr not reached", `{"id_token":{"acr":{"essential":true,"value":"urn:gatehouse:acr:2fa"}}}`, "login", "access_denied"},
		{"sub of another user", `{"id_token":{"sub":{"value":"someone-else"}}}`, "login", "login_required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t)
			br := newBrowser(t, s)
			a := e.rp.newRequest(claimsOpt(tc.claims))
			p := br.follow(br.get(a.url))
			if tc.login != "" {
				p = br.login(p, u)
				if strings.Contains(p.body, `action="/consent"`) {
					p = br.approve(p)
				}
			}
			if cb := br.callback(p, rpRedirect); cb.Get("error") != tc.want || cb.Get("code") != "" || cb.Get("state") != a.state {
				t.Errorf("callback %v, want error %s", cb, tc.want)
			}
		})
	}
	t.Run("C33 essential acr met", func(t *testing.T) {
		e := e.in(t)
		_, tk := e.fullLogin(t, newBrowser(t, s), claimsOpt(`{"id_token":{"acr":{"essential":true,"values":["urn:gatehouse:acr:2fa","urn:gatehouse:acr:1fa"]}}}`))
		if tk.claims["acr"] != "urn:gatehouse:acr:1fa" {
			t.Errorf("acr = %v", tk.claims["acr"])
		}
	})
}

// TestSignedUserinfo (issue 14, C132–C135): a client registered with
// userinfo_signed_response_alg gets userinfo as a JWT signed with the
// server's keys, with iss, aud and no nonce; discovery advertises the
// algorithms; an algorithm the server has not enabled is refused.
func TestSignedUserinfo(t *testing.T) {
	t.Parallel()
	s := startServer(t, backends(t)[0].newURL(t))
	u := s.createUser(t)
	d, _ := getJSON(t, s.issuer+"/.well-known/openid-configuration")
	recordCheck(t, "C132", has(strs(d["userinfo_signing_alg_values_supported"]), "RS256"), "userinfo_signing_alg_values_supported = %v", d["userinfo_signing_alg_values_supported"])
	if st, body := regCall(t, http.MethodPost, s.issuer+"/oauth2/register", "", map[string]any{"redirect_uris": []string{rpRedirect},
		"userinfo_signed_response_alg": "ES512"}); st != 400 || body["error"] != "invalid_client_metadata" {
		t.Errorf("an algorithm not enabled: %d %v", st, body)
	}
	st, reg := regCall(t, http.MethodPost, s.issuer+"/oauth2/register", "", map[string]any{"redirect_uris": []string{rpRedirect},
		"userinfo_signed_response_alg": "RS256"})
	if st != 201 || reg["userinfo_signed_response_alg"] != "RS256" {
		t.Fatalf("register: %d %v", st, reg)
	}
	c := testClient{ID: reg["client_id"].(string), Secret: reg["client_secret"].(string)}
	e := &env{srv: s, user: u, client: c, rp: newRP(t, s, c, rpRedirect, "openid", "email")}
	_, tk := e.fullLogin(t, newBrowser(t, s))

	req, _ := http.NewRequest(http.MethodGet, s.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tk.token.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/jwt" {
		t.Fatalf("userinfo: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	payload, err := oidc.NewRemoteKeySet(e.rp.ctx, d["jwks_uri"].(string)).VerifySignature(e.rp.ctx, string(raw))
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	h := decodeSegment(t, strings.Split(string(raw), ".")[0])
	recordCheck(t, "C133", strings.Contains(h, `"alg":"RS256"`) && strings.Contains(h, `"kid"`), "header %s", h)
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	recordCheck(t, "C134", claims["iss"] == s.issuer && claims["aud"] == c.ID, "signed userinfo iss and aud: %v", claims)
	recordCheck(t, "C135", claims["nonce"] == nil, "signed userinfo nonce: %v", claims)
	if claims["sub"] != tk.idToken.Subject || claims["email"] != u.email {
		t.Errorf("signed userinfo claims: %v", claims)
	}
}
