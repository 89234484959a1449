package provider

import (
	"slices"
	"testing"

	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

func TestParseClaimsRequest(t *testing.T) {
	tests := []struct {
		raw      string
		ok       bool
		implied  []string
		acr      []string
		userinfo []string // released with profile and email consented
	}{
		{"", true, nil, nil, nil},
		{`{"userinfo":{"name":{"essential":true}}}`, true, []string{"profile"}, nil, []string{"name"}},
		{`{"id_token":{"email":null,"acr":{"values":["a","b"],"value":"c"}},"userinfo":{"phone_number":null,"x-custom":null}}`,
			true, []string{"email", "phone"}, []string{"c", "a", "b"}, nil},
		{`{"userinfo":{"email":null,"zoneinfo":{}}}`, true, []string{"email", "profile"}, nil, []string{"email", "zoneinfo"}},
		{`{"id_token":{"acr":{"value":7}}}`, true, nil, nil, nil},
		{`{"userinfo":`, false, nil, nil, nil},
		{`["name"]`, false, nil, nil, nil},
		{`{"userinfo":{"name":true}}`, false, nil, nil, nil},
		{`{} {}`, false, nil, nil, nil},
	}
	for _, tt := range tests {
		cr, err := parseClaimsRequest(tt.raw)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v", tt.raw, err)
			continue
		}
		if !tt.ok {
			continue
		}
		if got := cr.impliedScopes(); !slices.Equal(got, tt.implied) {
			t.Errorf("%s: implied scopes %v, want %v", tt.raw, got, tt.implied)
		}
		if got := cr.IDToken["acr"].strings(); !slices.Equal(got, tt.acr) {
			t.Errorf("%s: acr %v, want %v", tt.raw, got, tt.acr)
		}
		if got := released(cr.Userinfo, []string{"openid", "profile", "email"}); !slices.Equal(got, tt.userinfo) {
			t.Errorf("%s: released %v, want %v", tt.raw, got, tt.userinfo)
		}
	}
}

// TestSessionClone: a refresh clones the session, and the requested
// userinfo claims go with it, unshared.
func TestSessionClone(t *testing.T) {
	s := &session{DefaultSession: openid.DefaultSession{Claims: &jwt.IDTokenClaims{Subject: "u"}, Headers: &jwt.Headers{}, Subject: "u"},
		UserinfoClaims: []string{"name"}}
	c, ok := s.Clone().(*session)
	if !ok || c.Subject != "u" || c.Claims.Subject != "u" || !slices.Equal(c.UserinfoClaims, []string{"name"}) {
		t.Fatalf("clone = %#v", c)
	}
	c.UserinfoClaims[0], c.Claims.Subject = "email", "v"
	if s.UserinfoClaims[0] != "name" || s.Claims.Subject != "u" {
		t.Error("the clone shares state with the original")
	}
}
