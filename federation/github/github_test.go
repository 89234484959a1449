package github

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-id/gatehouse/federation"
	"github.com/gatehouse-id/gatehouse/federation/federationtest"
)

// callback follows the login URL to the fake's authorize endpoint and
// returns the request GitHub would send the browser back with.
func callback(t *testing.T, loginURL string) *http.Request {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	return httptest.NewRequest(http.MethodGet, resp.Header.Get("Location"), nil)
}

func TestConnector(t *testing.T) {
	tests := []struct {
		name   string
		orgs   []string
		change func(f *federationtest.FakeGitHub)
		want   error
	}{
		{name: "verified primary email"},
		{name: "member of an allowed org", orgs: []string{"Acme"}, change: func(f *federationtest.FakeGitHub) { f.Orgs = []string{"other", "acme"} }},
		{name: "not in an allowed org", orgs: []string{"acme"}, change: func(f *federationtest.FakeGitHub) { f.Orgs = []string{"other"} }, want: federation.ErrNotAllowed},
		{name: "unverified primary email", change: func(f *federationtest.FakeGitHub) {
			f.Emails = []federationtest.GitHubEmail{{Email: "octo@example.org", Primary: true}, {Email: "x@example.org", Verified: true}}
		}, want: federation.ErrUnverifiedEmail},
		{name: "user said no", change: func(f *federationtest.FakeGitHub) { f.Deny = true }, want: federation.ErrDenied},
		{name: "wrong client secret", change: func(f *federationtest.FakeGitHub) { f.ClientSecret = "rotated" }, want: federation.ErrUpstream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh := federationtest.NewFakeGitHub(t)
			c, err := Config{ClientID: gh.ClientID, ClientSecret: gh.ClientSecret, BaseURL: gh.URL, APIURL: gh.URL, AllowedOrgs: tt.orgs}.Open("github", federation.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.change != nil {
				gh.Set(tt.change)
			}
			u, st, err := c.LoginURL(context.Background(), federation.LoginRequest{State: "state-abcdefgh", RedirectURI: "http://127.0.0.1:1/cb"})
			if err != nil {
				t.Fatal(err)
			}
			id, err := c.HandleCallback(context.Background(), st, callback(t, u))
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil || id.Subject != "4242" || id.Email != "octo@example.org" || id.Username != "octo" || id.Token == nil {
				t.Fatalf("identity %+v, %v", id, err)
			}
		})
	}
	// A replayed callback: the code was used.
	gh := federationtest.NewFakeGitHub(t)
	c, _ := Config{ClientID: gh.ClientID, ClientSecret: gh.ClientSecret, BaseURL: gh.URL, APIURL: gh.URL}.Open("github", federation.Deps{})
	u, st, _ := c.LoginURL(context.Background(), federation.LoginRequest{State: "state-abcdefgh", RedirectURI: "http://127.0.0.1:1/cb"})
	cb := callback(t, u)
	if _, err := c.HandleCallback(context.Background(), st, cb); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HandleCallback(context.Background(), st, cb); !errors.Is(err, federation.ErrUpstream) {
		t.Errorf("replayed code: %v", err)
	}
}

func TestEnterpriseURLs(t *testing.T) {
	c, err := Config{ClientID: "c", ClientSecret: "s", BaseURL: "https://github.example.com/"}.Open("ghe", federation.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.APIURL != "https://github.example.com/api/v3" || c.oauth("x").Endpoint.TokenURL != "https://github.example.com/login/oauth/access_token" {
		t.Errorf("GHE URLs: %s %s", c.cfg.APIURL, c.oauth("x").Endpoint.TokenURL)
	}
	if _, err := (Config{ClientID: "c", ClientSecret: "s", BaseURL: "http://github.example.com"}).Open("ghe", federation.Deps{}); err == nil {
		t.Error("http base URL accepted")
	}
}
