package provider

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// decodeStored reads a row as load does.
func decodeStored(t *testing.T, data []byte) (storedRequest, *session) {
	t.Helper()
	var sr storedRequest
	if err := json.Unmarshal(data, &sr); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	sess := newSession()
	if err := json.Unmarshal(sr.Session, sess); err != nil {
		t.Fatalf("decode session %s: %v", sr.Session, err)
	}
	sr.Session = nil
	// encoding/json wrote a nil Claims or Headers as null, which empties the
	// prototype's; the hand-written form leaves the prototype's empty ones.
	if sess.Claims == nil {
		sess.Claims = &jwt.IDTokenClaims{}
	}
	if sess.Headers == nil {
		sess.Headers = &jwt.Headers{}
	}
	return sr, sess
}

// TestEncodeStored: a row written by hand decodes to the same request and
// session as one written by encoding/json (the earlier form, still in
// databases), and is smaller.
func TestEncodeStored(t *testing.T) {
	at := time.Date(2026, 11, 26, 2, 29, 27, 171471753, time.UTC)
	full := &openid.DefaultSession{
		Claims: &jwt.IDTokenClaims{JTI: "j", Issuer: "https://id.example", Subject: "user-1", Audience: []string{"a", "b"}, Nonce: "n\"\\",
			ExpiresAt: at.Add(time.Hour), IssuedAt: at, RequestedAt: at, AuthTime: at.Add(-time.Minute), AccessTokenHash: "ah",
			AuthenticationContextClassReference: "urn:gatehouse:acr:2fa", AuthenticationMethodsReferences: []string{"pwd", "otp", "mfa"},
			CodeHash: "ch", Extra: map[string]any{"sid": "s-1", "n": 1.5, "nested": map[string]any{"x": []any{"y"}}}},
		Headers:   &jwt.Headers{Extra: map[string]any{"kid": "k1"}},
		ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: at.Add(time.Hour), fosite.RefreshToken: at.Add(720 * time.Hour), fosite.AuthorizeCode: at.Add(time.Minute)},
		Username:  "ada@example.com", Subject: "user-1",
	}
	tests := []struct {
		name string
		sr   storedRequest
		sess fosite.Session
	}{
		{"client credentials", storedRequest{ID: "r1", RequestedAt: at, ClientID: "bench", GrantedScope: []string{}, Form: url.Values{"grant_type": {"client_credentials"}}},
			&openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{Extra: map[string]any{}},
				ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: at.Add(time.Hour)}}},
		{"login", storedRequest{ID: "r2", RequestedAt: at, ClientID: "rp", RequestedScope: []string{"openid", "email"}, GrantedScope: []string{"openid"},
			Form:              url.Values{"redirect_uri": {"https://rp.example/cb?a=1&b=<2>"}, "scope": {"openid email"}, "nonce": {"n"}, "multi": {"1", "2"}},
			RequestedAudience: []string{"api"}, GrantedAudience: []string{"api"}}, full},
		{"pushed request", storedRequest{ID: "r3", RequestedAt: at, ClientID: "rp", Form: url.Values{"state": {"s"}},
			Authorize: &storedAuthorize{ResponseTypes: []string{"code"}, RedirectURI: "https://rp.example/cb", State: "s", ResponseMode: "query", DefaultResponseMode: "query"}}, full},
		{"awkward strings", storedRequest{ID: "r4\x00\x1f", RequestedAt: at.In(time.FixedZone("X", 3600)), ClientID: "c\u2028\u2029é漢\xff\xfe",
			Form: url.Values{"k\"ey\n": {"v\\al\tue\r", "<script>&"}}}, &openid.DefaultSession{Subject: "\x7f\u00a0", Username: "🔑"}},
		{"nil claims and headers", storedRequest{ID: "r5", ClientID: "c"}, &openid.DefaultSession{}},
		{"userinfo claims", storedRequest{ID: "r6", ClientID: "rp", GrantedScope: []string{"openid"}},
			&session{DefaultSession: *full, UserinfoClaims: []string{"email", "name"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			compact, err := encodeStored(&tt.sr, tt.sess)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(compact) {
				t.Fatalf("not JSON: %s", compact)
			}
			old, err := json.Marshal(struct {
				storedRequest
				Session fosite.Session `json:"session"`
			}{tt.sr, tt.sess})
			if err != nil {
				t.Fatal(err)
			}
			if len(compact) > len(old) {
				t.Errorf("compact form %d bytes, encoding/json's %d", len(compact), len(old))
			}
			srA, sessA := decodeStored(t, compact)
			srB, sessB := decodeStored(t, old)
			// Compare in one canonical form (nil and empty slices alike).
			a, _ := encodeStored(&srA, sessA)
			b, _ := encodeStored(&srB, sessB)
			if !bytes.Equal(a, b) {
				t.Errorf("decoded differently:\nhand-written  %s\nencoding/json %s", a, b)
			}
			if want := sessionUserinfo(tt.sess); !slices.Equal(sessA.UserinfoClaims, want) {
				t.Errorf("userinfo claims %v, want %v", sessA.UserinfoClaims, want)
			}
			if !srA.RequestedAt.Equal(tt.sr.RequestedAt) || utf8.ValidString(tt.sr.ClientID) && srA.ClientID != tt.sr.ClientID {
				t.Errorf("request fields changed: %+v", srA)
			}
		})
	}
}

func sessionUserinfo(s fosite.Session) []string {
	if s, ok := s.(*session); ok {
		return s.UserinfoClaims
	}
	return nil
}

// FuzzJSONString: the hand-written string encoding reads back as
// encoding/json's does, whatever the bytes.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\/", "\x00\x1f\x7f", "\u2028\u2029", "é漢🔑", "\xff\xfe\xfd", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		var a, b string
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%q encoded as %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		if err := json.Unmarshal(want, &b); err != nil {
			t.Fatal(err)
		}
		if a != b {
			t.Fatalf("%q: hand-written reads back %q, encoding/json %q", s, a, b)
		}
	})
}

func BenchmarkEncodeStored(b *testing.B) {
	at := time.Now()
	sr := storedRequest{ID: "a66f264c-096d-497a-8a85-47bb5ce5589b", RequestedAt: at, ClientID: "bench", GrantedScope: []string{}, Form: url.Values{"grant_type": {"client_credentials"}}}
	sess := &openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{Extra: map[string]any{}},
		ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: at.Add(time.Hour)}}
	b.Run("hand-written", func(b *testing.B) {
		for b.Loop() {
			encodeStored(&sr, sess)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(struct {
				storedRequest
				Session fosite.Session `json:"session"`
			}{sr, sess})
		}
	})
}
