// Package clientspec is a client registration: the RFC 7591 metadata an
// operator or a registering client asks for, the rules it must meet
// (redirect URIs, keys, subject types, CORS origins, lifetimes), the stored
// client it builds, and the view shown back. The CLI, the admin API and
// Dynamic Client Registration all build clients through it, so one set of
// rules applies everywhere; it imports no protocol engine.
package clientspec

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Access-token formats.
const (
	FormatOpaque = "opaque"
	FormatJWT    = "jwt"
)

// RequestObjectAlgs are the signature algorithms accepted on request
// objects (and advertised). An unsigned object ("none") is accepted only
// from a client registered with request_object_signing_alg none, and is not
// advertised.
var RequestObjectAlgs = []string{"RS256", "PS256", "ES256", "EdDSA"}

// Spec is what registering a client asks for, with RFC 7591 member
// names; the CLI, Dynamic Client Registration and (later) the admin API all
// build clients through it, so one set of rules applies everywhere.
type Spec struct {
	Name                        string          `json:"client_name"`
	RedirectURIs                []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs      []string        `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes                  []string        `json:"grant_types,omitempty"`
	ResponseTypes               []string        `json:"response_types,omitempty"`
	Scope                       string          `json:"scope,omitempty"`
	TokenEndpointAuthMethod     string          `json:"token_endpoint_auth_method,omitempty"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	JWKS                        json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                     string          `json:"jwks_uri,omitempty"`
	IDTokenSignedResponseAlg    string          `json:"id_token_signed_response_alg,omitempty"`
	AccessTokenFormat           string          `json:"access_token_format,omitempty"`
	// Token lifetimes in seconds for this client (0: the server's); they
	// can only shorten the server's.
	AccessTokenLifetime  int64 `json:"access_token_lifetime,omitempty"`
	RefreshTokenLifetime int64 `json:"refresh_token_lifetime,omitempty"`
	IDTokenLifetime      int64 `json:"id_token_lifetime,omitempty"`
	// Audience lists the resource servers (audience values) the client may
	// ask tokens for with the audience parameter.
	Audience []string `json:"audience,omitempty"`
	// Registration metadata gatehouse cannot honour yet: refused with a
	// clear error instead of being dropped.
	IDTokenEncryptedResponseAlg  string `json:"id_token_encrypted_response_alg,omitempty"`
	UserinfoEncryptedResponseAlg string `json:"userinfo_encrypted_response_alg,omitempty"`
	// RequirePKCE asks for PKCE on every authorization request of this
	// client, whatever the server's pkce.required policy (it can only make
	// the client stricter).
	RequirePKCE bool `json:"require_pkce,omitempty"`
	storage.ClientMetadata

	// ID, FirstParty, Owner, RequireMFA and Secret are set by operators
	// only (CLI, admin API), never by a registering client.
	ID         string `json:"-"`
	FirstParty bool   `json:"-"`
	Owner      string `json:"-"`
	RequireMFA bool   `json:"-"`
	Secret     string `json:"-"`
}

// MetadataError is an RFC 7591 §3.2.2 error: invalid_redirect_uri or
// invalid_client_metadata, with a description naming the field.
type MetadataError struct {
	Code        string
	Description string
}

func (e *MetadataError) Error() string { return e.Code + ": " + e.Description }

// BadMetadata is an invalid_client_metadata error.
func BadMetadata(format string, a ...any) error {
	return &MetadataError{Code: "invalid_client_metadata", Description: fmt.Sprintf(format, a...)}
}

func badRedirect(format string, a ...any) error {
	return &MetadataError{Code: "invalid_redirect_uri", Description: fmt.Sprintf(format, a...)}
}

var knownGrants = []string{"authorization_code", "refresh_token", "client_credentials"}
var knownAuthMethods = []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}

