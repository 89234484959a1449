package httpx

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// CertReloader serves a certificate from PEM files and reads them again
// when they change, checked at most once per interval, at a handshake: a
// renewed certificate (certbot, cert-manager) needs no restart. A pair that
// does not load keeps the previous one in service.
type CertReloader struct {
	certFile, keyFile string
	interval          time.Duration
	now               func() time.Time
	onError           func(error)

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime time.Time
	checked time.Time
}

// NewCertReloader loads the pair once; onError hears about later failed reloads.
func NewCertReloader(certFile, keyFile string, interval time.Duration, onError func(error)) (*CertReloader, error) {
	r := &CertReloader{certFile: certFile, keyFile: keyFile, interval: interval, now: time.Now, onError: onError}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *CertReloader) stamp() (time.Time, error) {
	var latest time.Time
	for _, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return time.Time{}, err
		}
		if st.ModTime().After(latest) {
			latest = st.ModTime()
		}
	}
	return latest, nil
}

// load reads the pair; the caller holds mu or is the constructor.
func (r *CertReloader) load() error {
	mod, err := r.stamp()
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	r.cert, r.modTime, r.checked = &cert, mod, r.now()
	return nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.checked) >= r.interval {
		r.checked = now
		if mod, err := r.stamp(); err == nil && !mod.Equal(r.modTime) {
			if err := r.load(); err != nil {
				r.modTime = mod // said once; tried again when the files change
				if r.onError != nil {
					r.onError(err)
				}
			}
		}
	}
	return r.cert, nil
}

// TLSConfig is the listener's TLS configuration: TLS 1.2 or later, the
// reloading certificate.
func (r *CertReloader) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}
