// Package provider is gatehouse's OAuth 2.0 / OpenID Connect protocol layer:
// fosite composed from an explicit factory list, the /oauth2/* endpoints,
// discovery, JWKS, userinfo and RP-initiated logout, and the mapping of
// errors to RFC 6749 responses. It renders no login UI: that is consent's,
// reached through interaction.Interactor.
package provider

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/ory/fosite"
	fcompose "github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/netguard"
	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// Paths of the protocol endpoints, relative to the issuer.
const (
	PathDiscovery     = "/.well-known/openid-configuration"
	PathOAuthMetadata = "/.well-known/oauth-authorization-server"
	PathJWKS          = "/.well-known/jwks.json"
	PathAuthorize     = "/oauth2/auth"
	PathResume        = "/oauth2/auth/resume"
	PathToken         = "/oauth2/token"
	PathIntrospect    = "/oauth2/introspect"
	PathRevoke        = "/oauth2/revoke"
	PathUserinfo      = "/userinfo"
	PathLogout        = "/oauth2/logout"
	PathPAR           = "/oauth2/par"
)

// Pushed authorization requests (RFC 9126): the request_uri prefix and how
// long a pushed request may wait for the browser.
const (
	parURIPrefix = "urn:ietf:params:oauth:request_uri:"
	parLifetime  = 90 * time.Second
)

// ACR values gatehouse issues; see discovery's acr_values_supported.
const (
	ACRSingleFactor = interaction.ACROneFactor
	ACRMultiFactor  = interaction.ACRTwoFactor
)

// Stores are what the provider reads and writes, as the narrow storage
// interfaces it uses; one backend usually fills every field (StoresOf).
type Stores struct {
	Clients storage.ClientStore
	// Tokens holds what fosite persists; Tx runs fosite's transactions.
	Tokens storage.TokenStore
	Tx     storage.Transactor
	Users  interface {
		GetUser(ctx context.Context, subject string) (storage.User, error)
	}
	// Attempts limits registrations with a wrong initial access token.
	Attempts storage.AttemptStore
}

// StoresOf fills every field with one backend.
func StoresOf(st storage.Store) Stores {
	return Stores{Clients: st, Tokens: st, Tx: st, Users: st, Attempts: st}
}

// Lifetimes of what the provider issues.
type Lifetimes struct {
	AccessToken, RefreshToken, IDToken, AuthorizeCode time.Duration
}

// Options configure a Provider.
type Options struct {
	Issuer     string
	Store      Stores
	Keys       *keys.Manager
	Interactor interaction.Interactor
	Pages      *templates.Renderer
	Lifetimes  Lifetimes
	// RefreshGrace is how long a rotated refresh token's response is
	// replayed to a retry of the same client (0: never; reuse revokes).
	RefreshGrace time.Duration
	// Cipher seals what must be kept for a moment (refresh grace records).
	Cipher *keys.Cipher
	// PairwiseKey keys pairwise subject identifiers (at least 32 bytes,
	// the same on every replica and across restarts).
	PairwiseKey []byte
	// AccessTokenFormat is the default format, clientspec.FormatOpaque or clientspec.FormatJWT
	// (clients may override it); AccessTokenAlg signs JWT access tokens.
	AccessTokenFormat string
	AccessTokenAlg    string
	// TimeOrderedTokens issues opaque tokens with time-ordered stored keys
	// (orderedtoken.go); tokens of either kind are read regardless.
	TimeOrderedTokens bool
	// ClientCredentialsFormat is the default format of tokens issued for no
	// user (client_credentials; a JWT one is stateless); empty: AccessTokenFormat.
	ClientCredentialsFormat string
	// Registration is the Dynamic Client Registration mode (RegistrationOff,
	// RegistrationOpen or RegistrationToken with InitialAccessToken).
	Registration       string
	InitialAccessToken string
	// RegistrationPolicy bounds what a registering client may ask for.
	RegistrationPolicy RegistrationPolicy
	// MaxAssertionLifetime bounds how far ahead a private_key_jwt client
	// assertion may expire (0: DefaultMaxAssertionLifetime).
	MaxAssertionLifetime time.Duration
	// PKCERequired is PKCEAll (default) or PKCEPublic.
	PKCERequired string
	// AllowUnboundCodes (with PKCEPublic) issues codes to confidential
	// clients' requests with neither PKCE nor a nonce.
	AllowUnboundCodes bool
	// BackchannelLogout says logout tokens are sent (discovery advertises
	// it): the interactor tells a backchannel.Notifier of ended sessions.
	BackchannelLogout bool
	// AllowPrivateJWKSURI (--dev) lets clients' jwks_uri point at private or
	// loopback addresses (development only).
	AllowPrivateJWKSURI bool
	Log                 *slog.Logger
	Now                 func() time.Time
}