// validateClientJWKS accepts a JWK set of public signing keys only.
func validateClientJWKS(raw []byte) error {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return BadMetadata("jwks is not a JWK set: %v", err)
	}
	if len(set.Keys) == 0 {
		return BadMetadata("jwks has no keys")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return BadMetadata("jwks key %q has private members; register public keys only", k.KeyID)
		}
		if !k.Valid() || (k.Use != "" && k.Use != "sig") {
			return BadMetadata("jwks key %q is not a valid signing key", k.KeyID)
		}
	}
	return nil
}

func validURL(field, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return BadMetadata("%s %q must be an https URL", field, raw)
	}
	return nil
}

// checkUnsupported refuses registration metadata gatehouse cannot honour
// yet, naming it (OpenID Connect Registration §3.3: an error rather than a
// registration that silently behaves otherwise).
func (s Spec) checkUnsupported() error {
	switch {
	case s.IDTokenEncryptedResponseAlg != "" || s.UserinfoEncryptedResponseAlg != "":
		return BadMetadata("id_token_encrypted_response_alg / userinfo_encrypted_response_alg: encrypted ID tokens and userinfo responses are not supported")
	}
	return nil
}

// checkRequestObjects validates the request-object metadata: https
// request_uris (http on loopback), a known request_object_signing_alg, and
// keys to verify signed objects with.
func (s Spec) checkRequestObjects(hasKeys bool) error {
	for _, u := range s.RequestURIs {
		p, err := url.Parse(u)
		if err != nil || p.Host == "" || p.User != nil || !(p.Scheme == "https" || (p.Scheme == "http" && config.IsLoopbackHost(p.Hostname()))) {
			return BadMetadata("request_uris: %q must be an absolute https URL", u)
		}
	}
	switch a := s.RequestObjectSigningAlg; {
	case a == "" || a == "none":
	case !slices.Contains(RequestObjectAlgs, a):
		return BadMetadata("request_object_signing_alg %q is not supported (use %s, or none)", a, strings.Join(RequestObjectAlgs, ", "))
	case !hasKeys:
		return BadMetadata("request_object_signing_alg %s needs the client's keys: jwks or jwks_uri", a)
	}
	if s.RequireSignedRequestObject && (!hasKeys || s.RequestObjectSigningAlg == "none") {
		return BadMetadata("require_signed_request_object needs the client's keys (jwks or jwks_uri) and a signing algorithm other than none")
	}
	return nil
}

// Length caps on registration metadata (a registration is stored, shown to
// users on the consent page and read on every token request).
const (
	maxURILength   = 2000
	maxNameLength  = 200
	maxListLength  = 20
	maxScopeLength = 1000
	maxJWKSLength  = 32 << 10
)

// checkLengths refuses metadata past the caps, naming the field.
func (s Spec) checkLengths() error {
	if utf8.RuneCountInString(s.Name) > maxNameLength {
		return BadMetadata("client_name is longer than %d characters", maxNameLength)
	}
	lists := map[string][]string{"redirect_uris": s.RedirectURIs, "post_logout_redirect_uris": s.PostLogoutRedirectURIs, "grant_types": s.GrantTypes,
		"response_types": s.ResponseTypes, "audience": s.Audience, "contacts": s.Contacts, "allowed_cors_origins": s.AllowedCORSOrigins,
		"request_uris": s.RequestURIs}
	for field, l := range lists {
		if len(l) > maxListLength {
			return BadMetadata("%s has more than %d entries", field, maxListLength)
		}
		for _, v := range l {
			if len(v) > maxURILength {
				return BadMetadata("%s has an entry longer than %d characters", field, maxURILength)
			}
		}
	}
	for field, v := range map[string]string{"client_uri": s.ClientURI, "logo_uri": s.LogoURI, "policy_uri": s.PolicyURI, "tos_uri": s.TOSURI,
		"jwks_uri": s.JWKSURI, "backchannel_logout_uri": s.BackchannelLogoutURI, "frontchannel_logout_uri": s.FrontchannelLogoutURI} {
		if len(v) > maxURILength {
			return BadMetadata("%s is longer than %d characters", field, maxURILength)
		}
	}
	for field, v := range map[string]string{"token_endpoint_auth_method": s.TokenEndpointAuthMethod, "token_endpoint_auth_signing_alg": s.TokenEndpointAuthSigningAlg,
		"id_token_signed_response_alg": s.IDTokenSignedResponseAlg, "access_token_format": s.AccessTokenFormat,
		"request_object_signing_alg": s.RequestObjectSigningAlg, "userinfo_signed_response_alg": s.UserinfoSignedResponseAlg} {
		if len(v) > 64 {
			return BadMetadata("%s is not a known value", field)
		}
	}
	if len(s.Scope) > maxScopeLength {
		return BadMetadata("scope is longer than %d characters", maxScopeLength)
	}
	if len(s.JWKS) > maxJWKSLength {
		return BadMetadata("jwks is larger than %d bytes; publish a jwks_uri instead", maxJWKSLength)
	}
	return nil
}

