package provider

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/storage"
)

// CORS for the endpoints a browser-based client (an SPA, a public client)
// calls from its own origin: token, revocation, introspection and userinfo.
// A client's origins are those of its https (or loopback http) redirect
// URIs plus the allowed_cors_origins it registered. A preflight is answered
// for an origin some client has; an actual response carries
// Access-Control-Allow-Origin only for an origin of the client the request
// is for. No credentials (cookies) are ever allowed, and no other endpoint
// is opened.

// clientOrigins lists a client's CORS origins.
func clientOrigins(c storage.Client) []string {
	var out []string
	for _, raw := range append(slices.Clone(c.RedirectURIs), c.Metadata.AllowedCORSOrigins...) {
		if o, ok := clientspec.WebOrigin(raw); ok && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// corsIndex is the union of every client's origins, for preflights, which
// name no client; rebuilt at most every corsIndexTTL.
type corsIndex struct {
	mu      sync.Mutex
	origins map[string]bool
	built   time.Time
}

const corsIndexTTL = 30 * time.Second

func (p corsGuard) anyClientAllows(ctx context.Context, origin string) (bool, error) {
	p.cors.mu.Lock()
	defer p.cors.mu.Unlock()
	if p.cors.origins == nil || p.now().Sub(p.cors.built) > corsIndexTTL {
		clients, err := p.store.Clients.ListClients(ctx)
		if err != nil {
			return false, err
		}
		idx := map[string]bool{}
		for _, c := range clients {
			for _, o := range clientOrigins(c) {
				idx[o] = true
			}
		}
		p.cors.origins, p.cors.built = idx, p.now()
	}
	return p.cors.origins[strings.ToLower(origin)], nil
}

// preflight answers a CORS preflight for the browser-callable endpoints.
func (p corsGuard) preflight(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	ok, err := p.anyClientAllows(r.Context(), origin)
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	if origin == "" || !ok {
		w.WriteHeader(http.StatusNoContent) // no CORS headers: the browser refuses
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// allowOrigin lets the browser read this response when the request's
// Origin is one of clientID's origins.
func (p corsGuard) allowOrigin(ctx context.Context, w http.ResponseWriter, r *http.Request, clientID string) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	w.Header().Add("Vary", "Origin")
	if clientID == "" {
		return
	}
	c, err := p.clients.get(ctx, clientID)
	if err != nil {
		return
	}
	if slices.Contains(clientOrigins(c), strings.ToLower(origin)) {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate")
	}
}

// requestClientID is the client a form request names, before it is
// authenticated: the Basic user name (form-decoded, RFC 6749 §2.3.1), else
// client_id in the body.
func requestClientID(r *http.Request) string {
	if user, _, ok := r.BasicAuth(); ok {
		if id, err := url.QueryUnescape(user); err == nil {
			return id
		}
	}
	return r.PostForm.Get("client_id")
}

// withCORS answers a form endpoint's response with the CORS headers of the
// client it names.
func (p corsGuard) withCORS(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" && r.ParseForm() == nil {
			p.allowOrigin(r.Context(), w, r, requestClientID(r))
		}
		next(w, r)
	}
}
