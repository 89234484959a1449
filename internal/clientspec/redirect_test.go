package clientspec

import (
	"errors"
	"strings"
	"testing"
)

func TestRedirectURIMatches(t *testing.T) {
	registered := []string{"http://127.0.0.1/cb", "https://app.example/cb", "http://[::1]:8080/cb?x=1", "com.example.app:/cb"}
	tests := []struct {
		requested string
		ok        bool
	}{
		{"https://app.example/cb", true},
		{"com.example.app:/cb", true},
		{"http://127.0.0.1/cb", true},
		{"http://127.0.0.1:51234/cb", true}, // RFC 8252: any port on loopback
		{"http://[::1]:9/cb?x=1", true},
		{"http://user@127.0.0.1:1/cb", false},
		{"http://127.0.0.1/%63b", false},
		{"http://127.0.0.1:1/cb/", false},
		{"http://127.0.0.1:1/cb?x=1", false},
		{"http://127.0.0.1:1/cb#f", false},
		{"http://localhost:1/cb", false}, // another host than registered
		{"https://app.example:444/cb", false},
		{"https://app.example/cb?", false},
		{"https://APP.example/cb", false},
		{"http://[::1]:9/cb", false},
	}
	for _, tt := range tests {
		if got := RedirectURIMatches(tt.requested, registered); got != tt.ok {
			t.Errorf("RedirectURIMatches(%q) = %v, want %v", tt.requested, got, tt.ok)
		}
	}
}

func TestValidateRedirectURI(t *testing.T) {
	tests := []struct {
		uri    string
		public bool
		ok     bool
	}{
		{"https://a.example/cb", false, true},
		{"http://127.0.0.1:8080/cb", false, true},
		{"com.example.app:/cb", true, true},
		{"https://a.example/ cb", false, false},
		{"https://a.example/\tcb", false, false},
		{"https://a.example:99999/cb", false, false},
		{"https://a.example:0/cb", false, false},
		{"https://a.example:/cb", false, false},
		{"https://user:password@a.example/cb", false, false},
		{"http://user@127.0.0.1/cb", false, false},
		{"about:blank", true, false},
		{"blob:https://a.example/uuid", true, false},
		{"javascript:alert(1)", true, false},
		{"myapp:/cb", true, false}, // not a reverse domain name
		{"com.example.app:/cb", false, false},
		{"https://a.example/" + strings.Repeat("a", maxURILength), false, false},
		{"https://a.example/cb#x", false, false},
	}
	for _, tt := range tests {
		err := ValidateRedirectURI(tt.uri, tt.public)
		var me *MetadataError
		if (err == nil) != tt.ok || (err != nil && (!errors.As(err, &me) || me.Code != "invalid_redirect_uri")) {
			t.Errorf("ValidateRedirectURI(%q, public=%v) = %v, want ok=%v", tt.uri, tt.public, err, tt.ok)
		}
	}
}
