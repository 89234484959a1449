// Package google is "Login with Google": the OpenID Connect connector with
// Google's issuer, a verified email required, and an optional allowlist of
// Google Workspace domains checked in the ID token's hd claim (not just
// asked for in the request).
package google

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/federation"
	"github.com/gatehouse-id/gatehouse/federation/oidc"
)

// Issuer is Google's OpenID Connect issuer.
const Issuer = "https://accounts.google.com"

// Config configures Login with Google.
type Config struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"` // or env:NAME
	// HostedDomains, if set, admits only accounts of these Workspace
	// domains (the ID token's hd claim).
	HostedDomains []string `yaml:"hosted_domains"`
	// Issuer overrides Google's (tests, proxies); every endpoint comes from
	// its discovery document.
	Issuer string `yaml:"issuer"`
}

var _ federation.Connector = (*oidc.Connector)(nil)

// Open returns the connector.
func (c Config) Open(id string, deps federation.Deps) (*oidc.Connector, error) {
	issuer := c.Issuer
	if issuer == "" {
		issuer = Issuer
	}
	oc := oidc.Config{Issuer: issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: []string{"openid", "email", "profile"}}
	if len(c.HostedDomains) == 1 {
		oc.AuthParams = map[string]string{"hd": c.HostedDomains[0]}
	} else if len(c.HostedDomains) > 1 {
		oc.AuthParams = map[string]string{"hd": "*"}
	}
	conn, err := oc.Open(id, deps)
	if err != nil {
		return nil, err
	}
	domains := make([]string, len(c.HostedDomains))
	for i, d := range c.HostedDomains {
		domains[i] = strings.ToLower(d)
	}
	conn.Check = func(claims map[string]any) error {
		if len(domains) == 0 {
			return nil
		}
		hd, _ := claims["hd"].(string)
		if hd == "" || !slices.Contains(domains, strings.ToLower(hd)) {
			return fmt.Errorf("%w: Google account domain %q is not one of %v", federation.ErrNotAllowed, hd, domains)
		}
		return nil
	}
	return conn, nil
}
