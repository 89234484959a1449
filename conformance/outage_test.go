package conformance

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cluster is a private PostgreSQL cluster this test may stop and start
// without disturbing the tests that share the suite's cluster.
type cluster struct {
	t          *testing.T
	bin, data  string
	port       int
	runAs      []string
	url        string
	socketsDir string
}

func (c *cluster) pgctl(args ...string) error {
	cmd := exec.Command(c.runAs[0], append(c.runAs[1:], append([]string{filepath.Join(c.bin, "pg_ctl"), "-D", c.data}, args...)...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %v: %v\n%s", args, err, out)
	}
	return nil
}

func (c *cluster) start() {
	c.t.Helper()
	if err := c.pgctl("-l", filepath.Join(c.socketsDir, "log"), "-w", "-t", "30", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, c.socketsDir), "start"); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) stop() {
	c.t.Helper()
	if err := c.pgctl("-m", "fast", "-w", "stop"); err != nil {
		c.t.Fatal(err)
	}
}

// pgBinaries is the directory of the PostgreSQL binaries `make test`
// found (GATEHOUSE_TEST_PGBIN); the test is skipped without it, or fails
// when PostgreSQL is required.
func pgBinaries(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("GATEHOUSE_TEST_PGBIN")
	if bin == "" {
		if os.Getenv("GATEHOUSE_REQUIRE_POSTGRES") == "1" {
			t.Fatal("GATEHOUSE_REQUIRE_POSTGRES=1 but GATEHOUSE_TEST_PGBIN is empty")
		}
		t.Skip("SKIPPED: needs the PostgreSQL binaries; GATEHOUSE_TEST_PGBIN is not set (make test sets it)")
	}
	return bin
}

// privateCluster initialises and starts a throwaway cluster from the
// PostgreSQL binaries `make test` found (GATEHOUSE_TEST_PGBIN).
func privateCluster(t *testing.T) *cluster {
	t.Helper()
	bin := pgBinaries(t)
	dir, err := os.MkdirTemp("", "gatehouse-outage-")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, bin: bin, data: filepath.Join(dir, "data"), port: freePort(t), runAs: []string{"env"}, socketsDir: dir}
	if os.Geteuid() == 0 { // initdb refuses root: run the cluster as postgres
		u, err := osuser.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	t.Cleanup(func() {
		_ = c.pgctl("-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	})
	initdb := exec.Command(c.runAs[0], append(c.runAs[1:], filepath.Join(bin, "initdb"), "-D", c.data, "--auth=trust", "--username=postgres", "--no-locale")...)
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.start()
	c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", c.port)
	return c
}

func (s *server) get(t *testing.T, path, bearer string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := new(strings.Builder)
	_, _ = fmt.Fprint(b, resp.Status)
	return resp, b.String()
}

// TestDatabaseOutage stops PostgreSQL under a running server: affected
// requests get 503 with Retry-After (never a 500), /readyz says so, and when
// the database returns the server recovers without a restart, with no
// half-written token family.
func TestDatabaseOutage(t *testing.T) {
	pg := privateCluster(t)
	s := startServer(t, pg.url)
	c := s.createClient(t, "--name", "Outage RP", "--redirect-uri", rpRedirect)
	e := &env{srv: s, user: s.createUser(t), client: c, rp: newRP(t, s, c, rpRedirect)}
	_, tk := e.fullLogin(t, newBrowser(t, s))

	pg.stop()
	time.Sleep(6 * time.Second) // past the client cache, so every path meets the outage

	status, body, hdr := s.tokenRequest(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.token.RefreshToken}})
	if status != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || hdr.Get("Retry-After") == "" {
		t.Errorf("refresh during the outage: %d %v Retry-After=%q", status, body, hdr.Get("Retry-After"))
	}
	status, body, hdr = s.tokenRequest(t, c, url.Values{"grant_type": {"client_credentials"}})
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Errorf("token endpoint during the outage: %d %v", status, body)
	}
	if resp, _ := s.get(t, "/userinfo", tk.token.AccessToken); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("userinfo during the outage: %d", resp.StatusCode)
	}
	if resp, _ := s.get(t, "/readyz", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %d", resp.StatusCode)
	}
	br := newBrowser(t, s)
	p := br.get(e.rp.newRequest().url)
	t.Logf("authorization endpoint during the outage: %d %s", p.status, p.location)
	if p.status >= 500 && (p.status != http.StatusServiceUnavailable || p.header.Get("Retry-After") == "") {
		t.Errorf("authorization endpoint during the outage: %d Retry-After=%q", p.status, p.header.Get("Retry-After"))
	}
	if p.location != "" && !strings.HasPrefix(p.location, rpRedirect+"?error=temporarily_unavailable") && !strings.Contains(p.location, "error=temporarily_unavailable") {
		t.Errorf("authorization endpoint during the outage redirected to %q", p.location)
	}
	if strings.Contains(s.logs.String(), `"status":500`) {
		t.Error("a request failed with 500 during the outage")
	}

	pg.start()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, _ := s.get(t, "/readyz", "")
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not recover after the database came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The refresh attempted during the outage wrote nothing: the token still works, once.
	status, body, _ = s.tokenRequest(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.token.RefreshToken}})
	if status != 200 {
		t.Fatalf("refresh after recovery: %d %v", status, body)
	}
	if resp, _ := s.get(t, "/userinfo", body["access_token"].(string)); resp.StatusCode != 200 {
		t.Errorf("userinfo after recovery: %d", resp.StatusCode)
	}
	e.fullLogin(t, newBrowser(t, s))
}

// TestStartupWithoutDatabase: an unreachable PostgreSQL at start-up is a
// clear error naming the host (never the password) and a non-zero exit.
func TestStartupWithoutDatabase(t *testing.T) {
	port := freePort(t)
	cmd := exec.Command(binary, "serve", "--issuer", "https://id.example.test", "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--database-url", fmt.Sprintf("postgres://gatehouse:s3cret-pw@127.0.0.1:%d/gatehouse?connect_timeout=2", port))
	cmd.Env = append(os.Environ(), "GATEHOUSE_SECRETS="+strings.Repeat("k", 40))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("serve without a database: err %v, want a non-zero exit\n%s", err, out)
	}
	if want := fmt.Sprintf("127.0.0.1:%d", port); !strings.Contains(string(out), want) || strings.Contains(string(out), "s3cret-pw") {
		t.Fatalf("error output should name %s and hide the password:\n%s", want, out)
	}
}