// Build validates the spec and returns the client and its secret, if it
// gets one (generated, ≥ 256 bits, shown once and stored as a hash). Omitted
// metadata gets the RFC 7591 defaults: authorization_code, code,
// client_secret_basic, and the scopes gatehouse serves.
func (s Spec) Build(env Env, now time.Time) (storage.Client, string, error) {
	enabledAlgs := env.Algs
	if err := s.checkLengths(); err != nil {
		return storage.Client{}, "", err
	}
	if strings.TrimSpace(s.Name) == "" {
		s.Name = "Unnamed client"
	}
	if len(s.GrantTypes) == 0 {
		s.GrantTypes = []string{"authorization_code"}
	}
	for _, gt := range s.GrantTypes {
		if !slices.Contains(knownGrants, gt) {
			return storage.Client{}, "", BadMetadata("grant type %q is not supported (use %s)", gt, strings.Join(knownGrants, ", "))
		}
	}
	if len(s.ResponseTypes) == 0 {
		s.ResponseTypes = []string{"code"}
	}
	for _, rt := range s.ResponseTypes {
		if rt != "code" {
			return storage.Client{}, "", BadMetadata("response type %q is not supported (only code)", rt)
		}
	}
	usesCode := slices.Contains(s.GrantTypes, "authorization_code")
	if usesCode && len(s.RedirectURIs) == 0 {
		return storage.Client{}, "", badRedirect("redirect_uris: at least one is required for the authorization_code grant")
	}
	if s.TokenEndpointAuthMethod == "" {
		s.TokenEndpointAuthMethod = "client_secret_basic"
	}
	if !slices.Contains(knownAuthMethods, s.TokenEndpointAuthMethod) {
		return storage.Client{}, "", BadMetadata("token_endpoint_auth_method %q is not supported (use %s)", s.TokenEndpointAuthMethod, strings.Join(knownAuthMethods, ", "))
	}
	public := s.TokenEndpointAuthMethod == "none"
	if public && slices.Contains(s.GrantTypes, "client_credentials") {
		return storage.Client{}, "", BadMetadata("a public client (token_endpoint_auth_method none) cannot use client_credentials")
	}
	for _, u := range s.RedirectURIs {
		if err := ValidateRedirectURI(u, public); err != nil {
			return storage.Client{}, "", err
		}
	}
	for _, u := range s.PostLogoutRedirectURIs {
		if err := ValidateRedirectURI(u, public); err != nil {
			return storage.Client{}, "", BadMetadata("post_logout_redirect_uris: %s", err.(*MetadataError).Description)
		}
	}
	if len(s.JWKS) > 0 && s.JWKSURI != "" {
		return storage.Client{}, "", BadMetadata("send jwks or jwks_uri, not both")
	}
	hasKeys := len(s.JWKS) > 0 || s.JWKSURI != ""
	if s.TokenEndpointAuthMethod == "private_key_jwt" && !hasKeys {
		return storage.Client{}, "", BadMetadata("token_endpoint_auth_method private_key_jwt needs the client's keys: jwks or jwks_uri")
	}
	// Keys are kept with any method: a client that authenticates with a
	// secret may still sign request objects (OpenID Connect Registration
	// §2; the OpenID Foundation's suite always sends jwks).
	if s.JWKSURI != "" {
		u, err := url.Parse(s.JWKSURI)
		if err != nil || u.Host == "" || u.Fragment != "" || !(u.Scheme == "https" || (u.Scheme == "http" && config.IsLoopbackHost(u.Hostname()))) {
			return storage.Client{}, "", BadMetadata("jwks_uri %q must be an https URL", s.JWKSURI)
		}
	}
	if hasKeys {
		if len(s.JWKS) > 0 {
			if err := validateClientJWKS(s.JWKS); err != nil {
				return storage.Client{}, "", err
			}
		}
		switch s.TokenEndpointAuthSigningAlg {
		case "":
			s.TokenEndpointAuthSigningAlg = "RS256"
		case "RS256", "ES256", "PS256":
		default:
			return storage.Client{}, "", BadMetadata("token_endpoint_auth_signing_alg %q is not supported (use RS256, ES256 or PS256)", s.TokenEndpointAuthSigningAlg)
		}
	}
	if a := s.IDTokenSignedResponseAlg; a != "" && a != "RS256" && !slices.Contains(enabledAlgs, a) {
		algs := []string{"RS256"}
		for _, e := range enabledAlgs {
			if !slices.Contains(algs, e) {
				algs = append(algs, e)
			}
		}
		return storage.Client{}, "", BadMetadata("id_token_signed_response_alg %q is not enabled (enabled: %s)", a, strings.Join(algs, ", "))
	}
	if a := s.UserinfoSignedResponseAlg; a != "" && a != "RS256" && !slices.Contains(enabledAlgs, a) {
		return storage.Client{}, "", BadMetadata("userinfo_signed_response_alg %q is not enabled (enabled: %s)", a, strings.Join(enabledAlgs, ", "))
	}
	if f := s.AccessTokenFormat; f != "" && f != FormatOpaque && f != FormatJWT {
		return storage.Client{}, "", BadMetadata("access_token_format %q: use opaque or jwt", f)
	}
	for field, u := range map[string]string{"client_uri": s.ClientURI, "logo_uri": s.LogoURI, "policy_uri": s.PolicyURI, "tos_uri": s.TOSURI} {
		if err := validURL(field, u); err != nil {
			return storage.Client{}, "", err
		}
	}
	if err := checkLogoutURI("backchannel_logout", s.BackchannelLogoutURI, s.BackchannelLogoutSessionRequired, env.Dev); err != nil {
		return storage.Client{}, "", err
	}
	if err := checkLogoutURI("frontchannel_logout", s.FrontchannelLogoutURI, s.FrontchannelLogoutSessionRequired, env.Dev); err != nil {
		return storage.Client{}, "", err
	}
	if u, err := url.Parse(s.FrontchannelLogoutURI); err == nil && strings.Contains(u.Hostname(), ":") {
		// The signed-out page frames it, and a Content-Security-Policy
		// source cannot name an IPv6 address.
		return storage.Client{}, "", BadMetadata("frontchannel_logout_uri %q must name its host by DNS name or IPv4 address", s.FrontchannelLogoutURI)
	}
	if err := s.checkSubjectType(); err != nil {
		return storage.Client{}, "", err
	}
	if err := s.checkRequestObjects(hasKeys); err != nil {
		return storage.Client{}, "", err
	}
	if err := s.checkUnsupported(); err != nil {
		return storage.Client{}, "", err
	}
	if s.DefaultMaxAge < 0 {
		return storage.Client{}, "", BadMetadata("default_max_age must be a non-negative number of seconds")
	}
	if err := validURL("initiate_login_uri", s.InitiateLoginURI); err != nil {
		return storage.Client{}, "", err
	}
	for _, o := range s.AllowedCORSOrigins {
		if err := ValidateCORSOrigin(o); err != nil {
			return storage.Client{}, "", err
		}
	}
	if len(s.Owner) > 200 {
		return storage.Client{}, "", BadMetadata("owner is longer than 200 characters")
	}
	for field, v := range map[string]int64{"access_token_lifetime": s.AccessTokenLifetime, "refresh_token_lifetime": s.RefreshTokenLifetime, "id_token_lifetime": s.IDTokenLifetime} {
		if v < 0 || v > 366*24*3600 {
			return storage.Client{}, "", BadMetadata("%s must be a number of seconds between 0 (the server's) and one year", field)
		}
	}
	for _, a := range s.Audience {
		if strings.TrimSpace(a) == "" || strings.ContainsAny(a, " \t\n") {
			return storage.Client{}, "", BadMetadata("audience %q is not a valid audience value", a)
		}
	}
	if s.Audience == nil {
		s.Audience = []string{}
	}
	scopes := strings.Fields(s.Scope)
	if len(scopes) == 0 {
		scopes = []string{"openid", "profile", "email"}
		if slices.Contains(s.GrantTypes, "refresh_token") {
			scopes = append(scopes, "offline_access")
		}
	}
	for _, sc := range scopes {
		if strings.ContainsAny(sc, "\"\\") {
			return storage.Client{}, "", BadMetadata("scope %q is not a valid scope token", sc)
		}
	}
	if s.ID == "" {
		s.ID = httpx.RandomID(16)
	}
	c := storage.Client{ID: s.ID, Name: s.Name, RedirectURIs: s.RedirectURIs, PostLogoutRedirectURIs: s.PostLogoutRedirectURIs, GrantTypes: s.GrantTypes,
		ResponseTypes: s.ResponseTypes, Scopes: scopes, Audience: s.Audience, TokenEndpointAuthMethod: s.TokenEndpointAuthMethod, Public: public,
		FirstParty: s.FirstParty, IDTokenSignedResponseAlg: s.IDTokenSignedResponseAlg, AccessTokenFormat: s.AccessTokenFormat,
		JWKS: string(s.JWKS), JWKSURI: s.JWKSURI, AccessTokenLifetime: time.Duration(s.AccessTokenLifetime) * time.Second,
		RefreshTokenLifetime: time.Duration(s.RefreshTokenLifetime) * time.Second, IDTokenLifetime: time.Duration(s.IDTokenLifetime) * time.Second, TokenEndpointAuthSigningAlg: s.TokenEndpointAuthSigningAlg, Metadata: s.ClientMetadata, Owner: s.Owner, RequireMFA: s.RequireMFA, RequirePKCE: s.RequirePKCE, CreatedAt: now, UpdatedAt: now}
	if c.RedirectURIs == nil {
		c.RedirectURIs = []string{}
	}
	if c.PostLogoutRedirectURIs == nil {
		c.PostLogoutRedirectURIs = []string{}
	}
	secret := ""
	if !public && s.TokenEndpointAuthMethod != "private_key_jwt" {
		secret = s.Secret
		if secret == "" {
			secret = httpx.RandomString(32) // 256 bits
		}
		c.SecretHash = HashSecret(secret)
	}
	return c, secret, nil
}

// Env is what the rules of a registration depend on besides the spec.
type Env struct {
	// Algs are the signing algorithms enabled on the server.
	Algs []string
	// Dev accepts http logout URIs on loopback addresses (serve --dev).
	Dev bool
}

// checkLogoutURI checks a back- or front-channel logout URI (member
// name+"_uri"): absolute https without a fragment, or http on a loopback
// host under --dev; its session_required flag needs one.
func checkLogoutURI(name, raw string, sessionRequired, dev bool) error {
	if raw == "" {
		if sessionRequired {
			return BadMetadata("%s_session_required needs a %s_uri", name, name)
		}
		return nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.User != nil:
		return BadMetadata("%s_uri %q must be an absolute https URL", name, raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return BadMetadata("%s_uri %q must not contain a fragment", name, raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && config.IsLoopbackHost(u.Hostname()):
		if dev {
			return nil
		}
		return BadMetadata("%s_uri %q must use https (http on a loopback address only under --dev)", name, raw)
	}
	return BadMetadata("%s_uri %q must be an absolute https URL", name, raw)
}