// Provider serves the protocol endpoints.
type Provider struct {
	// metadataBody is the encoded discovery document (metadataJSON).
	metadataOnce sync.Once
	metadataBody []byte

	issuer      string
	backchannel bool
	oauth       fosite.OAuth2Provider
	store       Stores
	keys        *keys.Manager
	signer      *keys.Signer
	interactor  interaction.Interactor
	pages       *templates.Renderer
	log         *slog.Logger
	now         func() time.Time

	strategy    oauth2.CoreStrategy
	cipher      *keys.Cipher
	pairwiseKey []byte
	// sectors fetches pairwise clients' sector_identifier_uri documents.
	sectors      *http.Client
	refreshGrace time.Duration
	// maxAssertionLifetime bounds client assertions' exp.
	maxAssertionLifetime time.Duration
	// pkceForAll requires PKCE from every client (pkce.required: all).
	pkceForAll bool
	// allowUnbound: pkce.allow_unbound.
	allowUnbound bool
	// cors indexes the clients' origins for preflights.
	cors corsIndex
	// logos caches the clients' logos, served from this origin.
	logos *logoCache
	// jwks caches the key sets clients publish at their jwks_uri;
	// requestObjects fetches request objects from registered request_uris.
	clientKeys     *jwksFetcher
	requestObjects *http.Client
	registrar      *registrar
	clients        *clientCache
	// fs is fosite's storage adapter (units of work per request).
	fs *fositeStore
}

