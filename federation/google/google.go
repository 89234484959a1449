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
	// Issuer overrides Google's (tests, proxies); the endpoints come from
	// its discovery document unless set here.
	Issuer                string `yaml:"issuer"`
	AuthorizationEndpoint string `yaml:"authorization_endpoint"`
	TokenEndpoint         string `yaml:"token_endpoint"`
	JWKSURI               string `yaml:"jwks_uri"`
	UserInfoEndpoint      string `yaml:"userinfo_endpoint"`
}

var _ federation.Connector = (*oidc.Connector)(nil)

// Open returns the connector.
func (c Config) Open(id string, deps federation.Deps) (*oidc.Connector, error) {
	issuer := c.Issuer
	if issuer == "" {
		issuer = Issuer
	}
	oc := oidc.Config{Issuer: issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: []string{"openid", "email", "profile"},
		AuthorizationEndpoint: c.AuthorizationEndpoint, TokenEndpoint: c.TokenEndpoint, JWKSURI: c.JWKSURI, UserInfoEndpoint: c.UserInfoEndpoint}
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
