package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Discovery is the part of an OP's metadata the scenarios use.
type Discovery struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	UserinfoEndpoint      string `json:"userinfo_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
}

func discover(ctx context.Context, c *http.Client, issuer string) (Discovery, error) {
	var d Discovery
	status, err := getJSON(ctx, c, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", &d)
	if err != nil || status != 200 {
		return d, fmt.Errorf("discovery: %d %v", status, err)
	}
	if d.TokenEndpoint == "" || d.JWKSURI == "" {
		return d, errors.New("discovery: no token endpoint or jwks_uri")
	}
	return d, nil
}

func getJSON(ctx context.Context, c *http.Client, u string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	return doJSON(c, req, v)
}

func doJSON(c *http.Client, req *http.Request, v any) (int, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != 200 {
		return resp.StatusCode, fmt.Errorf("%s %s: status %d: %.200s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return resp.StatusCode, nil
}

// formHeader are the header lines of a client-authenticated form post.
func (e *Env) formHeader() []string {
	return []string{e.basic, "Content-Type: application/x-www-form-urlencoded", "Accept: application/json"}
}

// post sends a client-authenticated form (client_secret_basic).
func (e *Env) post(ctx context.Context, endpoint string, form url.Values, v any) error {
	return e.send(ctx, "POST", endpoint, e.formHeader(), []byte(form.Encode()), v)
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	TokenType    string `json:"token_type"`
}

// clientCredentials gets one token.
func (e *Env) clientCredentials(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if e.Scope != "" {
		form.Set("scope", e.Scope)
	}
	var t tokenResponse
	if err := e.post(ctx, e.Discovery.TokenEndpoint, form, &t); err != nil {
		return "", err
	}
	if t.AccessToken == "" {
		return "", errors.New("token response without access_token")
	}
	return t.AccessToken, nil
}

// Scenarios lists the scenarios by name.
func Scenarios() map[string]func() Scenario {
	return map[string]func() Scenario{
		"client-credentials": func() Scenario { return &clientCredentials{} },
		"introspect":         func() Scenario { return &introspect{} },
		"refresh":            func() Scenario { return &refresh{} },
		"authcode":           func() Scenario { return &authcode{} },
		"password-login":     func() Scenario { return &passwordLogin{} },
		"discovery":          func() Scenario { return &fetch{name: "discovery"} },
		"jwks":               func() Scenario { return &fetch{name: "jwks"} },
	}
}

// ScenarioNames are the scenarios in report order.
var ScenarioNames = []string{"client-credentials", "introspect", "refresh", "authcode", "password-login", "discovery", "jwks"}

type clientCredentials struct{ env *Env }

func (s *clientCredentials) Name() string { return "client-credentials" }
func (s *clientCredentials) Setup(_ context.Context, env *Env, _ int) error {
	s.env = env
	return nil
}
func (s *clientCredentials) Iteration(ctx context.Context, _ int) (int, error) {
	_, err := s.env.clientCredentials(ctx)
	return 1, err
}

// introspect checks live tokens from a pool (each must be active).
type introspect struct {
	env  *Env
	pool []string
	n    atomic.Uint64
}

func (s *introspect) Name() string { return "introspect" }
func (s *introspect) Setup(ctx context.Context, env *Env, _ int) error {
	s.env = env
	if env.Discovery.IntrospectionEndpoint == "" {
		return errors.New("the OP has no introspection_endpoint")
	}
	for i := 0; i < 64; i++ {
		t, err := env.clientCredentials(ctx)
		if err != nil {
			return err
		}
		s.pool = append(s.pool, t)
	}
	return nil
}

func (s *introspect) Iteration(ctx context.Context, w int) (int, error) {
	var r struct {
		Active bool `json:"active"`
	}
	tok := s.pool[int(s.n.Add(1)+uint64(w))%len(s.pool)]
	if err := s.env.post(ctx, s.env.Discovery.IntrospectionEndpoint, url.Values{"token": {tok}}, &r); err != nil {
		return 1, err
	}
	if !r.Active {
		return 1, errors.New("a live token introspected as inactive")
	}
	return 1, nil
}

// fetch is discovery or jwks: a GET of a public document.
type fetch struct {
	name string
	env  *Env
	url  string
}

func (s *fetch) Name() string { return s.name }
func (s *fetch) Setup(_ context.Context, env *Env, _ int) error {
	s.env = env
	s.url = env.Discovery.JWKSURI
	if s.name == "discovery" {
		s.url = strings.TrimSuffix(env.Issuer, "/") + "/.well-known/openid-configuration"
	}
	return nil
}
func (s *fetch) Iteration(ctx context.Context, _ int) (int, error) {
	var v map[string]any
	if err := s.env.send(ctx, "GET", s.url, []string{"Accept: application/json"}, nil, &v); err != nil {
		return 1, err
	}
	if s.name == "jwks" && v["keys"] == nil || s.name == "discovery" && v["issuer"] != s.env.Discovery.Issuer {
		return 1, fmt.Errorf("%s: unexpected document", s.name)
	}
	return 1, nil
}

// authcode is a full authorization-code + PKCE login with an existing
// browser session and remembered consent: authorize → code → token →
// userinfo, each iteration with a fresh state, nonce and verifier, every
// ID token verified (signature, iss, aud, exp, nonce).
type authcode struct {
	env *Env
	// browsers are one per worker, each with its own session, as separate
	// users' browsers (flows of one browser would share CSRF cookies).
	browsers []*http.Client
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func (s *authcode) Name() string { return "authcode" }

func (s *authcode) Setup(ctx context.Context, env *Env, workers int) error {
	s.env = env
	if env.RedirectURI == "" {
		return errors.New("authcode needs --redirect-uri (registered for the client)")
	}
	scope := env.Scope
	if scope == "" {
		scope = "openid"
	}
	s.conf = oauth2.Config{ClientID: env.ClientID, ClientSecret: env.ClientSecret, RedirectURL: env.RedirectURI, Scopes: strings.Fields(scope),
		Endpoint: oauth2.Endpoint{AuthURL: env.Discovery.AuthorizationEndpoint, TokenURL: env.Discovery.TokenEndpoint, AuthStyle: oauth2.AuthStyleInHeader}}
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), env.HTTP), env.Discovery.JWKSURI)
	s.verifier = oidc.NewVerifier(env.Discovery.Issuer, keys, &oidc.Config{ClientID: env.ClientID, SupportedSigningAlgs: []string{"RS256", "ES256", "PS256", "EdDSA"}})
	for w := 0; w < workers; w++ {
		jar, _ := cookiejar.New(nil)
		if env.Cookie != "" {
			name, value, ok := strings.Cut(env.Cookie, "=")
			if !ok {
				return errors.New("--cookie: want name=value")
			}
			u, _ := url.Parse(env.Discovery.AuthorizationEndpoint)
			jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
		}
		s.browsers = append(s.browsers, &http.Client{Transport: env.HTTP.Transport, Jar: jar, Timeout: env.HTTP.Timeout, CheckRedirect: env.HTTP.CheckRedirect})
		// One login (and consent, remembered) so iterations find a session.
		if _, _, err := s.login(ctx, w, true); err != nil {
			return fmt.Errorf("first login: %w", err)
		}
	}
	return nil
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var (
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
	actionRe = regexp.MustCompile(`<form method="post" action="(/[a-z/]+)"`)
)

// login runs authorize until the redirect back with a code. With
// interactive set it fills gatehouse's login and consent forms on the way
// (setup only); iterations must not need them.
func (s *authcode) login(ctx context.Context, w int, interactive bool) (code string, a authRequest, err error) {
	a = authRequest{state: random(16), nonce: random(16), verifier: oauth2.GenerateVerifier()}
	next := s.conf.AuthCodeURL(a.state, oidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier))
	var req *http.Request
	for hops := 0; hops < 12; hops++ {
		if req == nil {
			if req, err = http.NewRequestWithContext(ctx, http.MethodGet, next, nil); err != nil {
				return "", a, err
			}
		}
		resp, err := s.browsers[w].Do(req)
		if err != nil {
			return "", a, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		req = nil
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			to, err := resp.Request.URL.Parse(loc)
			if err != nil {
				return "", a, err
			}
			if strings.HasPrefix(to.String(), s.env.RedirectURI) {
				q := to.Query()
				if q.Get("error") != "" {
					return "", a, fmt.Errorf("authorization error %s: %s", q.Get("error"), q.Get("error_description"))
				}
				if q.Get("state") != a.state || q.Get("code") == "" {
					return "", a, errors.New("redirect without the code or with another state")
				}
				return q.Get("code"), a, nil
			}
			next = to.String()
			continue
		}
		if resp.StatusCode != 200 || !interactive {
			return "", a, fmt.Errorf("authorize stopped at %s with status %d (no session or consent?)", resp.Request.URL.Path, resp.StatusCode)
		}
		// A gatehouse login or consent page: fill it in.
		form := url.Values{}
		first := string(body) // the page's first form only
		if i := strings.Index(first, "</form>"); i >= 0 {
			first = first[:i]
		}
		for _, m := range hiddenRe.FindAllStringSubmatch(first, -1) {
			if form.Get(m[1]) == "" {
				form.Set(m[1], m[2])
			}
		}
		action := actionRe.FindStringSubmatch(string(body))
		if action == nil {
			return "", a, fmt.Errorf("no form at %s", resp.Request.URL.Path)
		}
		switch action[1] {
		case "/login":
			if s.env.Email == "" {
				return "", a, errors.New("the OP asks for a login: give --email and --password, or --cookie")
			}
			form.Set("email", s.env.Email)
			form.Set("password", s.env.Password)
		case "/consent":
			form.Set("action", "allow")
			form.Set("remember", "yes")
		default:
			return "", a, fmt.Errorf("unexpected form %s", action[1])
		}
		to, _ := resp.Request.URL.Parse(action[1])
		if req, err = http.NewRequestWithContext(ctx, http.MethodPost, to.String(), strings.NewReader(form.Encode())); err != nil {
			return "", a, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return "", a, errors.New("too many redirects")
}

type authRequest struct{ state, nonce, verifier string }

func (s *authcode) Iteration(ctx context.Context, w int) (int, error) {
	code, a, err := s.login(ctx, w, false)
	if err != nil {
		return 1, err
	}
	t, err := s.exchange(ctx, code, a)
	if err != nil {
		return 2, err
	}
	var ui struct {
		Sub string `json:"sub"`
	}
	if err := s.env.send(ctx, "GET", s.env.Discovery.UserinfoEndpoint, []string{"Authorization: Bearer " + t.AccessToken, "Accept: application/json"}, nil, &ui); err != nil {
		return 3, err
	}
	if ui.Sub == "" {
		return 3, errors.New("userinfo without sub")
	}
	return 3, nil
}

// exchange redeems a code and verifies the ID token.
func (s *authcode) exchange(ctx context.Context, code string, a authRequest) (tokenResponse, error) {
	var t tokenResponse
	err := s.env.post(ctx, s.env.Discovery.TokenEndpoint, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {s.env.RedirectURI}, "code_verifier": {a.verifier}}, &t)
	if err != nil {
		return t, err
	}
	idt, err := s.verifier.Verify(oidc.ClientContext(ctx, s.env.HTTP), t.IDToken)
	if err != nil {
		return t, fmt.Errorf("ID token: %w", err)
	}
	if idt.Nonce != a.nonce {
		return t, errors.New("ID token: nonce does not match")
	}
	return t, nil
}

// refresh rotates refresh tokens under load: each worker holds a family
// (from one login) and every response must be a usable new pair.
type refresh struct {
	ac     authcode
	mu     sync.Mutex
	tokens []string
}

func (s *refresh) Name() string { return "refresh" }

func (s *refresh) Setup(ctx context.Context, env *Env, workers int) error {
	if env.Scope == "" {
		env.Scope = "openid offline_access"
	}
	if err := s.ac.Setup(ctx, env, workers); err != nil {
		return err
	}
	for w := 0; w < workers; w++ {
		code, a, err := s.ac.login(ctx, w, false)
		if err != nil {
			return err
		}
		t, err := s.ac.exchange(ctx, code, a)
		if err != nil {
			return err
		}
		if t.RefreshToken == "" {
			return errors.New("no refresh token (the client needs offline_access and the refresh_token grant)")
		}
		s.tokens = append(s.tokens, t.RefreshToken)
	}
	return nil
}

func (s *refresh) Iteration(ctx context.Context, w int) (int, error) {
	// Finish a rotation even when the clock stops mid-request: a new token
	// lost on the way would make the next use look like reuse (and revoke
	// the family).
	ctx = context.WithoutCancel(ctx)
	s.mu.Lock()
	rt := s.tokens[w]
	s.mu.Unlock()
	var t tokenResponse
	if err := s.ac.env.post(ctx, s.ac.env.Discovery.TokenEndpoint, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, &t); err != nil {
		return 1, err
	}
	if t.AccessToken == "" || t.RefreshToken == "" || t.RefreshToken == rt {
		return 1, errors.New("refresh did not return a new pair")
	}
	s.mu.Lock()
	s.tokens[w] = t.RefreshToken
	s.mu.Unlock()
	return 1, nil
}

// passwordLogin is a sign-in with the password every time: a browser
// without a session (a new cookie jar per iteration) runs authorize, the
// login form (a real argon2id check) and the redirect back with a code,
// which it redeems. Consent is remembered from the setup login, so the
// figure is password logins per second.
type passwordLogin struct{ authcode }

func (s *passwordLogin) Name() string { return "password-login" }

func (s *passwordLogin) Setup(ctx context.Context, env *Env, workers int) error {
	if env.Email == "" || env.Password == "" {
		return errors.New("password-login needs --email and --password")
	}
	return s.authcode.Setup(ctx, env, workers)
}

func (s *passwordLogin) Iteration(ctx context.Context, w int) (int, error) {
	jar, _ := cookiejar.New(nil)
	s.browsers[w] = &http.Client{Transport: s.env.HTTP.Transport, Jar: jar, Timeout: s.env.HTTP.Timeout, CheckRedirect: s.env.HTTP.CheckRedirect}
	code, a, err := s.login(ctx, w, true)
	if err != nil {
		return 3, err
	}
	if _, err := s.exchange(ctx, code, a); err != nil {
		return 4, err
	}
	return 4, nil
}
