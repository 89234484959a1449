package provider

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/netguard"
)

func TestLogoCache(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/logo.png":
			w.Header().Set("Content-Type", "image/svg+xml") // the bytes decide, not the header
			_, _ = w.Write(buf.Bytes())
		case "/logo.svg":
			_, _ = w.Write([]byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
		case "/big.png":
			_, _ = w.Write(append(buf.Bytes(), make([]byte, maxLogoBytes)...))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	lc := &logoCache{client: srv.Client(), now: func() time.Time { return now }}
	ctx := context.Background()
	tests := []struct {
		path, wantType string
		ok             bool
	}{
		{"/logo.png", "image/png", true},
		{"/logo.svg", "", false},
		{"/big.png", "", false},
		{"/missing.png", "", false},
	}
	for _, tt := range tests {
		logo, err := lc.get(ctx, srv.URL+tt.path)
		if (err == nil) != tt.ok || logo.contentType != tt.wantType {
			t.Errorf("%s: %q %v, want ok=%v %q", tt.path, logo.contentType, err, tt.ok, tt.wantType)
		}
	}
	before := hits.Load()
	for _, tt := range tests {
		_, _ = lc.get(ctx, srv.URL+tt.path)
	}
	if hits.Load() != before {
		t.Errorf("cached logos (and failures) were fetched again: %d more requests", hits.Load()-before)
	}
	now = now.Add(logoTTL + time.Second)
	if _, err := lc.get(ctx, srv.URL+"/logo.png"); err != nil || hits.Load() != before+1 {
		t.Errorf("an expired logo is fetched again: %v, %d requests", err, hits.Load()-before)
	}
	// The guarded client refuses loopback outside --dev.
	guarded := &logoCache{client: netguard.Client("logo_uri", false), now: time.Now}
	if _, err := guarded.get(ctx, srv.URL+"/logo.png"); err == nil {
		t.Error("the guarded client fetched from a loopback address")
	}
}
