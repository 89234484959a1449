// Package oidc signs users in through any OpenID Connect provider: discovery
// (or configured endpoints), the code flow with PKCE S256, state and nonce,
// ID-token verification, optional userinfo and configurable claim mapping.
package oidc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/federation"
)

// Config configures an OpenID Connect upstream.
type Config struct {
	// Issuer is the upstream's issuer URL (discovery at
	// /.well-known/openid-configuration).
	Issuer       string `yaml:"issuer"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"` // or env:NAME
	// Scopes asked for (default openid email profile).
	Scopes []string `yaml:"scopes"`
	// UserInfo also reads the userinfo endpoint (claims the ID token lacks).
	UserInfo bool `yaml:"userinfo"`
	// TrustAMR passes the upstream's amr into gatehouse's ID tokens.
	TrustAMR bool `yaml:"trust_amr"`
	// AllowUnverifiedEmail accepts users whose email the upstream has not
	// verified (their email is then ignored: never used to link accounts).
	AllowUnverifiedEmail bool `yaml:"allow_unverified_email"`
	// Claims maps claim names (defaults: sub, email, email_verified, name,
	// picture, preferred_username).
	Claims Claims `yaml:"claims"`
	// AuthParams are extra authorization request parameters.
	AuthParams map[string]string `yaml:"auth_params"`
	// Endpoints override discovery (air-gapped deployments, tests); when
	// all of authorization, token and jwks are set, no discovery happens.
	AuthorizationEndpoint string `yaml:"authorization_endpoint"`
	TokenEndpoint         string `yaml:"token_endpoint"`
	JWKSURI               string `yaml:"jwks_uri"`
	UserInfoEndpoint      string `yaml:"userinfo_endpoint"`
}

// Claims names the claims an Identity is read from.
type Claims struct {
	Subject       string `yaml:"subject"`
	Email         string `yaml:"email"`
	EmailVerified string `yaml:"email_verified"`
	Name          string `yaml:"name"`
	Picture       string `yaml:"picture"`
	Username      string `yaml:"username"`
}

// Connector is an opened OpenID Connect upstream.
type Connector struct {
	cfg    Config
	secret string
	deps   federation.Deps
	// Check, if set, vets the verified claims (Google's hosted domain).
	Check func(claims map[string]any) error

	mu       sync.Mutex
	provider *gooidc.Provider
}

var _ federation.Connector = (*Connector)(nil)

// Open validates the config and returns the connector; discovery happens at
// the first login, so an upstream that is down does not stop start-up.
func (c Config) Open(id string, deps federation.Deps) (*Connector, error) {
	// The issuer is required (CheckURL refuses ""); the endpoints are
	// optional overrides.
	if err := federation.CheckURL(id+": issuer", c.Issuer); err != nil {
		return nil, err
	}
	secret, err := federation.OpenClient(id, c.ClientID, c.ClientSecret, map[string]string{"authorization_endpoint": c.AuthorizationEndpoint,
		"token_endpoint": c.TokenEndpoint, "jwks_uri": c.JWKSURI, "userinfo_endpoint": c.UserInfoEndpoint}, &deps)
	if err != nil {
		return nil, err
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{gooidc.ScopeOpenID, "email", "profile"}
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.Claims.Subject, "sub")
	def(&c.Claims.Email, "email")
	def(&c.Claims.EmailVerified, "email_verified")
	def(&c.Claims.Name, "name")
	def(&c.Claims.Picture, "picture")
	def(&c.Claims.Username, "preferred_username")
	return &Connector{cfg: c, secret: secret, deps: deps}, nil
}

func (c *Connector) ctx(ctx context.Context) context.Context {
	return gooidc.ClientContext(ctx, c.deps.HTTP)
}

// discover loads (once) the upstream's configuration.
func (c *Connector) discover(ctx context.Context) (*gooidc.Provider, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider != nil {
		return c.provider, nil
	}
	var p *gooidc.Provider
	var err error
	if c.cfg.AuthorizationEndpoint != "" && c.cfg.TokenEndpoint != "" && c.cfg.JWKSURI != "" {
		p = (&gooidc.ProviderConfig{IssuerURL: c.cfg.Issuer, AuthURL: c.cfg.AuthorizationEndpoint, TokenURL: c.cfg.TokenEndpoint,
			JWKSURL: c.cfg.JWKSURI, UserInfoURL: c.cfg.UserInfoEndpoint}).NewProvider(c.ctx(context.Background()))
	} else {
		// The provider keeps the context for its key fetches: not the request's.
		p, err = gooidc.NewProvider(c.ctx(context.Background()), c.cfg.Issuer)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: discovery at %s: %v", federation.ErrUpstream, c.cfg.Issuer, err)
	}
	c.provider = p
	return p, nil
}

