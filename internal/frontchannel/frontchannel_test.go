package frontchannel_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"slices"
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

// clientMap is a client read that knows some clients and fails for one.
type clientMap map[string]storage.Client

var errUnavailable = errors.New("database unavailable")

func (m clientMap) GetClient(_ context.Context, id string) (storage.Client, error) {
	if id == "broken" {
		return storage.Client{}, errUnavailable
	}
	if c, ok := m[id]; ok {
		return c, nil
	}
	return storage.Client{}, storage.ErrNotFound
}

// TestEnded: the ended session's clients are read in order, a deleted one
// is skipped without an error, and a failing read is returned with the
// clients that could be read.
func TestEnded(t *testing.T) {
	clients := clientMap{"a": {ID: "a", Name: "App A"}, "b": {ID: "b", Name: "App B"}}
	for _, tc := range []struct {
		name    string
		ids     []string
		want    []string
		wantErr bool
	}{
		{"all there", []string{"a", "b"}, []string{"a", "b"}, false},
		{"one deleted", []string{"a", "gone", "b"}, []string{"a", "b"}, false},
		{"one unreadable", []string{"broken", "b"}, []string{"b"}, true},
		{"none", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := frontchannel.Ended(context.Background(), clients, "sid-1", tc.ids)
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, errUnavailable)) {
				t.Errorf("error %v, want one: %v", err, tc.wantErr)
			}
			var got []string
			for _, c := range s.Clients {
				got = append(got, c.ID)
			}
			if s.SID != "sid-1" || !slices.Equal(got, tc.want) {
				t.Errorf("session %q with %v, want sid-1 with %v", s.SID, got, tc.want)
			}
		})
	}
}
