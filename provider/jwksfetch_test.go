package provider

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
)

func TestJWKSFetcher(t *testing.T) {
	var hits atomic.Int64
	body := `{"keys":[{"kty":"EC","crv":"P-256","kid":"a","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/big":
			_, _ = w.Write([]byte(`{"keys":[` + strings.Repeat(" ", maxJWKSBytes) + `]}`))
		case "/private":
			_, _ = w.Write([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
		case "/redirect":
			http.Redirect(w, r, "/jwks", http.StatusFound)
		default:
			_, _ = w.Write([]byte(body))
		}
	}))
	defer srv.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ctx := context.Background()

	f := newJWKSFetcher(true, clock)
	set, err := f.Resolve(ctx, srv.URL+"/jwks", false)
	if err != nil || len(set.Keys) != 1 || set.Keys[0].KeyID != "a" {
		t.Fatalf("Resolve = %v, %v", set, err)
	}
	if _, err := f.Resolve(ctx, srv.URL+"/jwks", true); err != nil || hits.Load() != 1 {
		t.Fatalf("a forced refresh within minRefetch went out (%d fetches)", hits.Load())
	}
	now = now.Add(2 * time.Second)
	if _, err := f.Resolve(ctx, srv.URL+"/jwks", true); err != nil || hits.Load() != 2 {
		t.Fatalf("a forced refresh after minRefetch did not go out (%d fetches)", hits.Load())
	}
	if _, err := f.Resolve(ctx, srv.URL+"/jwks", false); err != nil || hits.Load() != 2 {
		t.Fatal("a cached set was refetched")
	}
	for _, path := range []string{"/big", "/private", "/redirect"} {
		if _, err := f.Resolve(ctx, srv.URL+path, false); !errors.Is(err, fosite.ErrInvalidClient) {
			t.Errorf("%s: %v, want invalid_client", path, err)
		}
	}
	// Outside development a jwks_uri may not reach loopback or private addresses.
	guarded := newJWKSFetcher(false, clock)
	before := hits.Load()
	if _, err := guarded.Resolve(ctx, srv.URL+"/jwks", false); !errors.Is(err, fosite.ErrInvalidClient) || hits.Load() != before {
		t.Fatalf("loopback jwks_uri fetched: %v (%d requests reached it)", err, hits.Load()-before)
	}
}
