package clientspec

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestLogoutURIs: back- and front-channel logout URIs are absolute https
// without a fragment, or http on a loopback address under --dev only; a
// session_required flag needs its URI. The same rules hold for both.
func TestLogoutURIs(t *testing.T) {
	for _, kind := range []string{"backchannel", "frontchannel"} {
		for _, tc := range []struct {
			uri     string
			session bool
			dev     bool
			wantErr string // "" : accepted
		}{
			{"https://rp.example.com/logout", true, false, ""},
			{"https://rp.example.com/logout?tenant=a", false, false, ""},
			{"http://127.0.0.1:9000/logout", false, true, ""},
			{"http://localhost:9000/logout", true, true, ""},
			{"http://127.0.0.1:9000/logout", false, false, "only under --dev"},
			{"http://rp.example.com/logout", false, true, "https"},
			{"https://rp.example.com/logout#frag", false, false, "fragment"},
			{"https://rp.example.com/logout#", false, false, "fragment"},
			{"/logout", false, false, "absolute"},
			{"https://user:pw@rp.example.com/logout", false, false, "absolute"},
			{"javascript:alert(1)", false, true, "absolute"},
			{"", true, false, "session_required needs"},
		} {
			s := Spec{Name: "RP", RedirectURIs: []string{"https://rp.example.com/cb"}}
			if kind == "backchannel" {
				s.BackchannelLogoutURI, s.BackchannelLogoutSessionRequired = tc.uri, tc.session
			} else {
				s.FrontchannelLogoutURI, s.FrontchannelLogoutSessionRequired = tc.uri, tc.session
			}
			c, _, err := s.Build(Env{Algs: []string{"RS256"}, Dev: tc.dev}, time.Now())
			var me *MetadataError
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("%s %q (dev %v): %v", kind, tc.uri, tc.dev, err)
			case tc.wantErr == "":
				got := c.Metadata.BackchannelLogoutURI
				if kind == "frontchannel" {
					got = c.Metadata.FrontchannelLogoutURI
				}
				if got != tc.uri {
					t.Errorf("%s %q stored as %q", kind, tc.uri, got)
				}
			case !errors.As(err, &me) || me.Code != "invalid_client_metadata" || !strings.Contains(me.Description, tc.wantErr) || !strings.Contains(me.Description, kind+"_logout"):
				t.Errorf("%s %q (dev %v): %v, want invalid_client_metadata naming %q", kind, tc.uri, tc.dev, err, tc.wantErr)
			}
		}
	}
	// The signed-out page frames front-channel URIs under a
	// Content-Security-Policy, which cannot name an IPv6 address; the
	// back-channel URI is only POSTed to.
	v6 := Spec{Name: "RP", RedirectURIs: []string{"https://rp.example.com/cb"}}
	v6.BackchannelLogoutURI = "http://[::1]:9000/logout"
	if _, _, err := v6.Build(Env{Algs: []string{"RS256"}, Dev: true}, time.Now()); err != nil {
		t.Errorf("back-channel on [::1]: %v", err)
	}
	v6.FrontchannelLogoutURI = "http://[::1]:9000/logout"
	if _, _, err := v6.Build(Env{Algs: []string{"RS256"}, Dev: true}, time.Now()); err == nil || !strings.Contains(err.Error(), "IPv4") {
		t.Errorf("front-channel on [::1]: %v, want refused", err)
	}
	// Both kept in the view the admin API and the CLI show.
	c, _, err := Spec{Name: "RP", RedirectURIs: []string{"https://rp.example.com/cb"}, ClientMetadata: storage.ClientMetadata{
		BackchannelLogoutURI: "https://rp.example.com/bc", BackchannelLogoutSessionRequired: true,
		FrontchannelLogoutURI: "https://rp.example.com/fc", FrontchannelLogoutSessionRequired: true}}.Build(Env{Algs: []string{"RS256"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if v := View(c, ""); v.BackchannelLogoutURI != "https://rp.example.com/bc" || !v.BackchannelLogoutSessionRequired ||
		v.FrontchannelLogoutURI != "https://rp.example.com/fc" || !v.FrontchannelLogoutSessionRequired {
		t.Fatalf("view %+v", v.ClientMetadata)
	}
}
