package conformance

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestStatelessJWTAccessTokens (issue 19, part 2): a client_credentials
// JWT access token is not stored (provider's TestStatelessTokenBudget
// counts its statements: none), yet introspection on another replica knows it, a revocation (RFC 7009)
// at one replica makes it inactive at the other within a second, only
// its own client may revoke it, a deleted client's token is inactive,
// and tokens survive a restart of both replicas.
func TestStatelessJWTAccessTokens(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		if b.name != "postgres" {
			continue // two replicas share one PostgreSQL
		}
		db := b.newURL(t)
		issuer, point := front(t) // the replicas' shared issuer
		one, two := startOn(t, 0, db, issuer), startOn(t, 0, db, issuer)
		point(one.base)
		svc := one.createClient(t, "--name", "Service", "--grant-type", "client_credentials", "--scope", "api", "--access-token-format", "jwt")
		other := one.createClient(t, "--name", "Other", "--grant-type", "client_credentials", "--scope", "api")
		issue := func(s *server) string {
			t.Helper()
			st, body, _ := s.tokenRequest(t, svc, url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}})
			if st != http.StatusOK {
				t.Fatalf("client_credentials: %d %v", st, body)
			}
			return body["access_token"].(string)
		}
		at := issue(one)
		parts := strings.Split(at, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims map[string]any
		_ = json.Unmarshal(payload, &claims)
		if claims["gty"] != "client_credentials" || claims["jti"] == nil {
			t.Fatalf("claims %v", claims)
		}
		st, intro, _ := two.postJSON(t, "/oauth2/introspect", svc, url.Values{"token": {at}})
		if st != 200 || intro["active"] != true || intro["client_id"] != svc.ID || intro["scope"] != "api" || intro["exp"] == nil {
			t.Fatalf("introspection at the other replica: %d %v", st, intro)
		}
		if two.introspect(t, other, at) {
			t.Error("another client's introspection sees the token")
		}
		// Only its client may revoke it.
		if st, body, _ := two.postJSON(t, "/oauth2/revoke", other, url.Values{"token": {at}}); st != http.StatusBadRequest || body["error"] != "unauthorized_client" {
			t.Errorf("another client's revocation: %d %v", st, body)
		}
		if !one.introspect(t, svc, at) {
			t.Fatal("another client's revocation revoked the token")
		}
		if st, body, _ := two.postJSON(t, "/oauth2/revoke", svc, url.Values{"token": {at}, "token_type_hint": {"access_token"}}); st != http.StatusOK {
			t.Fatalf("revoke: %d %v", st, body)
		}
		deadline := time.Now().Add(time.Second)
		for one.introspect(t, svc, at) {
			if time.Now().After(deadline) {
				t.Fatal("the revoked token is still active at the other replica after a second")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if st := one.userinfoStatus(t, at); st != http.StatusUnauthorized {
			t.Errorf("userinfo with the revoked token: %d, want 401", st)
		}
		// Revoking again, or something that only looks like a JWT, is
		// answered 200 (RFC 7009 §2.2) and writes nothing that matters.
		for name, tok := range map[string]string{"again": at, "not a token": "eyJhbGciOiJub25lIn0.e30.x"} {
			if st, _, _ := one.postJSON(t, "/oauth2/revoke", svc, url.Values{"token": {tok}}); st != http.StatusOK {
				t.Errorf("revoking %s: %d", name, st)
			}
		}
		// A live token survives restarting both replicas.
		live := issue(two)
		for _, s := range []*server{one, two} {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
		one, two = startOn(t, 0, db, issuer), startOn(t, 0, db, issuer)
		point(two.base)
		if !two.introspect(t, svc, live) || !one.introspect(t, svc, live) {
			t.Error("a stateless token did not survive a restart")
		}
		// A tampered token is not.
		tampered := strings.Join([]string{parts[0], base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"api"`, `"admin"`, 1))), parts[2]}, ".")
		if one.introspect(t, svc, tampered) {
			t.Error("a tampered token is active")
		}
		// Deleting the client ends its tokens.
		one.cli(t, "", "clients", "delete", svc.ID)
		if st, intro, _ := two.postJSON(t, "/oauth2/introspect", other, url.Values{"token": {live}}); st != 200 || intro["active"] != false {
			t.Errorf("a deleted client's token: %d %v", st, intro)
		}
	}
}

// TestJWTAccessTokenOfReusedFamily (issue 19): the JWT access token of a
// refresh family that reuse revokes is inactive at introspection and
// refused at userinfo (the one before it ended with the rotation).
func TestJWTAccessTokenOfReusedFamily(t *testing.T) {
	t.Parallel()
	s := startServer(t, backends(t)[0].newURL(t), "GATEHOUSE_KEYS_ALGORITHMS=RS256,ES256", "GATEHOUSE_ACCESS_TOKEN_ALGORITHM=ES256")
	c := s.createClient(t, "--name", "API RP", "--redirect-uri", rpRedirect, "--access-token-format", "jwt")
	e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
	_, tk := e.fullLogin(t, newBrowser(t, s))
	st, next, _ := s.tokenRequest(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.token.RefreshToken}})
	if st != http.StatusOK {
		t.Fatalf("refresh: %d %v", st, next)
	}
	latest := next["access_token"].(string)
	if !isJWTString(latest) || !s.introspect(t, c, latest) {
		t.Fatal("the family's JWT access token is not active before the reuse")
	}
	if st, body, _ := s.tokenRequest(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.token.RefreshToken}}); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("reusing the rotated refresh token: %d %v", st, body)
	}
	if s.introspect(t, c, latest) || s.userinfoStatus(t, latest) != http.StatusUnauthorized {
		t.Error("the JWT access token of the revoked family still works")
	}
}

func isJWTString(s string) bool { return strings.Count(s, ".") == 2 }
