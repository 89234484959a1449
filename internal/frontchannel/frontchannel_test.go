package frontchannel_test

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/frontchannel"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore/sqlitetest"
)

const issuer = "https://id.example.com"

// TestFrames: which frames a signed-out page loads, and the CSP that
// allows exactly them.
func TestFrames(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	for _, c := range []storage.Client{
		{ID: "plain", Name: "Plain", Metadata: storage.ClientMetadata{FrontchannelLogoutURI: "https://plain.example/fc"}},
		{ID: "sid", Name: "Sid", Metadata: storage.ClientMetadata{FrontchannelLogoutURI: "https://sid.example:8443/a;b,c/fc?tenant=x", FrontchannelLogoutSessionRequired: true}},
		{ID: "bc-only", Name: "Back", Metadata: storage.ClientMetadata{BackchannelLogoutURI: "https://bc.example/bc"}},
		{ID: "root", Name: "Root", Metadata: storage.ClientMetadata{FrontchannelLogoutURI: "http://127.0.0.1:9000"}},
	} {
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		ended   []frontchannel.Session
		urls    []string
		wantCSP string
	}{
		{"no clients", []frontchannel.Session{{SID: "s1"}}, nil, "default-src 'none'"},
		{"back-channel only and deleted clients are skipped", []frontchannel.Session{{SID: "s1", Clients: []string{"bc-only", "gone"}}}, nil, "default-src 'none'"},
		{"one session", []frontchannel.Session{{SID: "s1", Clients: []string{"plain", "sid", "root"}}},
			[]string{"https://plain.example/fc", "https://sid.example:8443/a;b,c/fc?iss=https%3A%2F%2Fid.example.com&sid=s1&tenant=x", "http://127.0.0.1:9000"},
			"default-src 'none'; frame-src https://plain.example/fc https://sid.example:8443/a%3Bb%2Cc/fc http://127.0.0.1:9000/"},
		{"two sessions: one frame per sid only where the client asks for sid", []frontchannel.Session{{SID: "s1", Clients: []string{"plain", "sid"}}, {SID: "s2", Clients: []string{"sid", "plain"}}},
			[]string{"https://plain.example/fc", "https://sid.example:8443/a;b,c/fc?iss=https%3A%2F%2Fid.example.com&sid=s1&tenant=x", "https://sid.example:8443/a;b,c/fc?iss=https%3A%2F%2Fid.example.com&sid=s2&tenant=x"},
			"default-src 'none'; frame-src https://plain.example/fc https://sid.example:8443/a%3Bb%2Cc/fc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames, err := frontchannel.Frames(ctx, st, issuer, tc.ended)
			if err != nil {
				t.Fatal(err)
			}
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
		many = append(many, frontchannel.Session{SID: string(rune('a'+i%26)) + string(rune('a'+i/26)), Clients: []string{"sid"}})
	}
	if frames, err := frontchannel.Frames(ctx, st, issuer, many); err != nil || len(frames) != frontchannel.MaxFrames {
		t.Fatalf("%d frames, %v; want %d", len(frames), err, frontchannel.MaxFrames)
	}
}
