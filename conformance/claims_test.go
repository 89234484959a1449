package conformance

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
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

	req, _ := http.NewRequest(http.MethodGet, s.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tk.token.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var claims map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&claims); err != nil {
		t.Fatal(err)
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
