package conformance

import (
	"net/url"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/oauth2"
)

// TestDurability: log in and get tokens, kill the server with SIGKILL,
// start it again on the same database: the refresh token and the browser
// session still work, and the signing keys are the same.
func TestDurability(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.newURL(t)
			issuer, point := front(t) // the restarted server keeps the issuer, on another port
			s := startOn(t, 0, db, issuer)
			point(s.base)
			c := s.createClient(t, "--name", "Durable RP", "--redirect-uri", rpRedirect)
			e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
			br := newBrowser(t, s)
			_, tk := e.fullLogin(t, br)
			jwksBefore, _ := getJSON(t, s.issuer+"/.well-known/jwks.json")

			if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = s.cmd.Wait()

			s2 := startOn(t, 0, db, issuer)
			point(s2.base)
			jwksAfter, _ := getJSON(t, s2.issuer+"/.well-known/jwks.json")
			if strings.Join(kids(jwksBefore), ",") != strings.Join(kids(jwksAfter), ",") {
				t.Fatalf("keys changed across a restart: %v → %v", kids(jwksBefore), kids(jwksAfter))
			}
			status, body, _ := s2.tokenRequest(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.token.RefreshToken}})
			if status != 200 {
				t.Fatalf("refresh after SIGKILL and restart: %d %v", status, body)
			}
			e.rp = newRP(t, s2, c, rpRedirect)
			e.srv = s2
			br.srv = s2
			a := e.rp.newRequest(oauth2.SetAuthURLParam("prompt", "none"))
			second := e.rp.exchange(a, br.callback(br.follow(br.get(a.url)), rpRedirect))
			if second.idToken.Subject != tk.idToken.Subject || authTime(second) != authTime(tk) {
				t.Fatal("the browser session did not survive the restart")
			}
		})
	}
}

func kids(jwks map[string]any) []string {
	var out []string
	for _, k := range jwks["keys"].([]any) {
		out = append(out, k.(map[string]any)["kid"].(string))
	}
	return out
}
