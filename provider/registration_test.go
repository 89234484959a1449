package provider

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/clientspec"
)

func TestRegistrationPolicy(t *testing.T) {
	p := RegistrationPolicy{}.withDefaults()
	tests := []struct {
		name      string
		spec      clientspec.Spec
		ok        bool
		wantScope string
	}{
		{"defaults", clientspec.Spec{}, true, "openid profile email address phone"},
		{"refresh gets offline_access", clientspec.Spec{GrantTypes: []string{"authorization_code", "refresh_token"}}, true, "openid profile email address phone offline_access"},
		{"another scope", clientspec.Spec{Scope: "openid admin"}, false, ""},
		{"client_credentials", clientspec.Spec{GrantTypes: []string{"client_credentials"}}, false, ""},
		{"audience", clientspec.Spec{Audience: []string{"other-client"}}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.spec
			err := p.apply(&s)
			if (err == nil) != tt.ok {
				t.Fatalf("apply = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && s.Scope != tt.wantScope {
				t.Fatalf("scope %q, want %q", s.Scope, tt.wantScope)
			}
		})
	}
	open := RegistrationPolicy{AllowedScopes: []string{"openid", "api"}, AllowedGrantTypes: []string{"client_credentials"}, AllowAudience: true}.withDefaults()
	s := clientspec.Spec{GrantTypes: []string{"client_credentials"}, Scope: "api", Audience: []string{"https://api.example"}}
	if err := open.apply(&s); err != nil {
		t.Fatalf("an operator's wider policy: %v", err)
	}
}
