package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/federation"
	"github.com/gatehouse-id/gatehouse/federation/federationtest"
)

func TestConnector(t *testing.T) {
	tests := []struct {
		name      string
		trustAMR  bool
		mutate    func(map[string]any)
		signOther bool
		callback  func(r *http.Request) *http.Request
		want      error
	}{
		{name: "verified user", trustAMR: true},
		{name: "wrong nonce", mutate: func(c map[string]any) { c["nonce"] = "other" }, want: federation.ErrUpstream},
		{name: "wrong audience", mutate: func(c map[string]any) { c["aud"] = "someone-else" }, want: federation.ErrUpstream},
		{name: "wrong issuer", mutate: func(c map[string]any) { c["iss"] = "https://evil.example" }, want: federation.ErrUpstream},
		{name: "expired", mutate: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, want: federation.ErrUpstream},
		{name: "bad signature", signOther: true, want: federation.ErrUpstream},
		{name: "unverified email", mutate: func(c map[string]any) { c["email_verified"] = false }, want: federation.ErrUnverifiedEmail},
		{name: "no subject", mutate: func(c map[string]any) { delete(c, "sub") }, want: federation.ErrUpstream},
		{name: "user said no", callback: func(*http.Request) *http.Request {
			return httptest.NewRequest(http.MethodGet, "/cb?error=access_denied&state=st-123456789", nil)
		}, want: federation.ErrDenied},
		{name: "upstream error", callback: func(*http.Request) *http.Request {
			return httptest.NewRequest(http.MethodGet, "/cb?error=server_error&state=st-123456789", nil)
		}, want: federation.ErrUpstream},
		{name: "code from another login (PKCE)", callback: func(r *http.Request) *http.Request {
			return httptest.NewRequest(http.MethodGet, "/cb?code=code-forged&state=st-123456789", nil)
		}, want: federation.ErrUpstream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := federationtest.NewFakeOP(t, "client-1")
			op.Set(tt.mutate, tt.signOther)
			c, err := Config{Issuer: op.URL, ClientID: "client-1", ClientSecret: "s3cret", TrustAMR: tt.trustAMR}.Open("test", federation.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			loginURL, st, err := c.LoginURL(context.Background(), federation.LoginRequest{State: "st-123456789", RedirectURI: "http://127.0.0.1:1/cb"})
			if err != nil {
				t.Fatal(err)
			}
			cb := op.Authorize(t, loginURL)
			if tt.callback != nil {
				cb = tt.callback(cb)
			}
			id, err := c.HandleCallback(context.Background(), st, cb)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Subject != "upstream-42" || id.Email != "ada@example.org" || id.Name != "Ada" || len(id.AMR) != 2 {
				t.Errorf("identity = %+v", id)
			}
		})
	}
}

func TestConfigOpen(t *testing.T) {
	for name, c := range map[string]Config{
		"http issuer":   {Issuer: "http://sso.example.com", ClientID: "c", ClientSecret: "s"},
		"no client id":  {Issuer: "https://sso.example.com", ClientSecret: "s"},
		"no secret":     {Issuer: "https://sso.example.com", ClientID: "c"},
		"empty env":     {Issuer: "https://sso.example.com", ClientID: "c", ClientSecret: "env:GATEHOUSE_TEST_UNSET_SECRET"},
		"http endpoint": {Issuer: "https://sso.example.com", ClientID: "c", ClientSecret: "s", TokenEndpoint: "http://sso.example.com/token"},
	} {
		if _, err := c.Open("x", federation.Deps{}); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

// TestUpstreamTimeout: an upstream that does not answer ends as
// ErrUpstream within the client's timeout.
func TestUpstreamTimeout(t *testing.T) {
	op := federationtest.NewFakeOP(t, "client-1")
	c, err := Config{Issuer: op.URL, ClientID: "client-1", ClientSecret: "s"}.Open("slow", federation.Deps{HTTP: &http.Client{Timeout: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	u, st, err := c.LoginURL(context.Background(), federation.LoginRequest{State: "state-12345", RedirectURI: "http://127.0.0.1:1/cb"})
	if err != nil {
		t.Fatal(err)
	}
	cb := op.Authorize(t, u)
	op.Delay(time.Second)
	start := time.Now()
	if _, err := c.HandleCallback(context.Background(), st, cb); !errors.Is(err, federation.ErrUpstream) {
		t.Fatalf("slow upstream: %v", err)
	}
	if time.Since(start) > 1500*time.Millisecond {
		t.Errorf("the timeout did not cut the call short")
	}
}
