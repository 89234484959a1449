package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// regCall sends a JSON request with an optional bearer token and returns
// the status and JSON body (a string body is sent as is).
// machineRegistration opens registration to machine clients: the
// client_credentials grant and an "api" scope (closed by default).
var machineRegistration = []string{"GATEHOUSE_REGISTRATION_ALLOWED_GRANT_TYPES=authorization_code,refresh_token,client_credentials",
	"GATEHOUSE_REGISTRATION_ALLOWED_SCOPES=openid,profile,email,offline_access,api"}

func regCall(t *testing.T, method, u, bearer string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			r = strings.NewReader(b)
		default:
			raw, _ := json.Marshal(b)
			r = bytes.NewReader(raw)
		}
	}
	req, _ := http.NewRequest(method, u, r)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

func countClients(t *testing.T, s *server) int {
	return strings.Count(s.cli(t, "", "clients", "list"), "\n") - 1
}

// TestDynamicRegistration: RFC 7591 registration, a full code flow with
// the registered client, RFC 7592 read, update (the old registration token
// stops working) and delete (the client and its tokens are gone), the
// bad-metadata matrix with nothing stored, and the initial-access-token mode.
func TestDynamicRegistration(t *testing.T) {
	s := startServer(t, backends(t)[0].newURL(t))
	d, _ := getJSON(t, s.issuer+"/.well-known/openid-configuration")
	regURL, _ := d["registration_endpoint"].(string)
	if regURL != s.issuer+"/oauth2/register" {
		t.Fatalf("registration_endpoint = %q", regURL)
	}
	status, reg := regCall(t, http.MethodPost, regURL, "", map[string]any{
		"client_id": "chosen-by-client", "client_name": "Registered RP", "redirect_uris": []string{rpRedirect},
		"grant_types": []string{"authorization_code", "refresh_token"}, "post_logout_redirect_uris": []string{rpPostLogout},
		"logo_uri": "https://rp.example.test/logo.png", "contacts": []string{"ops@rp.example.test"}, "unknown_member": 42,
	})
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, reg)
	}
	for _, k := range []string{"client_id", "client_secret", "registration_access_token", "registration_client_uri", "client_id_issued_at"} {
		if reg[k] == nil || reg[k] == "" {
			t.Errorf("registration response lacks %s: %v", k, reg)
		}
	}
	if reg["client_id"] == "chosen-by-client" || reg["client_secret_expires_at"] != float64(0) || reg["token_endpoint_auth_method"] != "client_secret_basic" {
		t.Errorf("registration response %v", reg)
	}
	if !strings.Contains(reg["scope"].(string), "openid") {
		t.Errorf("default scope %v lacks openid", reg["scope"])
	}
	c := testClient{ID: reg["client_id"].(string), Secret: reg["client_secret"].(string)}
	clientURI, rat := reg["registration_client_uri"].(string), reg["registration_access_token"].(string)

	// The registered client works end to end.
	e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
	_, tk := e.fullLogin(t, newBrowser(t, s))

	// Read.
	status, got := regCall(t, http.MethodGet, clientURI, rat, nil)
	if status != 200 || got["client_id"] != c.ID || got["client_secret"] != nil || got["logo_uri"] != "https://rp.example.test/logo.png" {
		t.Fatalf("read: %d %v", status, got)
	}
	if status, _ = regCall(t, http.MethodGet, clientURI, "wrong-token", nil); status != 401 {
		t.Errorf("read with a wrong token: %d", status)
	}
	if status, _ = regCall(t, http.MethodGet, s.issuer+"/oauth2/register/no-such-client", rat, nil); status != 401 {
		t.Errorf("read of another client with this token: %d", status)
	}
	// Update: the registration token rotates.
	status, upd := regCall(t, http.MethodPut, clientURI, rat, map[string]any{
		"client_id": c.ID, "client_name": "Renamed RP", "redirect_uris": []string{rpRedirect, rpRedirect + "2"},
		"grant_types": []string{"authorization_code", "refresh_token"},
	})
	if status != 200 || upd["client_name"] != "Renamed RP" || upd["registration_access_token"] == rat || upd["client_secret"] != nil {
		t.Fatalf("update: %d %v", status, upd)
	}
	if status, _ = regCall(t, http.MethodGet, clientURI, rat, nil); status != 401 {
		t.Errorf("the old registration token still works after an update: %d", status)
	}
	rat = upd["registration_access_token"].(string)
	e.fullLogin(t, newBrowser(t, s)) // the secret still works after the update
	// Delete: the client and its tokens are gone.
	if status, _ = regCall(t, http.MethodDelete, clientURI, rat, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	if status, _ = regCall(t, http.MethodGet, clientURI, rat, nil); status != 401 {
		t.Errorf("read after delete: %d", status)
	}
	if st := s.userinfoStatus(t, tk.token.AccessToken); st != 401 {
		t.Errorf("an access token of the deleted client still works: userinfo %d", st)
	}
	if status, body, _ := s.tokenRequest(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.token.RefreshToken}}); status != 401 || body["error"] != "invalid_client" {
		t.Errorf("the deleted client authenticates: %d %v", status, body)
	}

	// Bad metadata: the right error and nothing stored.
	before := countClients(t, s)
	for name, c := range map[string]struct {
		body any
		code string
	}{
		"fragment":               {map[string]any{"redirect_uris": []string{rpRedirect + "#frag"}}, "invalid_redirect_uri"},
		"javascript":             {map[string]any{"redirect_uris": []string{"javascript:alert(1)"}}, "invalid_redirect_uri"},
		"data":                   {map[string]any{"redirect_uris": []string{"data:text/html,hi"}}, "invalid_redirect_uri"},
		"http off loopback":      {map[string]any{"redirect_uris": []string{"http://rp.example.test/cb"}}, "invalid_redirect_uri"},
		"relative":               {map[string]any{"redirect_uris": []string{"/cb"}}, "invalid_redirect_uri"},
		"custom scheme, secret":  {map[string]any{"redirect_uris": []string{"com.example.app:/cb"}}, "invalid_redirect_uri"},
		"no redirect uri":        {map[string]any{"client_name": "x"}, "invalid_redirect_uri"},
		"implicit":               {map[string]any{"redirect_uris": []string{rpRedirect}, "grant_types": []string{"implicit"}}, "invalid_client_metadata"},
		"response type token":    {map[string]any{"redirect_uris": []string{rpRedirect}, "response_types": []string{"token"}}, "invalid_client_metadata"},
		"unknown auth method":    {map[string]any{"redirect_uris": []string{rpRedirect}, "token_endpoint_auth_method": "client_secret_jwt"}, "invalid_client_metadata"},
		"http logo":              {map[string]any{"redirect_uris": []string{rpRedirect}, "logo_uri": "http://rp.example.test/logo.png"}, "invalid_client_metadata"},
		"private jwks":           {map[string]any{"redirect_uris": []string{rpRedirect}, "token_endpoint_auth_method": "private_key_jwt", "jwks": map[string]any{"keys": []any{map[string]any{"kty": "oct", "k": "c2VjcmV0"}}}}, "invalid_client_metadata"},
		"not JSON":               {"not json", "invalid_client_metadata"},
		"public with m2m grant":  {map[string]any{"token_endpoint_auth_method": "none", "grant_types": []string{"client_credentials"}}, "invalid_client_metadata"},
		"http back-channel":      {map[string]any{"redirect_uris": []string{rpRedirect}, "backchannel_logout_uri": "http://rp.example.test/bcl"}, "invalid_client_metadata"},
		"back-channel fragment":  {map[string]any{"redirect_uris": []string{rpRedirect}, "backchannel_logout_uri": "https://rp.example.test/bcl#x"}, "invalid_client_metadata"},
		"sid without uri":        {map[string]any{"redirect_uris": []string{rpRedirect}, "backchannel_logout_session_required": true}, "invalid_client_metadata"},
		"http front-channel":     {map[string]any{"redirect_uris": []string{rpRedirect}, "frontchannel_logout_uri": "http://rp.example.test/fcl"}, "invalid_client_metadata"},
		"front-channel fragment": {map[string]any{"redirect_uris": []string{rpRedirect}, "frontchannel_logout_uri": "https://rp.example.test/fcl#x"}, "invalid_client_metadata"},
		"front sid without uri":  {map[string]any{"redirect_uris": []string{rpRedirect}, "frontchannel_logout_session_required": true}, "invalid_client_metadata"},
		"disabled ID token alg":  {map[string]any{"redirect_uris": []string{rpRedirect}, "id_token_signed_response_alg": "EdDSA"}, "invalid_client_metadata"},
	} {
		status, body := regCall(t, http.MethodPost, regURL, "", c.body)
		if status != 400 || body["error"] != c.code {
			t.Errorf("%s: %d %v, want 400 %s", name, status, body, c.code)
		}
	}
	if after := countClients(t, s); after != before {
		t.Errorf("bad registrations stored clients: %d → %d", before, after)
	}
	// A native public client with a custom scheme is fine.
	status, native := regCall(t, http.MethodPost, regURL, "", map[string]any{"redirect_uris": []string{"com.example.app:/cb"}, "token_endpoint_auth_method": "none"})
	if status != 201 || native["client_secret"] != nil {
		t.Fatalf("native public client: %d %v", status, native)
	}
	// An update cannot widen a registration past the policy either.
	if status, body := regCall(t, http.MethodPut, native["registration_client_uri"].(string), native["registration_access_token"].(string),
		map[string]any{"redirect_uris": []string{"com.example.app:/cb"}, "token_endpoint_auth_method": "none", "scope": "openid admin"}); status != 400 || body["error"] != "invalid_client_metadata" {
		t.Errorf("update to a foreign scope: %d %v", status, body)
	}

	// Token mode: registration needs the initial access token.
	initial := strings.Repeat("i", 40)
	gated := startServer(t, backends(t)[0].newURL(t), "GATEHOUSE_REGISTRATION_MODE=token", "GATEHOUSE_REGISTRATION_INITIAL_ACCESS_TOKEN="+initial)
	meta := map[string]any{"redirect_uris": []string{rpRedirect}}
	if status, _ := regCall(t, http.MethodPost, gated.issuer+"/oauth2/register", "", meta); status != 401 {
		t.Errorf("registration without the initial access token: %d", status)
	}
	if status, _ := regCall(t, http.MethodPost, gated.issuer+"/oauth2/register", "wrong", meta); status != 401 {
		t.Errorf("registration with a wrong initial access token: %d", status)
	}
	if status, body := regCall(t, http.MethodPost, gated.issuer+"/oauth2/register", initial, meta); status != 201 {
		t.Errorf("registration with the initial access token: %d %v", status, body)
	}
	// Rate limit per address.
	limited := 0
	for i := 0; i < 40; i++ {
		if status, _ := regCall(t, http.MethodPost, gated.issuer+"/oauth2/register", initial, map[string]any{"client_name": "x"}); status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Error("40 registrations in a burst were never rate-limited")
	}
	// Off outside --dev unless configured: discovery says nothing.
	off := startServer(t, backends(t)[0].newURL(t), "GATEHOUSE_REGISTRATION_MODE=off")
	d, _ = getJSON(t, off.issuer+"/.well-known/openid-configuration")
	if _, ok := d["registration_endpoint"]; ok {
		t.Error("registration_endpoint advertised while registration is off")
	}
}

