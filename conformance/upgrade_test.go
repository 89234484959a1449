package conformance

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestRollingUpgrade (issue 15): a rolling upgrade runs old and new
// binaries on one database at once. The test builds, from git history, the
// binary just before the last schema change, migrates the database with the
// new binary, and runs both behind a balancer that alternates between them:
// the code flow, refresh, introspection, userinfo and logout pass with
// consecutive requests on different versions, so each reads what the other
// wrote, and the old binary works on the new schema (migrations stay
// additive).
func TestRollingUpgrade(t *testing.T) {
	t.Parallel()
	db := postgresURL(t)
	last, err := exec.Command("git", "log", "-1", "--format=%H", "--", "../storage/sqlstore/migrations").Output()
	if err != nil || len(strings.TrimSpace(string(last))) != 40 {
		t.Skipf("no git history here (%v): the previous binary cannot be built", err)
	}
	old := strings.TrimSpace(string(last)) + "^"
	src := t.TempDir()
	archive := exec.Command("sh", "-c", `git archive "$0" | tar -x -C "$1"`, old, src)
	archive.Dir = ".."
	if out, err := archive.CombinedOutput(); err != nil {
		t.Skipf("git archive %s (a shallow clone?): %v\n%s", old, err, out)
	}
	oldBin := filepath.Join(t.TempDir(), "gatehouse-old")
	build := exec.Command("go", "build", "-trimpath", "-o", oldBin, "./cmd/gatehouse")
	build.Dir, build.Env = src, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", old, err, out)
	}

	issuer, balance := balanced(t)
	newSrv := startReplica(t, db, issuer) // migrates to the new schema
	oldSrv := startBinary(t, oldBin, 0, db, issuer)
	rr := balance(newSrv.base, oldSrv.base)

	s := &server{issuer: issuer, base: issuer, dbURL: db}
	c := s.createClient(t, "--name", "Upgraded RP", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpPostLogout)
	r := newRP(t, s, c, rpRedirect)
	ctx := r.ctx
	e := &env{srv: s, user: s.createUser(t), client: c, rp: r}

	mark := rr.mark()
	br := newBrowser(t, s)
	_, tk := e.fullLogin(t, br)
	for range 2 {
		fresh, err := r.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tk.token.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh across versions: %v", err)
		}
		tk = r.verify(fresh, "")
		if !s.introspect(t, c, fresh.AccessToken) {
			t.Error("introspection across versions says inactive")
		}
		if st := s.userinfoStatus(t, fresh.AccessToken); st != 200 {
			t.Errorf("userinfo across versions: %d", st)
		}
	}
	p := br.get(issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {tk.raw}, "post_logout_redirect_uri": {rpPostLogout}}.Encode())
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, rpPostLogout) {
		t.Errorf("logout across versions: %d %q", p.status, p.location)
	}
	for range 2 {
		a := r.newRequest(oauth2.SetAuthURLParam("prompt", "none"))
		if cb := br.callback(br.follow(br.get(a.url)), rpRedirect); cb.Get("error") != "login_required" {
			t.Errorf("after logout, prompt=none: %v", cb)
		}
	}
	if d, n, alt := rr.since(mark); d != 2 || !alt {
		t.Errorf("%d requests on %d binaries (alternating %v)", n, d, alt)
	}
	// A second whole flow, so each step lands on the other version.
	e.fullLogin(t, newBrowser(t, s))
	t.Logf("old binary %s and the new one served %d alternating requests on one schema", old, rr.mark())
}
