package conformance

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/bench"
)

// TestLoadGenerator runs every gatehouse-bench scenario briefly against the
// real server: each must make progress with zero errors (every token,
// introspection, rotated pair, ID token and userinfo answer is checked).
func TestLoadGenerator(t *testing.T) {
	s := startServer(t, backends(t)[0].newURL(t))
	out := s.cli(t, "", "clients", "create", "--name", "bench", "--redirect-uri", "http://127.0.0.1:9/cb", "--grant-type", "authorization_code",
		"--grant-type", "refresh_token", "--grant-type", "client_credentials", "--scope", "openid", "--scope", "email", "--scope", "offline_access", "--output", "json")
	var c testClient
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("clients create: %v\n%s", err, out)
	}
	u := s.createUser(t)
	for _, name := range bench.ScenarioNames {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			env, err := bench.NewEnv(ctx, bench.Env{Issuer: s.issuer, ClientID: c.ID, ClientSecret: c.Secret, RedirectURI: "http://127.0.0.1:9/cb",
				Email: u.email, Password: u.password}, 2)
			if err != nil {
				t.Fatal(err)
			}
			r, err := bench.Run(ctx, env, bench.Scenarios()[name](), bench.Options{Concurrency: 2, Duration: 400 * time.Millisecond, MaxIterations: 200})
			if err != nil {
				t.Fatal(err)
			}
			if r.Iterations == 0 || r.Errors != 0 || r.PerSecond <= 0 || r.P99ms < r.P50ms {
				t.Errorf("%s: %+v", name, r)
			}
			if r.Iterations > 200 {
				t.Errorf("%s: %d iterations, past the cap of 200", name, r.Iterations)
			}
		})
	}
	// A wrong secret: every iteration fails, and the result says so.
	env, err := bench.NewEnv(context.Background(), bench.Env{Issuer: s.issuer, ClientID: c.ID, ClientSecret: "wrong"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := bench.Run(context.Background(), env, bench.Scenarios()["client-credentials"](), bench.Options{Concurrency: 1, Duration: 200 * time.Millisecond, MaxIterations: 20})
	if err != nil || r.Errors == 0 || r.Errors != r.Iterations || len(r.FirstErrors) == 0 || !strings.Contains(r.FirstErrors[0], "401") {
		t.Errorf("wrong secret: %+v, %v", r, err)
	}
}
