package federation

import (
	"fmt"
	"net/url"

	"github.com/gatehouse-id/gatehouse/internal/config"
)

// CheckURL requires an absolute https URL (http only on loopback, for tests
// and local upstreams).
func CheckURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("%s %q is not an absolute URL", field, raw)
	}
	h := u.Hostname()
	loopback := h == "localhost" || h == "127.0.0.1" || h == "::1"
	if u.Scheme != "https" && !(u.Scheme == "http" && loopback) {
		return fmt.Errorf("%s %q must use https", field, raw)
	}
	return nil
}

// OpenClient checks what every connector needs before it opens: its URLs
// (empty ones are skipped: optional overrides), a client id and a client
// secret (resolving env:NAME); it gives deps the upstream HTTP client when
// they have none, and returns the secret.
func OpenClient(id, clientID, clientSecret string, urls map[string]string, deps *Deps) (string, error) {
	for field, u := range urls {
		if u == "" {
			continue
		}
		if err := CheckURL(id+": "+field, u); err != nil {
			return "", err
		}
	}
	if clientID == "" {
		return "", fmt.Errorf("%s: client_id is required", id)
	}
	secret, err := config.Secret(id+": client_secret", clientSecret)
	if err != nil {
		return "", err
	}
	if deps.HTTP == nil {
		deps.HTTP = NewHTTPClient()
	}
	return secret, nil
}
