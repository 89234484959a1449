// Package federation signs users in through upstream identity providers
// ("Login with Google", "Login with GitHub", any OpenID Connect provider).
// Each upstream is a Connector in its own package, opened from config; the
// login pages (package consent) run the redirect, keep the connector's state
// server-side and map the returned Identity to a local account.
package federation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/internal/tracing"
)

// LoginRequest is what a connector needs to send the browser upstream.
type LoginRequest struct {
	// State is the opaque value to send as the OAuth state parameter; the
	// caller checks it on the way back.
	State string
	// RedirectURI is gatehouse's callback URL.
	RedirectURI string
}

// Identity is what an upstream says about the user.
type Identity struct {
	// Subject is the upstream's stable id for the user.
	Subject string
	// Email is set only when the upstream says it is verified.
	Email    string
	Name     string
	Picture  string
	Username string
	// AMR is the upstream's amr, when the connector trusts it.
	AMR []string
	// Token is the upstream's token response (used once; stored only when
	// the connector is configured to, sealed).
	Token *oauth2.Token
}

// Connector is one upstream identity provider.
type Connector interface {
	// LoginURL is where to send the browser, and the connector's private
	// state (PKCE verifier, nonce) to keep server-side until the callback.
	LoginURL(ctx context.Context, req LoginRequest) (url string, state []byte, err error)
	// HandleCallback finishes the login from the callback request; the
	// caller has already matched the state parameter to state.
	HandleCallback(ctx context.Context, state []byte, r *http.Request) (Identity, error)
}

// Errors a connector returns; consent maps them to pages once.
var (
	// ErrDenied: the user (or the upstream) said no (access_denied).
	ErrDenied = errors.New("the upstream sign-in was cancelled or denied")
	// ErrUpstream: the upstream failed or answered something invalid.
	ErrUpstream = errors.New("the upstream identity provider failed")
	// ErrUnverifiedEmail: the upstream has no verified email for the user.
	ErrUnverifiedEmail = errors.New("the upstream account has no verified email address")
	// ErrNotAllowed: the account is outside the allowed domains or
	// organizations.
	ErrNotAllowed = errors.New("the upstream account is not allowed to sign in here")
)

// UpstreamError turns an OAuth error on the callback (RFC 6749 §4.1.2.1)
// into ErrDenied or ErrUpstream.
func UpstreamError(r *http.Request) error {
	q := r.URL.Query()
	code := q.Get("error")
	if code == "" {
		return nil
	}
	if code == "access_denied" {
		return fmt.Errorf("%w (%s)", ErrDenied, trim(q.Get("error_description")))
	}
	return fmt.Errorf("%w: %s: %s", ErrUpstream, trim(code), trim(q.Get("error_description")))
}

// Upstreamf is an ErrUpstream with details (for logs, never for pages).
func Upstreamf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUpstream, fmt.Sprintf(format, a...))
}

// CallbackCode is the code of a callback: the upstream's OAuth error when it
// sent one, ErrUpstream when the code is missing.
func CallbackCode(r *http.Request) (string, error) {
	if err := UpstreamError(r); err != nil {
		return "", err
	}
	code := r.URL.Query().Get("code")
	if code == "" {
		return "", Upstreamf("the callback has no code")
	}
	return code, nil
}

func trim(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

// Deps are what connectors get from the server.
type Deps struct {
	// HTTP is the client for upstream calls: timeouts, size limits, TLS
	// verification on.
	HTTP *http.Client
	Log  *slog.Logger
	Now  func() time.Time
}

// maxResponseBytes bounds every upstream response body.
const maxResponseBytes = 1 << 20

// NewHTTPClient is the client for upstream calls: a 10 s timeout, no more
// than 1 MiB per response, TLS verification on, redirects only to https
// (or loopback http).
func NewHTTPClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: limitTransport{tracing.Transport(http.DefaultTransport)}}
}

type limitTransport struct{ next http.RoundTripper }

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{r: io.LimitReader(resp.Body, maxResponseBytes+1), c: resp.Body}
	return resp, nil
}

type limitedBody struct {
	r io.Reader
	c io.Closer
	n int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > maxResponseBytes {
		return n, fmt.Errorf("%w: response larger than %d bytes", ErrUpstream, maxResponseBytes)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.c.Close() }
