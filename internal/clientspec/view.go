package clientspec

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// HashSecret is how client secrets are stored.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Registration is a client's registration as RFC 7591 returns it.
type Registration struct {
	ClientID                string `json:"client_id"`
	ClientSecret            string `json:"client_secret,omitempty"`
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	ClientIDIssuedAt        int64  `json:"client_id_issued_at"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`
	Spec
	FirstParty bool   `json:"first_party,omitempty"`
	Owner      string `json:"owner,omitempty"`
	RequireMFA bool   `json:"require_mfa,omitempty"`
}

// View renders a client; secret and registration token are shown only when
// just issued.
func View(c storage.Client, secret string) Registration {
	v := Registration{ClientID: c.ID, ClientSecret: secret, ClientIDIssuedAt: c.CreatedAt.Unix(), FirstParty: c.FirstParty, Owner: c.Owner, RequireMFA: c.RequireMFA,
		Spec: Spec{Name: c.Name, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, GrantTypes: c.GrantTypes,
			ResponseTypes: c.ResponseTypes, Scope: strings.Join(c.Scopes, " "), TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
			TokenEndpointAuthSigningAlg: c.TokenEndpointAuthSigningAlg, IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg,
			AccessTokenFormat: c.AccessTokenFormat, Audience: c.Audience, ClientMetadata: c.Metadata,
			AccessTokenLifetime: int64(c.AccessTokenLifetime.Seconds()), RefreshTokenLifetime: int64(c.RefreshTokenLifetime.Seconds()),
			IDTokenLifetime: int64(c.IDTokenLifetime.Seconds()), RequirePKCE: c.RequirePKCE}}
	if c.JWKS != "" {
		v.JWKS = json.RawMessage(c.JWKS)
	}
	v.JWKSURI = c.JWKSURI
	if len(c.SecretHash) > 0 {
		zero := int64(0) // secrets do not expire (RFC 7591: 0)
		v.ClientSecretExpiresAt = &zero
	}
	return v
}

// Replace makes nc the new registration of old: the id, the creation time,
// the registration access token and, while the client stays confidential,
// its secret (with any rotation in progress) carry over. It returns the
// client and the secret to show: newSecret only when the client had none.
func Replace(old, nc storage.Client, newSecret string) (storage.Client, string) {
	nc.ID, nc.CreatedAt, nc.RegistrationTokenHash = old.ID, old.CreatedAt, old.RegistrationTokenHash
	if len(old.SecretHash) > 0 && len(nc.SecretHash) > 0 {
		nc.SecretHash, newSecret = old.SecretHash, "" // shown once, at registration
		nc.PreviousSecretHash, nc.PreviousSecretExpiresAt = old.PreviousSecretHash, old.PreviousSecretExpiresAt
	}
	return nc, newSecret
}

// ErrNoSecret means the client authenticates without a secret.
var ErrNoSecret = errors.New("the client has no secret (public or private_key_jwt)")

// RotateSecret gives a confidential client a new 256-bit secret,
// shown once; the previous one keeps working for grace, so the client can
// roll over without downtime.
func RotateSecret(ctx context.Context, st interface {
	UpdateClient(ctx context.Context, id string, fn func(storage.Client) (storage.Client, error)) (storage.Client, error)
}, id string, grace time.Duration, now time.Time) (string, storage.Client, error) {
	secret := httpx.RandomString(32)
	c, err := st.UpdateClient(ctx, id, func(c storage.Client) (storage.Client, error) {
		if len(c.SecretHash) == 0 {
			return c, ErrNoSecret
		}
		c.PreviousSecretHash, c.PreviousSecretExpiresAt = c.SecretHash, now.Add(grace)
		if grace <= 0 {
			c.PreviousSecretHash, c.PreviousSecretExpiresAt = nil, time.Time{}
		}
		c.SecretHash, c.UpdatedAt = HashSecret(secret), now
		return c, nil
	})
	if err != nil {
		return "", c, err
	}
	return secret, c, nil
}

// SpecOf is the spec that builds c again, with its operator-only settings:
// the starting point of a change to an existing registration.
func SpecOf(c storage.Client) Spec {
	s := View(c, "").Spec
	s.ID, s.FirstParty, s.Owner, s.RequireMFA = c.ID, c.FirstParty, c.Owner, c.RequireMFA
	return s
}