// New composes fosite and returns a Provider.
func New(o Options) (*Provider, error) {
	if cur, _ := o.Keys.HMACSecrets(context.Background()); len(cur) < 32 {
		return nil, errors.New("provider: the key manager has no opaque-token secret")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	jwks := newJWKSFetcher(o.AllowPrivateJWKSURI, o.Now)
	cfg := &fosite.Config{
		IDTokenIssuer:                   o.Issuer,
		AccessTokenIssuer:               o.Issuer,
		TokenURL:                        o.Issuer + PathToken,
		AccessTokenLifespan:             o.Lifetimes.AccessToken,
		RefreshTokenLifespan:            o.Lifetimes.RefreshToken,
		IDTokenLifespan:                 o.Lifetimes.IDToken,
		AuthorizeCodeLifespan:           o.Lifetimes.AuthorizeCode,
		EnforcePKCE:                     o.PKCERequired != PKCEPublic,
		EnforcePKCEForPublicClients:     true,
		EnablePKCEPlainChallengeMethod:  false,
		RefreshTokenScopes:              []string{"offline_access"},
		ScopeStrategy:                   fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:        fosite.DefaultAudienceMatchingStrategy,
		TokenEntropy:                    32,
		SendDebugMessagesToClients:      false,
		ClientSecretsHasher:             sha256Hasher{},
		AllowedPromptValues:             []string{"login", "none", "consent", "select_account"},
		PushedAuthorizeRequestURIPrefix: parURIPrefix,
		PushedAuthorizeContextLifespan:  parLifetime,
		JWKSFetcherStrategy:             jwks,
		OmitRedirectScopeParam:          true,
	}
	fs := &fositeStore{tokens: o.Store.Tokens, tx: o.Store.Tx, now: o.Now, clients: &clientCache{store: o.Store.Clients, now: o.Now}, graceful: o.RefreshGrace > 0}
	signer := &keys.Signer{Manager: o.Keys}
	if o.AccessTokenFormat == "" {
		o.AccessTokenFormat = clientspec.FormatOpaque
	}
	if o.ClientCredentialsFormat == "" {
		o.ClientCredentialsFormat = o.AccessTokenFormat
	}
	if o.AccessTokenAlg == "" {
		o.AccessTokenAlg = keys.RS256
	}
	gcfg := &gatehouseConfig{Config: cfg, keys: o.Keys, issuer: o.Issuer}
	ats := &accessTokens{CoreStrategy: &orderedTokens{CoreStrategy: fcompose.NewOAuth2HMACStrategy(gcfg), config: gcfg, now: o.Now, issue: o.TimeOrderedTokens}, signer: &keys.Signer{Manager: o.Keys, Type: "at+jwt"},
		alg: o.AccessTokenAlg, defaultFormat: o.AccessTokenFormat, clientCredentialsFormat: o.ClientCredentialsFormat, issuer: o.Issuer, pairwiseKey: o.PairwiseKey, now: o.Now}
	fs.stateless = ats.stateless
	strategy := &fcompose.CommonStrategy{
		CoreStrategy:               ats,
		OpenIDConnectTokenStrategy: &openid.DefaultStrategy{Signer: signer, Config: gcfg},
		Signer:                     signer,
	}
	// An explicit list: no implicit, hybrid or password handler.
	oauth := compose(gcfg, fs, strategy,
		fcompose.OAuth2AuthorizeExplicitFactory,
		fcompose.OAuth2ClientCredentialsGrantFactory,
		fcompose.OAuth2RefreshTokenGrantFactory,
		fcompose.OpenIDConnectExplicitFactory,
		fcompose.OpenIDConnectRefreshFactory,
		fcompose.OAuth2TokenIntrospectionFactory,
		fcompose.OAuth2TokenRevocationFactory,
		fcompose.OAuth2PKCEFactory,
		fcompose.PushedAuthorizeHandlerFactory,
	)
	// Stateless access tokens are introspected before the stored-token
	// validator could refuse them, and revoked by a row of their own.
	sl := statelessJWT{tokens: ats, store: fs, now: o.Now}
	for i, h := range gcfg.TokenIntrospectionHandlers {
		if _, ok := h.(*oauth2.CoreValidator); ok {
			gcfg.TokenIntrospectionHandlers[i] = statelessFirst{stateless: sl, core: h}
		}
	}
	for i, h := range gcfg.RevocationHandlers {
		if _, ok := h.(*oauth2.TokenRevocationHandler); ok {
			gcfg.RevocationHandlers[i] = revokeFirst{stateless: sl, core: h}
		}
	}
	if len(o.PairwiseKey) < 32 {
		return nil, errors.New("provider: a pairwise subject key of at least 32 bytes is required")
	}
	if o.RefreshGrace > 0 && o.Cipher == nil {
		return nil, errors.New("provider: a refresh grace period needs a Cipher")
	}
	p := &Provider{
		issuer: o.Issuer, oauth: oauth, store: o.Store, keys: o.Keys, signer: signer,
		interactor: o.Interactor, pages: o.Pages, log: o.Log, now: o.Now,
		strategy: strategy.CoreStrategy, cipher: o.Cipher, refreshGrace: o.RefreshGrace, clients: fs.clients, fs: fs,
		maxAssertionLifetime: cmp.Or(o.MaxAssertionLifetime, DefaultMaxAssertionLifetime), pkceForAll: o.PKCERequired != PKCEPublic,
		allowUnbound: o.PKCERequired == PKCEPublic && o.AllowUnboundCodes,
		logos:        &logoCache{client: netguard.Client("logo_uri", o.AllowPrivateJWKSURI), now: o.Now},
		clientKeys:   jwks, requestObjects: netguard.Client("request_uri", o.AllowPrivateJWKSURI),
		pairwiseKey: o.PairwiseKey, sectors: clientspec.SectorClient(o.AllowPrivateJWKSURI), backchannel: o.BackchannelLogout,
	}
	switch o.Registration {
	case "", RegistrationOff:
	case RegistrationOpen, RegistrationToken:
		if o.Registration == RegistrationToken && len(o.InitialAccessToken) < 32 {
			return nil, errors.New("provider: registration mode token needs an initial access token of at least 32 characters")
		}
		p.registrar = &registrar{p: p, mode: o.Registration, initialToken: hashToken(o.InitialAccessToken), env: clientspec.Env{Algs: o.Keys.Algs(), Dev: o.AllowPrivateJWKSURI}, limit: attempt.New(o.Store.Attempts, p.now),
			policy: o.RegistrationPolicy.withDefaults()}
	default:
		return nil, fmt.Errorf("provider: unknown registration mode %q", o.Registration)
	}
	return p, nil
}

// Register mounts the protocol endpoints on mux.
func (p *Provider) Register(mux *http.ServeMux) {
	az, tk, ui, cors := authorizeFlow{p}, tokenFlow{p}, userinfoEndpoint{p}, corsGuard{p}
	mux.HandleFunc("GET "+PathDiscovery, p.discovery)
	mux.HandleFunc("GET "+PathOAuthMetadata, p.discovery)
	mux.HandleFunc("GET "+PathJWKS, p.jwks)
	mux.HandleFunc("GET "+PathAuthorize, az.authorize)
	mux.HandleFunc("POST "+PathAuthorize, az.authorize)
	mux.HandleFunc("GET "+PathResume, az.resume)
	mux.HandleFunc("POST "+PathToken, cors.withCORS(tk.token))
	mux.HandleFunc("POST "+PathIntrospect, cors.withCORS(tk.introspect))
	mux.HandleFunc("POST "+PathRevoke, cors.withCORS(tk.revoke))
	for _, path := range []string{PathToken, PathIntrospect, PathRevoke, PathUserinfo} {
		mux.HandleFunc("OPTIONS "+path, cors.preflight)
	}
	mux.HandleFunc("GET "+PathUserinfo, ui.userinfo)
	mux.HandleFunc("POST "+PathUserinfo, ui.userinfo)
	mux.HandleFunc("POST "+PathPAR, az.par)
	mux.HandleFunc("GET "+PathClientLogo, p.clientLogo)
	if p.registrar != nil {
		p.registrar.register(mux)
	}
	mux.HandleFunc("GET "+PathLogout, p.logout)
	mux.HandleFunc("POST "+PathLogout, p.logout)
}

// gatehouseConfig is fosite's configuration with what gatehouse decides at
// run time: the key manager's opaque-token secrets (so they rotate like the
// signing keys) and the audiences a client assertion may name.
type gatehouseConfig struct {
	*fosite.Config
	keys   *keys.Manager
	issuer string
}

// GetGlobalSecret is the secret that signs new opaque tokens.
func (g *gatehouseConfig) GetGlobalSecret(ctx context.Context) ([]byte, error) {
	cur, _ := g.keys.HMACSecrets(ctx)
	if cur == nil {
		return nil, errors.New("no opaque-token secret")
	}
	return cur, nil
}

// GetRotatedGlobalSecrets are older secrets that still verify.
func (g *gatehouseConfig) GetRotatedGlobalSecrets(ctx context.Context) ([][]byte, error) {
	_, rotated := g.keys.HMACSecrets(ctx)
	return rotated, nil
}

// GetTokenURLs are the audiences a private_key_jwt assertion may carry:
// the issuer (RFC 7523bis) or any endpoint of this server that takes client
// authentication — token, introspection, revocation, PAR — as libraries
// address assertions to the endpoint they call.
func (g *gatehouseConfig) GetTokenURLs(context.Context) []string {
	return []string{g.TokenURL, g.issuer, g.issuer + PathIntrospect, g.issuer + PathRevoke, g.issuer + PathPAR}
}

// GetMinParameterEntropy is 1: state must be present (fosite refuses an
// empty one), but OpenID Connect sets no minimum length for state or nonce,
// and fosite's default of 8 failed short nonces only at the token endpoint,
// after the user had signed in (with its non-standard insufficient_entropy).
func (g *gatehouseConfig) GetMinParameterEntropy(context.Context) int { return 1 }

// compose is fosite's compose.Compose over gatehouseConfig: the handlers see
// the run-time configuration, not just the static *fosite.Config.
func compose(cfg *gatehouseConfig, store *fositeStore, strategy *fcompose.CommonStrategy, factories ...fcompose.Factory) fosite.OAuth2Provider {
	f := fosite.NewOAuth2Provider(store, cfg)
	for _, factory := range factories {
		res := factory(cfg, store, strategy)
		if h, ok := res.(fosite.AuthorizeEndpointHandler); ok {
			cfg.AuthorizeEndpointHandlers.Append(h)
		}
		if h, ok := res.(fosite.TokenEndpointHandler); ok && !slices.ContainsFunc(cfg.TokenEndpointHandlers, func(o fosite.TokenEndpointHandler) bool {
			q, _ := o.(quietTokenHandler)
			return reflect.TypeOf(q.TokenEndpointHandler) == reflect.TypeOf(h)
		}) {
			// Not Append: it keeps one handler per Go type, and the wrapper
			// gives them all one type.
			cfg.TokenEndpointHandlers = append(cfg.TokenEndpointHandlers, quietTokenHandler{h})
		}
		if h, ok := res.(fosite.TokenIntrospector); ok {
			cfg.TokenIntrospectionHandlers.Append(h)
		}
		if h, ok := res.(fosite.RevocationHandler); ok {
			cfg.RevocationHandlers.Append(h)
		}
		if h, ok := res.(fosite.PushedAuthorizeEndpointHandler); ok {
			cfg.PushedAuthorizeEndpointHandlers.Append(h)
		}
	}
	return f
}

// quietTokenHandler lets a token endpoint handler that cannot handle the
// request decline without the stack trace fosite's handlers attach to
// ErrUnknownRequest: fosite asks every handler to populate every response,
// and those traces were 7 % of a token request's CPU. Each fosite handler
// begins with exactly this check, so the outcome is the same.
type quietTokenHandler struct{ fosite.TokenEndpointHandler }

// PopulateTokenEndpointResponse declines cheaply, or delegates.
func (q quietTokenHandler) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !q.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	return q.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, r, resp)
}