func (c *Connector) oauth(p *gooidc.Provider, redirect string) *oauth2.Config {
	return &oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.secret, Endpoint: p.Endpoint(), RedirectURL: redirect, Scopes: c.cfg.Scopes}
}

// state is what stays on the server between the redirect and the callback.
type state struct {
	Verifier    string `json:"verifier"`
	Nonce       string `json:"nonce"`
	RedirectURI string `json:"redirect_uri"`
}

// LoginURL sends the browser upstream with PKCE S256, state and a nonce.
func (c *Connector) LoginURL(ctx context.Context, req federation.LoginRequest) (string, []byte, error) {
	p, err := c.discover(ctx)
	if err != nil {
		return "", nil, err
	}
	n := make([]byte, 24)
	if _, err := rand.Read(n); err != nil {
		return "", nil, err
	}
	st := state{Verifier: oauth2.GenerateVerifier(), Nonce: base64.RawURLEncoding.EncodeToString(n), RedirectURI: req.RedirectURI}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(st.Verifier), gooidc.Nonce(st.Nonce)}
	for k, v := range c.cfg.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	b, err := json.Marshal(st)
	if err != nil {
		return "", nil, err
	}
	return c.oauth(p, req.RedirectURI).AuthCodeURL(req.State, opts...), b, nil
}

var upstream = federation.Upstreamf

// HandleCallback exchanges the code (with the PKCE verifier), verifies the
// ID token (signature, iss, aud, exp, nonce, at_hash) and maps its claims.
func (c *Connector) HandleCallback(ctx context.Context, raw []byte, r *http.Request) (federation.Identity, error) {
	code, err := federation.CallbackCode(r)
	if err != nil {
		return federation.Identity{}, err
	}
	var st state
	if err := json.Unmarshal(raw, &st); err != nil || st.Verifier == "" || st.Nonce == "" {
		return federation.Identity{}, upstream("no login state")
	}
	p, err := c.discover(ctx)
	if err != nil {
		return federation.Identity{}, err
	}
	tok, err := c.oauth(p, st.RedirectURI).Exchange(c.ctx(ctx), code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return federation.Identity{}, upstream("token exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return federation.Identity{}, upstream("the token response has no id_token")
	}
	cfg := &gooidc.Config{ClientID: c.cfg.ClientID}
	if c.deps.Now != nil {
		cfg.Now = c.deps.Now
	}
	idt, err := p.VerifierContext(c.ctx(context.Background()), cfg).Verify(c.ctx(ctx), rawID)
	if err != nil {
		return federation.Identity{}, upstream("ID token: %v", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return federation.Identity{}, upstream("ID token: nonce does not match the request")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return federation.Identity{}, upstream("ID token: %v", err)
		}
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return federation.Identity{}, upstream("ID token claims: %v", err)
	}
	if c.cfg.UserInfo && p.UserInfoEndpoint() != "" {
		ui, err := p.UserInfo(c.ctx(ctx), oauth2.StaticTokenSource(tok))
		if err != nil {
			return federation.Identity{}, upstream("userinfo: %v", err)
		}
		if ui.Subject != idt.Subject {
			return federation.Identity{}, upstream("userinfo is about another subject")
		}
		extra := map[string]any{}
		if err := ui.Claims(&extra); err != nil {
			return federation.Identity{}, upstream("userinfo claims: %v", err)
		}
		for k, v := range extra {
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	if c.Check != nil {
		if err := c.Check(claims); err != nil {
			return federation.Identity{}, err
		}
	}
	return c.identity(claims, tok)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// identity maps claims; an email counts only when verified.
func (c *Connector) identity(claims map[string]any, tok *oauth2.Token) (federation.Identity, error) {
	m := c.cfg.Claims
	id := federation.Identity{Subject: str(claims[m.Subject]), Name: str(claims[m.Name]), Picture: str(claims[m.Picture]),
		Username: str(claims[m.Username]), Token: tok}
	if id.Subject == "" {
		return id, upstream("no %q claim", m.Subject)
	}
	verified := false
	switch v := claims[m.EmailVerified].(type) {
	case bool:
		verified = v
	case string: // some providers send "true"
		verified = v == "true"
	}
	if email := str(claims[m.Email]); email != "" && verified {
		id.Email = email
	} else if !c.cfg.AllowUnverifiedEmail {
		return federation.Identity{}, federation.ErrUnverifiedEmail
	}
	if c.cfg.TrustAMR {
		if list, ok := claims["amr"].([]any); ok {
			for _, v := range list {
				if s, ok := v.(string); ok && s != "" && len(id.AMR) < 10 {
					id.AMR = append(id.AMR, s)
				}
			}
		}
	}
	return id, nil
}
