package conformance

import (
	"net/url"
	"testing"
)

// refreshAll sends the same refresh token to the servers at once, round
// robin, and returns each response.
func refreshAll(t *testing.T, servers []*server, c testClient, rt string, n int) []map[string]any {
	t.Helper()
	return concurrently(n, func(i int) map[string]any {
		code, out, _ := servers[i%len(servers)].tokenRequest(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		out["_status"] = float64(code)
		return out
	})
}

// raceServers starts a server on a new database of b and, on PostgreSQL, a
// second replica on the same database, with a client and a user.
func raceServers(t *testing.T, b backend, name string) ([]*server, *env) {
	t.Helper()
	db := b.newURL(t)
	servers := []*server{startServer(t, db)}
	if b.name == "postgres" {
		servers = append(servers, startReplica(t, db, servers[0].issuer)) // a second replica on the same database
	}
	s := servers[0]
	c := s.createClient(t, "--name", name, "--redirect-uri", rpRedirect)
	return servers, &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
}

// winner is the one response of res with status 200; every other one must
// be 400 invalid_grant.
func winner(t *testing.T, res []map[string]any, what string) map[string]any {
	t.Helper()
	var winners []map[string]any
	for _, r := range res {
		switch {
		case r["_status"] == float64(200):
			winners = append(winners, r)
		case r["_status"] != float64(400) || r["error"] != "invalid_grant":
			t.Fatalf("loser got %v, want 400 invalid_grant", r)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent %s succeeded, want exactly 1", len(winners), len(res), what)
	}
	return winners[0]
}

// TestRefreshConcurrency: the same refresh token presented N times at once.
// Without a grace period exactly one request succeeds, the others get
// invalid_grant, and the family (the winner's new tokens too) is revoked, on
// both databases and across two server processes sharing one PostgreSQL.
// With a grace period every duplicate gets the winner's pair.
func TestRefreshConcurrency(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			servers, e := raceServers(t, b, "Concurrency RP")
			s, c := e.srv, e.client
			for round := 0; round < 3; round++ {
				_, tk := e.fullLogin(t, newBrowser(t, s))
				won := winner(t, refreshAll(t, servers, c, tk.token.RefreshToken, 8), "refreshes")
				newRT := won["refresh_token"].(string)
				status, body, _ := s.tokenRequest(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {newRT}})
				if status != 400 || body["error"] != "invalid_grant" {
					t.Fatalf("winner's refresh token after reuse: %d %v, want the family revoked", status, body)
				}
				if s.introspect(t, c, won["access_token"].(string)) {
					t.Fatal("winner's access token is active after reuse")
				}
			}
		})
	}
}

func TestRefreshGracePeriod(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.newURL(t)
			servers := []*server{startServer(t, db, "GATEHOUSE_LIFETIMES_REFRESH_TOKEN_GRACE=10s")}
			if b.name == "postgres" {
				servers = append(servers, startReplica(t, db, servers[0].issuer, "GATEHOUSE_LIFETIMES_REFRESH_TOKEN_GRACE=10s"))
			}
			s := servers[0]
			c := s.createClient(t, "--name", "Mobile RP", "--redirect-uri", rpRedirect)
			other := s.createClient(t, "--name", "Other RP", "--redirect-uri", rpRedirect)
			e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
			_, tk := e.fullLogin(t, newBrowser(t, s))
			res := refreshAll(t, servers, c, tk.token.RefreshToken, 6)
			rt := ""
			for _, r := range res {
				if r["_status"] != float64(200) {
					t.Fatalf("duplicate within the grace period: %v", r)
				}
				if rt == "" {
					rt = r["refresh_token"].(string)
				}
				if r["refresh_token"] != rt {
					t.Fatal("duplicates got different pairs")
				}
			}
			// A later retry within the period: the same pair again.
			status, body, _ := s.tokenRequest(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.token.RefreshToken}})
			if status != 200 || body["refresh_token"] != rt {
				t.Fatalf("retry within the grace period: %d %v", status, body)
			}
			// The family lives on: the new refresh token works.
			status, body, _ = s.tokenRequest(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
			if status != 200 {
				t.Fatalf("new refresh token: %d %v", status, body)
			}
			// Another client never gets the replay (presenting a rotated token
			// that is not its own counts as theft: invalid_grant).
			status, body, _ = s.tokenRequest(t, other, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.token.RefreshToken}})
			if status != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("another client presenting the rotated token: %d %v", status, body)
			}
		})
	}
}

// TestCodeConcurrency: the same authorization code redeemed N times at once,
// round robin over two server processes on PostgreSQL. Exactly one request
// gets tokens; every other one gets 400 invalid_grant (never a 5xx), and
// none of them writes a token: after the race the winner's access token is
// the only one the code's grant has, and a later reuse revokes it
// (RFC 6749 §4.1.2).
func TestCodeConcurrency(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			servers, e := raceServers(t, b, "Code race RP")
			s, c := e.srv, e.client
			br := newBrowser(t, s)
			for round := 0; round < 3; round++ {
				a, code := codeFor(t, e, br)
				form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {a.verifier}}
				res := concurrently(8, func(i int) map[string]any {
					status, out, _ := servers[i%len(servers)].tokenRequest(t, c, form)
					out["_status"] = float64(status)
					return out
				})
				won := winner(t, res, "redemptions")
				if _, ok := won["id_token"].(string); !ok {
					t.Fatalf("winner has no ID token: %v", won)
				}
				// One more reuse, after the race: the winner's tokens go.
				if status, body, _ := s.tokenRequest(t, c, form); status != 400 || body["error"] != "invalid_grant" {
					t.Fatalf("reuse after the race: %d %v", status, body)
				}
				if s.introspect(t, c, won["access_token"].(string)) {
					t.Fatal("winner's access token is active after the code was reused")
				}
			}
		})
	}
}