// TestClientLifetimes: a client's own token lifetimes shorten the server's
// and never lengthen them.
func TestClientLifetimes(t *testing.T) {
	s := startServer(t, backends(t)[0].newURL(t), machineRegistration...)
	for _, c := range []struct {
		asked   int
		wantMax float64
		wantMin float64
	}{{60, 60, 55}, {1000000, 3600, 3500}} {
		status, reg := regCall(t, http.MethodPost, s.issuer+"/oauth2/register", "", map[string]any{
			"grant_types": []string{"client_credentials"}, "scope": "api", "access_token_lifetime": c.asked})
		if status != 201 || reg["access_token_lifetime"] != float64(c.asked) {
			t.Fatalf("register: %d %v", status, reg)
		}
		status, body, _ := s.tokenRequest(t, testClient{ID: reg["client_id"].(string), Secret: reg["client_secret"].(string)}, url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}})
		exp, _ := body["expires_in"].(float64)
		if status != 200 || exp > c.wantMax || exp < c.wantMin {
			t.Errorf("asked %d s: %d expires_in %v, want %v..%v", c.asked, status, body["expires_in"], c.wantMin, c.wantMax)
		}
	}
	// Operator-only fields are not the registering client's to set; the
	// back-channel logout metadata is.
	status, reg := regCall(t, http.MethodPost, s.issuer+"/oauth2/register", "", map[string]any{"redirect_uris": []string{rpRedirect},
		"owner": "someone-else", "require_mfa": false, "first_party": true,
		"backchannel_logout_uri": "https://rp.example.test/bcl", "backchannel_logout_session_required": true,
		"frontchannel_logout_uri": "http://127.0.0.1:9/fcl", "frontchannel_logout_session_required": true})
	if status != 201 || reg["owner"] != nil || reg["first_party"] != nil || reg["backchannel_logout_uri"] != "https://rp.example.test/bcl" || reg["backchannel_logout_session_required"] != true ||
		reg["frontchannel_logout_uri"] != "http://127.0.0.1:9/fcl" || reg["frontchannel_logout_session_required"] != true {
		t.Errorf("register with operator fields and logout URIs (loopback http: the server runs --dev): %d %v", status, reg)
	}
	if status, body := regCall(t, http.MethodPost, s.issuer+"/oauth2/register", "", map[string]any{"grant_types": []string{"client_credentials"}, "access_token_lifetime": -5}); status != 400 || body["error"] != "invalid_client_metadata" {
		t.Errorf("negative lifetime: %d %v", status, body)
	}
}

func manyURIs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("https://rp.example.test/cb%d", i)
	}
	return out
}
