package httpx

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writePair writes a fresh self-signed certificate for cn and returns its serial.
func writePair(t *testing.T, certFile, keyFile, cn string, mod time.Time) *big.Int {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{cn}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	return serial
}

func servedSerial(t *testing.T, r *CertReloader) *big.Int {
	t.Helper()
	c, err := r.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber
}

// TestCertReloader: a renewed pair is served after the check interval; a
// pair that does not load keeps the previous one and is reported once.
func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	first := writePair(t, cf, kf, "id.example", t0)
	var errs []error
	r, err := NewCertReloader(cf, kf, time.Second, func(err error) { errs = append(errs, err) })
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r.now = func() time.Time { return now }
	if got := servedSerial(t, r); got.Cmp(first) != 0 {
		t.Fatal("not the first certificate")
	}
	second := writePair(t, cf, kf, "id.example", t0.Add(time.Minute))
	if got := servedSerial(t, r); got.Cmp(first) != 0 {
		t.Error("reloaded before the interval")
	}
	now = now.Add(2 * time.Second)
	if got := servedSerial(t, r); got.Cmp(second) != 0 {
		t.Error("the renewed certificate is not served")
	}
	if err := os.WriteFile(kf, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(kf, t0.Add(2*time.Minute), t0.Add(2*time.Minute))
	for range 3 {
		now = now.Add(2 * time.Second)
		if got := servedSerial(t, r); got.Cmp(second) != 0 {
			t.Error("a broken renewal replaced the certificate")
		}
	}
	if len(errs) != 1 {
		t.Errorf("%d errors reported, want 1: %v", len(errs), errs)
	}
}
