package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
