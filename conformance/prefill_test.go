package conformance

import (
	"context"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestBenchPrefill: make bench's grown-database scenario
// (scripts/bench-prefill.sql) copies what the real server wrote into
// rows the server then serves beside its own: the counts are the
// proportions the script promises, the server's own flows still work, and
// an expired backlog is exactly what `gatehouse gc` removes. It fails when
// a migration changes a table the script fills.
func TestBenchPrefill(t *testing.T) {
	t.Parallel()
	bin := pgBinaries(t) // psql
	db := postgresURL(t)
	s := startServer(t, db, "GATEHOUSE_KEYS_TIME_ORDERED_TOKENS=true") // as make bench runs it
	c := s.createClient(t, "--name", "Conformance RP", "--redirect-uri", rpRedirect, "--grant-type", "authorization_code",
		"--grant-type", "refresh_token", "--grant-type", "client_credentials", "--scope", "openid", "--scope", "offline_access",
		"--access-token-format", "opaque")
	e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect, "openid")} // no offline_access: its tokens follow the session (sid)
	_, tk := e.fullLogin(t, newBrowser(t, s))
	if _, body, _ := s.tokenRequest(t, c, url.Values{"grant_type": {"client_credentials"}}); body["access_token"] == nil {
		t.Fatalf("client_credentials: %v", body)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	counts := func() map[string]int64 {
		t.Helper()
		out := map[string]int64{}
		for _, table := range []string{"oauth2_tokens", "users", "browser_sessions", "session_clients", "consents"} {
			var n int64
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			out[table] = n
		}
		return out
	}
	prefill := func(rows int, tag string, expired int) {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "psql"), db, "-X", "-q", "-v", "rows="+strconv.Itoa(rows), "-v", "tag="+tag, "-v", "expired="+strconv.Itoa(expired),
			"-f", filepath.Join("..", "scripts", "bench-prefill.sql"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("bench-prefill: %v\n%s", err, out)
		}
	}
	before := counts()
	prefill(2000, "live", 0)
	grown := counts()
	want := map[string]int64{"oauth2_tokens": 2000, "users": 100, "browser_sessions": 200, "session_clients": 200, "consents": 100}
	for table, n := range want {
		if d := grown[table] - before[table]; d != n {
			t.Errorf("%s: %d rows added, want %d", table, d, n)
		}
	}
	var users, sids int64
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT subject) FILTER (WHERE subject <> ''), count(DISTINCT sid) FILTER (WHERE sid <> '')
		FROM oauth2_tokens WHERE request_id LIKE 'prefill-live-%'`).Scan(&users, &sids); err != nil {
		t.Fatal(err)
	}
	if users == 0 || users > 100 || sids == 0 || sids > 200 {
		t.Errorf("prefilled tokens name %d users and %d sessions; want some of the 100 and 200 added", users, sids)
	}
	// The server's own grant and flows are untouched.
	if !s.introspect(t, c, tk.token.AccessToken) {
		t.Error("the user's access token is inactive after the prefill")
	}
	e.fullLogin(t, newBrowser(t, s))
	// Prefilled keys are shaped like the server's (time-ordered), so
	// what the server writes next sorts after them, as it would after
	// rows it wrote itself.
	var odd int64
	var newer bool
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE p.signature !~ '^[0-9a-f]{12}prefill-live-'),
		coalesce((SELECT min(n.signature) > max(p.signature) FROM oauth2_tokens n WHERE n.request_id NOT LIKE 'prefill-%'
			AND n.created_at > max(p.created_at) AND n.signature ~ '^[0-9a-f]{12}'), false)
		FROM oauth2_tokens p WHERE p.request_id LIKE 'prefill-live-%'`).Scan(&odd, &newer); err != nil {
		t.Fatal(err)
	}
	if odd != 0 || !newer {
		t.Errorf("%d prefilled keys not time-ordered; the server's next key sorts after them: %v", odd, newer)
	}

	// An expired backlog: gc removes exactly it.
	prefill(1000, "old", 1)
	out := s.cli(t, "", "gc")
	var left, kept int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE request_id LIKE 'prefill-old-%'), count(*) FILTER (WHERE request_id LIKE 'prefill-live-%') FROM oauth2_tokens`).Scan(&left, &kept); err != nil {
		t.Fatal(err)
	}
	if left != 0 || kept != 2000 {
		t.Errorf("after gc (%s): %d expired prefilled rows left, %d live kept (want 0 and 2000)", strings.TrimSpace(out), left, kept)
	}
	var sessions int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM browser_sessions WHERE sid LIKE 'prefill-old-%'`).Scan(&sessions); err != nil || sessions != 0 {
		t.Errorf("expired prefilled sessions left after gc: %d %v", sessions, err)
	}
}