// sha256Hasher checks client secrets. They are ≥256-bit server-generated
// random strings, so a fast hash is safe and keeps the token endpoint fast.
type sha256Hasher struct{}

func (sha256Hasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	h := sha256.Sum256(data)
	return h[:], nil
}

func (sha256Hasher) Compare(_ context.Context, hash, data []byte) error {
	h := sha256.Sum256(data)
	if subtle.ConstantTimeCompare(hash, h[:]) != 1 {
		return errors.New("client secret mismatch")
	}
	return nil
}

// newSession is the prototype fosite decodes stored sessions into.
func newSession() *session {
	return &session{DefaultSession: openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{Extra: map[string]interface{}{}}}}
}

// renderError shows an HTML error page; it never redirects.
func (p *Provider) renderError(w http.ResponseWriter, r *http.Request, status int, title, message, code string) {
	renderErrorPage(p.pages, p.log, w, r, status, title, message, code)
}

// renderErrorPage is shared by every HTML error the provider shows.
func renderErrorPage(pages *templates.Renderer, log *slog.Logger, w http.ResponseWriter, r *http.Request, status int, title, message, code string) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	data := map[string]string{"Title": title, "Message": message, "Code": code, "RequestID": w.Header().Get("X-Request-Id")}
	if err := pages.Render(w, status, "error", nonceOf(r), data); err != nil {
		log.Error("render error page", "err", err)
	}
}

// sameStrings reports whether a contains s.
func contains(a []string, s string) bool {
	for _, v := range a {
		if v == s {
			return true
		}
	}
	return false
}

// withQuery returns u with params merged into its query (or fragment).
func withParams(u *url.URL, params url.Values, fragment bool) string {
	out := *u
	if fragment {
		out.Fragment = ""
		out.RawFragment = ""
		return out.String() + "#" + params.Encode()
	}
	q := out.Query()
	for k, vs := range params {
		q[k] = vs
	}
	out.RawQuery = q.Encode()
	return out.String()
}

// The endpoints, grouped by what they serve; each reaches the shared
// Provider (its fosite instance, stores, keys and options).
type (
	// authorizeFlow is the authorization endpoint with pushed and signed
	// requests and the resumption after the login pages.
	authorizeFlow struct{ *Provider }
	// tokenFlow is the token endpoint with refresh rotation, and
	// introspection and revocation.
	tokenFlow struct{ *Provider }
	// userinfoEndpoint answers bearer tokens with the user's claims.
	userinfoEndpoint struct{ *Provider }
	// corsGuard opens the endpoints browsers call to the client's origins.
	corsGuard struct{ *Provider }
)
