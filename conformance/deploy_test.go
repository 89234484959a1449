package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// a pool that trusts it and its serial.
func selfSigned(t *testing.T, certFile, keyFile string) (*x509.CertPool, *big.Int) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "gatehouse test"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	// Written to a temporary file and renamed, as certificate tools do.
	for f, b := range map[string][]byte{certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})} {
		if err := os.WriteFile(f+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f+".tmp", f); err != nil {
			t.Fatal(err)
		}
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return pool, serial
}

// TestServeTLS (issue 15): with tls.cert_file and tls.key_file the server
// speaks https itself, `gatehouse health` checks it, and a renewed
// certificate is served without a restart.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	pool, first := selfSigned(t, cf, kf)
	port := freePort(t)
	issuer := fmt.Sprintf("https://127.0.0.1:%d", port)
	env := []string{"GATEHOUSE_TLS_CERT_FILE=" + cf, "GATEHOUSE_TLS_KEY_FILE=" + kf, fmt.Sprintf("GATEHOUSE_LISTEN=127.0.0.1:%d", port), "GATEHOUSE_ADMIN_LISTEN=off"}
	cmd := exec.Command(binary, "serve", "--dev", "--issuer", issuer, "--database-url", backends(t)[0].newURL(t))
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	served := func() (*big.Int, map[string]any, error) {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
		resp, err := hc.Get(issuer + "/.well-known/openid-configuration")
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		var d map[string]any
		_ = decodeJSON(resp.Body, &d)
		return resp.TLS.PeerCertificates[0].SerialNumber, d, nil
	}
	var serial *big.Int
	var disc map[string]any
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if serial, disc, err = served(); err == nil {
			break
		}
	}
	if err != nil || serial.Cmp(first) != 0 || disc["issuer"] != issuer {
		t.Fatalf("https: %v, serial %v, issuer %v", err, serial, disc["issuer"])
	}
	health := exec.Command(binary, "health")
	health.Env = append(os.Environ(), env...)
	if out, err := health.CombinedOutput(); err != nil || !strings.Contains(string(out), "ok: https://127.0.0.1") {
		t.Errorf("gatehouse health over TLS: %v %s", err, out)
	}
	// Renew: the new certificate is served within seconds, no restart.
	_, second := selfSigned(t, cf, kf)
	pool.AppendCertsFromPEM(mustRead(t, cf))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if serial, _, err = served(); err == nil && serial.Cmp(second) == 0 {
			return
		}
	}
	t.Fatalf("after renewal: serial %v (%v), want %v", serial, err, second)
}

func mustRead(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSystemdUnit (issue 15): deploy/systemd/gatehouse.service passes
// `systemd-analyze verify` (with the binary built here in ExecStart) and
// its sandbox rates at most 2.0 ("OK") in `systemd-analyze security`.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze on this machine")
	}
	unit, err := os.ReadFile("../deploy/systemd/gatehouse.service")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/gatehouse", binary)
	text = strings.Replace(text, "EnvironmentFile=/etc/gatehouse/gatehouse.env", "EnvironmentFile=-/etc/gatehouse/gatehouse.env", 1)
	path := filepath.Join(t.TempDir(), "gatehouse.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sa, "verify", path).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(sa, "security", "--offline=true", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for gatehouse.service: ([0-9.]+)`).FindStringSubmatch(string(out))
	if err != nil || m == nil {
		t.Skipf("systemd-analyze security --offline: %v\n%s", err, out)
	}
	if score, _ := strconv.ParseFloat(m[1], 64); score > 2.0 {
		t.Errorf("exposure %s, want at most 2.0:\n%s", m[1], out)
	}
}

