// Package github is "Login with GitHub": the OAuth 2.0 web flow (state,
// PKCE S256) with golang.org/x/oauth2, then GET /user and /user/emails for
// the verified primary email, and an optional organization allowlist
// (GET /user/orgs). GitHub Enterprise works by setting its URLs.
package github

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/federation"
)

// Config configures Login with GitHub.
type Config struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"` // or env:NAME
	// BaseURL is where users sign in (default https://github.com; GitHub
	// Enterprise: https://github.example.com).
	BaseURL string `yaml:"base_url"`
	// APIURL is the REST API (default https://api.github.com; GitHub
	// Enterprise: BaseURL + /api/v3).
	APIURL string `yaml:"api_url"`
	// AllowedOrgs, if set, admits only members of these organizations.
	AllowedOrgs []string `yaml:"allowed_orgs"`
}

// Connector is an opened GitHub connector.
type Connector struct {
	cfg    Config
	secret string
	deps   federation.Deps
	orgs   []string
}

var _ federation.Connector = (*Connector)(nil)

// Open validates the config and returns the connector.
func (c Config) Open(id string, deps federation.Deps) (*Connector, error) {
	if c.BaseURL == "" {
		c.BaseURL = "https://github.com"
	}
	if c.APIURL == "" {
		if c.BaseURL == "https://github.com" {
			c.APIURL = "https://api.github.com"
		} else {
			c.APIURL = strings.TrimSuffix(c.BaseURL, "/") + "/api/v3"
		}
	}
	c.BaseURL, c.APIURL = strings.TrimSuffix(c.BaseURL, "/"), strings.TrimSuffix(c.APIURL, "/")
	// Both URLs are set by now (defaults above), so both are checked.
	secret, err := federation.OpenClient(id, c.ClientID, c.ClientSecret, map[string]string{"base_url": c.BaseURL, "api_url": c.APIURL}, &deps)
	if err != nil {
		return nil, err
	}
	conn := &Connector{cfg: c, secret: secret, deps: deps}
	for _, o := range c.AllowedOrgs {
		conn.orgs = append(conn.orgs, strings.ToLower(o))
	}
	return conn, nil
}

func (c *Connector) oauth(redirect string) *oauth2.Config {
	scopes := []string{"read:user", "user:email"}
	if len(c.orgs) > 0 {
		scopes = append(scopes, "read:org")
	}
	return &oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.secret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: c.cfg.BaseURL + "/login/oauth/authorize", TokenURL: c.cfg.BaseURL + "/login/oauth/access_token",
			AuthStyle: oauth2.AuthStyleInParams}}
}

type state struct {
	Verifier    string `json:"verifier"`
	RedirectURI string `json:"redirect_uri"`
}

// LoginURL sends the browser to GitHub with state and PKCE S256.
func (c *Connector) LoginURL(_ context.Context, req federation.LoginRequest) (string, []byte, error) {
	st := state{Verifier: oauth2.GenerateVerifier(), RedirectURI: req.RedirectURI}
	b, err := json.Marshal(st)
	if err != nil {
		return "", nil, err
	}
	return c.oauth(req.RedirectURI).AuthCodeURL(req.State, oauth2.S256ChallengeOption(st.Verifier), oauth2.SetAuthURLParam("allow_signup", "false")), b, nil
}

var upstream = federation.Upstreamf

// HandleCallback exchanges the code and reads the user, the verified
// primary email and (with an allowlist) the organizations.
func (c *Connector) HandleCallback(ctx context.Context, raw []byte, r *http.Request) (federation.Identity, error) {
	code, err := federation.CallbackCode(r)
	if err != nil {
		return federation.Identity{}, err
	}
	var st state
	if err := json.Unmarshal(raw, &st); err != nil || st.Verifier == "" {
		return federation.Identity{}, upstream("no login state")
	}
	tok, err := c.oauth(st.RedirectURI).Exchange(context.WithValue(ctx, oauth2.HTTPClient, c.deps.HTTP), code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return federation.Identity{}, upstream("token exchange: %v", err)
	}
	var user struct {
		ID        int64  `json:"id"`
		Login     string `json:"login"`
		Name      string `json:"name"`
		AvatarURL string `json:"avatar_url"`
	}
	if err := c.get(ctx, tok, "/user", &user); err != nil {
		return federation.Identity{}, err
	}
	if user.ID == 0 {
		return federation.Identity{}, upstream("/user has no id")
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := c.get(ctx, tok, "/user/emails", &emails); err != nil {
		return federation.Identity{}, err
	}
	id := federation.Identity{Subject: strconv.FormatInt(user.ID, 10), Name: user.Name, Picture: user.AvatarURL, Username: user.Login, Token: tok}
	for _, e := range emails {
		if e.Primary && e.Verified {
			id.Email = e.Email
		}
	}
	if id.Email == "" {
		return federation.Identity{}, federation.ErrUnverifiedEmail
	}
	if len(c.orgs) > 0 {
		var orgs []struct {
			Login string `json:"login"`
		}
		if err := c.get(ctx, tok, "/user/orgs", &orgs); err != nil {
			return federation.Identity{}, err
		}
		if !slices.ContainsFunc(orgs, func(o struct {
			Login string `json:"login"`
		}) bool {
			return slices.Contains(c.orgs, strings.ToLower(o.Login))
		}) {
			return federation.Identity{}, fmt.Errorf("%w: GitHub user %s is not a member of %v", federation.ErrNotAllowed, user.Login, c.cfg.AllowedOrgs)
		}
	}
	return id, nil
}

// get reads one API resource as JSON.
func (c *Connector) get(ctx context.Context, tok *oauth2.Token, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.APIURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := c.deps.HTTP.Do(req)
	if err != nil {
		return upstream("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return upstream("GET %s: status %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return upstream("GET %s: %v", path, err)
	}
	return nil
}
