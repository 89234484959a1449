package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/netguard"
	"github.com/gatehouse-id/gatehouse/storage"
)

// PathClientLogo serves a client's registered logo from gatehouse's own
// origin, so the login and consent pages make no request to a third party
// (the user's address is not leaked to it) and the CSP stays img-src 'self'.
const PathClientLogo = "/clients/{id}/logo"

// ClientLogoURL is where the pages show a client's logo.
func ClientLogoURL(clientID string) string { return "/clients/" + clientID + "/logo" }

// Logo limits: raster images only (an SVG served from this origin could
// run script when opened directly), at most maxLogoBytes, kept logoTTL.
const (
	maxLogoBytes  = 256 << 10
	logoTTL       = time.Hour
	logoFailTTL   = 5 * time.Minute
	maxLogoCached = 512
)

var logoTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// logoCache fetches client logos through the guarded client and keeps them
// (or the failure) in memory for a while; a per-replica cache, nothing
// correctness-critical.
type logoCache struct {
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]cachedLogo // by logo URL
}

type cachedLogo struct {
	body        []byte
	contentType string
	fetched     time.Time
	err         error
}

func (lc *logoCache) get(ctx context.Context, uri string) (cachedLogo, error) {
	now := lc.now()
	lc.mu.Lock()
	e, ok := lc.entries[uri]
	lc.mu.Unlock()
	if ok && (e.err == nil && now.Sub(e.fetched) < logoTTL || e.err != nil && now.Sub(e.fetched) < logoFailTTL) {
		return e, e.err
	}
	e = cachedLogo{fetched: now}
	e.body, e.contentType, e.err = lc.fetch(ctx, uri)
	if errors.Is(e.err, context.Canceled) {
		return e, e.err // the caller went away: nothing learned about the logo
	}
	lc.mu.Lock()
	if lc.entries == nil || len(lc.entries) >= maxLogoCached {
		lc.entries = map[string]cachedLogo{}
	}
	lc.entries[uri] = e
	lc.mu.Unlock()
	return e, e.err
}

func (lc *logoCache) fetch(ctx context.Context, uri string) ([]byte, string, error) {
	body, err := netguard.Fetch(ctx, lc.client, "logo_uri", uri, "image/png, image/jpeg, image/gif, image/webp", maxLogoBytes)
	if err != nil {
		return nil, "", err
	}
	// The type is what the bytes are, not what the server says.
	ct := http.DetectContentType(body)
	if !logoTypes[ct] {
		return nil, "", fmt.Errorf("logo is %s, not a PNG, JPEG, GIF or WebP image", ct)
	}
	return body, ct, nil
}

// clientLogo serves a client's logo, or 404 when it has none or it cannot
// be fetched.
func (p *Provider) clientLogo(w http.ResponseWriter, r *http.Request) {
	c, err := p.clients.get(r.Context(), r.PathValue("id"))
	if errors.Is(err, storage.ErrNotFound) || err == nil && c.Metadata.LogoURI == "" {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	logo, err := p.logos.get(r.Context(), c.Metadata.LogoURI)
	if err != nil {
		p.log.Info("client logo unavailable", "client_id", c.ID, "err", err)
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", logo.contentType)
	h.Set("Content-Length", strconv.Itoa(len(logo.body)))
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	_, _ = w.Write(logo.body)
}
