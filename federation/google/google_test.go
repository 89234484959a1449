package google

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-id/gatehouse/federation"
	"github.com/gatehouse-id/gatehouse/federation/federationtest"
)

func TestHostedDomains(t *testing.T) {
	tests := []struct {
		name    string
		domains []string
		hd      any
		emailOK bool
		want    error
	}{
		{"any account", nil, nil, true, nil},
		{"allowed domain", []string{"example.com"}, "example.com", true, nil},
		{"allowed, case differs", []string{"Example.com"}, "example.COM", true, nil},
		{"other domain", []string{"example.com"}, "evil.example", true, federation.ErrNotAllowed},
		{"personal account when domains are required", []string{"example.com"}, nil, true, federation.ErrNotAllowed},
		{"unverified email", nil, nil, false, federation.ErrUnverifiedEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := federationtest.NewFakeOP(t, "g-client")
			op.Set(func(c map[string]any) {
				if tt.hd != nil {
					c["hd"] = tt.hd
				}
				c["email_verified"] = tt.emailOK
			}, false)
			c, err := Config{ClientID: "g-client", ClientSecret: "s", HostedDomains: tt.domains, Issuer: op.URL}.Open("google", federation.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			u, st, err := c.LoginURL(context.Background(), federation.LoginRequest{State: "state-12345", RedirectURI: "http://127.0.0.1:1/cb"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.HandleCallback(context.Background(), st, op.Authorize(t, u))
			if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
