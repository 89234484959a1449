package frontchannel_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/frontchannel"
	"github.com/gatehouse-id/gatehouse/storage"
)

const issuer = "https://id.example.com"

// TestFrames: which frames a signed-out page loads, and the CSP that
// allows exactly them.
func TestFrames(t *testing.T) {
	plain := storage.Client{ID: "plain", Name: "Plain", Metadata: storage.ClientMetadata{FrontchannelLogoutURI: "https://plain.example/fc"}}
	sid := storage.Client{ID: "sid", Name: "Sid", Metadata: storage.ClientMetadata{FrontchannelLogoutURI: "https://sid.example:8443/a;b,c/fc?tenant=x", FrontchannelLogoutSessionRequired: true}}
	bcOnly := storage.Client{ID: "bc-only", Name: "Back", Metadata: storage.ClientMetadata{BackchannelLogoutURI: "https://bc.example/bc"}}
	root := storage.Client{ID: "root", Name: "Root", Metadata: storage.ClientMetadata{FrontchannelLogoutURI: "http://127.0.0.1:9000"}}
	// Registration refuses an IPv6 literal (CSP cannot name one); a row
	// written before that rule is skipped.
	v6 := storage.Client{ID: "v6", Name: "V6", Metadata: storage.ClientMetadata{FrontchannelLogoutURI: "http://[::1]:9000/fc"}}
	for _, tc := range []struct {
		name    string
		ended   []frontchannel.Session
		urls    []string
		wantCSP string
	}{
		{"no clients", []frontchannel.Session{{SID: "s1"}}, nil, "default-src 'none'"},
		{"clients without a usable front-channel URI are skipped", []frontchannel.Session{{SID: "s1", Clients: []storage.Client{bcOnly, v6}}}, nil, "default-src 'none'"},
		{"one session", []frontchannel.Session{{SID: "s1", Clients: []storage.Client{plain, sid, root}}},
			[]string{"https://plain.example/fc", "https://sid.example:8443/a;b,c/fc?iss=https%3A%2F%2Fid.example.com&sid=s1&tenant=x", "http://127.0.0.1:9000"},
			"default-src 'none'; frame-src https://plain.example/fc https://sid.example:8443/a%3Bb%2Cc/fc http://127.0.0.1:9000/"},
		{"two sessions: one frame per sid only where the client asks for sid", []frontchannel.Session{{SID: "s1", Clients: []storage.Client{plain, sid}}, {SID: "s2", Clients: []storage.Client{sid, plain}}},
			[]string{"https://plain.example/fc", "https://sid.example:8443/a;b,c/fc?iss=https%3A%2F%2Fid.example.com&sid=s1&tenant=x", "https://sid.example:8443/a;b,c/fc?iss=https%3A%2F%2Fid.example.com&sid=s2&tenant=x"},
			"default-src 'none'; frame-src https://plain.example/fc https://sid.example:8443/a%3Bb%2Cc/fc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames := frontchannel.Frames(issuer, tc.ended)
			var urls []string
			for _, f := range frames {
				urls = append(urls, f.URL)
			}
			if !reflect.DeepEqual(urls, tc.urls) {
				t.Errorf("frames %q, want %q", urls, tc.urls)
			}
			h := http.Header{"Content-Security-Policy": {"default-src 'none'"}}
			frontchannel.Allow(h, frames)
			if got := h.Get("Content-Security-Policy"); got != tc.wantCSP {
				t.Errorf("CSP %q, want %q", got, tc.wantCSP)
			}
		})
	}
	// Bounded however many sessions end.
	var many []frontchannel.Session
	for i := 0; i < 3*frontchannel.MaxFrames; i++ {
		many = append(many, frontchannel.Session{SID: string(rune('a'+i%26)) + string(rune('a'+i/26)), Clients: []storage.Client{sid}})
	}
	if frames := frontchannel.Frames(issuer, many); len(frames) != frontchannel.MaxFrames {
		t.Fatalf("%d frames; want %d", len(frames), frontchannel.MaxFrames)
	}
}
