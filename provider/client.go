package provider

import (
	"encoding/json"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/storage"
)

// client adapts a stored client to fosite's client interfaces.
type client struct {
	c   storage.Client
	now time.Time
}

var (
	_ fosite.Client                   = (*client)(nil)
	_ fosite.OpenIDConnectClient      = (*client)(nil)
	_ fosite.ResponseModeClient       = (*client)(nil)
	_ fosite.ClientWithSecretRotation = (*client)(nil)
)

var _ fosite.ClientWithCustomTokenLifespans = (*client)(nil)

// GetEffectiveLifespan is the client's lifetime for a token type when it is
// shorter than the server's; never longer, so retired signing keys always
// outlive what they signed.
func (c *client) GetEffectiveLifespan(_ fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	var v time.Duration
	switch tt {
	case fosite.AccessToken:
		v = c.c.AccessTokenLifetime
	case fosite.RefreshToken:
		v = c.c.RefreshTokenLifetime
	case fosite.IDToken:
		v = c.c.IDTokenLifetime
	}
	if v > 0 && (fallback <= 0 || v < fallback) {
		return v
	}
	return fallback
}

// GetRotatedHashes is the previous secret during its grace period.
func (c *client) GetRotatedHashes() [][]byte {
	if len(c.c.PreviousSecretHash) > 0 && c.now.Before(c.c.PreviousSecretExpiresAt) {
		return [][]byte{c.c.PreviousSecretHash}
	}
	return nil
}

func (c *client) GetID() string                   { return c.c.ID }
func (c *client) GetHashedSecret() []byte         { return c.c.SecretHash }
func (c *client) GetRedirectURIs() []string       { return c.c.RedirectURIs }
func (c *client) GetGrantTypes() fosite.Arguments { return c.c.GrantTypes }
func (c *client) GetResponseTypes() fosite.Arguments {
	if len(c.c.ResponseTypes) == 0 {
		return fosite.Arguments{"code"}
	}
	return c.c.ResponseTypes
}
func (c *client) GetScopes() fosite.Arguments   { return c.c.Scopes }
func (c *client) IsPublic() bool                { return c.c.Public }
func (c *client) GetAudience() fosite.Arguments { return c.c.Audience }
func (c *client) GetRequestURIs() []string      { return nil }
func (c *client) GetJSONWebKeys() *jose.JSONWebKeySet {
	if c.c.JWKS == "" {
		return nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(c.c.JWKS), &set); err != nil {
		return nil // validated at registration; a corrupt set authenticates nothing
	}
	return &set
}
func (c *client) GetJSONWebKeysURI() string                { return c.c.JWKSURI }
func (c *client) GetRequestObjectSigningAlgorithm() string { return "" }
func (c *client) GetTokenEndpointAuthSigningAlgorithm() string {
	if c.c.TokenEndpointAuthSigningAlg == "" {
		return "RS256"
	}
	return c.c.TokenEndpointAuthSigningAlg
}
func (c *client) GetTokenEndpointAuthMethod() string {
	if c.c.TokenEndpointAuthMethod == "" {
		if c.c.Public {
			return "none"
		}
		return "client_secret_basic"
	}
	return c.c.TokenEndpointAuthMethod
}

// GetResponseModes lists the response modes gatehouse writes.
func (c *client) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery, fosite.ResponseModeFragment, fosite.ResponseModeFormPost}
}