// TestStaticBinary (issue 15): the binary, built as the image builds it, is
// static (no interpreter, no dynamic section), and it runs as an
// unprivileged user in an empty root holding only itself, the CA bundle and
// a data directory — what the distroless image gives it: it creates a user,
// migrates and serves from SQLite there, and its health check passes.
func TestStaticBinary(t *testing.T) {
	t.Parallel()
	f, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("program header %v: the binary is not static", p.Type)
		}
	}
	if f.Section(".dynamic") != nil || f.Section(".interp") != nil {
		t.Error("the binary has a dynamic section")
	}
	f.Close()
	if os.Geteuid() != 0 {
		t.Skip("running in an empty root (chroot) needs root")
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	for _, d := range []string{"etc/ssl/certs", "data"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(root, "data"), nobody, nobody); err != nil {
		t.Fatal(err)
	}
	copyFile := func(from, to string, mode os.FileMode) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, to), b, mode); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(binary, "gatehouse", 0o755)
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		copyFile("/etc/ssl/certs/ca-certificates.crt", "etc/ssl/certs/ca-certificates.crt", 0o644)
	}
	port := freePort(t)
	env := []string{"GATEHOUSE_DATABASE_URL=sqlite:///data/gatehouse.db", "GATEHOUSE_SECRETS=" + strings.Repeat("k", 48),
		fmt.Sprintf("GATEHOUSE_ISSUER=http://127.0.0.1:%d", port), fmt.Sprintf("GATEHOUSE_LISTEN=127.0.0.1:%d", port), "GATEHOUSE_ADMIN_LISTEN=off"}
	jailed := func(args ...string) *exec.Cmd {
		cmd := exec.Command("/gatehouse", args...)
		cmd.Path = "/gatehouse"
		cmd.Dir = "/data"
		cmd.Env = env // nothing from this machine's environment
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		return cmd
	}
	if out, err := jailed("migrate", "up").CombinedOutput(); err != nil {
		t.Fatalf("migrate in the empty root: %v\n%s", err, out)
	}
	create := jailed("users", "create", "--email", "ada@example.test", "--password-stdin")
	create.Stdin = strings.NewReader("a-long-password-for-ada\n")
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("users create in the empty root: %v\n%s", err, out)
	}
	serve := jailed("serve")
	logs := &syncBuffer{}
	serve.Stdout, serve.Stderr = logs, logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = serve.Process.Kill()
		_ = serve.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var resp *http.Response
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err = http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
	}
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz in the empty root: %v", err)
	}
	if jwks, _ := getJSON(t, base+"/.well-known/jwks.json"); len(kids(jwks)) == 0 {
		t.Error("no signing key was made")
	}
	if out, err := jailed("health").CombinedOutput(); err != nil {
		t.Errorf("health in the empty root: %v\n%s", err, out)
	}
	st, err := os.Stat(filepath.Join(root, "data", "gatehouse.db"))
	if err != nil || st.Sys().(*syscall.Stat_t).Uid != nobody {
		t.Errorf("the database is not the unprivileged user's: %v", err)
	}
}

// TestGracefulShutdown (issue 15, 16): on SIGTERM the server turns /readyz
// to 503 at once while it keeps serving for shutdown.drain, lets a request
// in flight finish (here one waiting 1.5 s on a client's request_uri),
// joins its background jobs and exits 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(1500 * time.Millisecond)
		_, _ = w.Write([]byte("not-a-jwt"))
	}))
	defer slow.Close()
	s := startServer(t, backends(t)[0].newURL(t), "GATEHOUSE_SHUTDOWN_DRAIN=1s")
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks := map[string]any{"keys": []any{map[string]any{"kty": "RSA", "kid": "k", "n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()), "e": "AQAB"}}}
	st, reg := regCall(t, http.MethodPost, s.issuer+"/oauth2/register", "", map[string]any{"redirect_uris": []string{rpRedirect}, "jwks": jwks,
		"request_uris": []string{slow.URL + "/req"}})
	if st != 201 {
		t.Fatalf("register: %d %v", st, reg)
	}
	inFlight := make(chan page, 1)
	go func() {
		q := url.Values{"client_id": {reg["client_id"].(string)}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {rpRedirect},
			"state": {"state-123456"}, "request_uri": {slow.URL + "/req"}}
		br := newBrowser(t, s)
		req, _ := http.NewRequest(http.MethodGet, s.base+"/oauth2/auth?"+q.Encode(), nil)
		resp, err := br.c.Do(req)
		if err != nil {
			inFlight <- page{body: err.Error()}
			return
		}
		resp.Body.Close()
		inFlight <- page{status: resp.StatusCode, location: resp.Header.Get("Location")}
	}()
	time.Sleep(300 * time.Millisecond) // the request waits on the slow request_uri
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if resp, err := http.Get(s.base + "/readyz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz while draining: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	if resp, err := http.Get(s.base + "/.well-known/openid-configuration"); err != nil || resp.StatusCode != 200 {
		t.Errorf("discovery while draining: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	p := <-inFlight
	if p.status != http.StatusSeeOther || !strings.Contains(p.location, "error=invalid_request_object") {
		t.Errorf("the request in flight at SIGTERM: %d %q %s", p.status, p.location, p.body)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the server did not stop")
	}
	if logs := s.logs.String(); !strings.Contains(logs, `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", logs)
	}
}
