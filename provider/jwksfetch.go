package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/internal/netguard"
)

// jwksFetcher fetches the key sets clients publish at their jwks_uri, for
// private_key_jwt. It bounds time and size, caches each set, refetches when
// fosite meets an unknown kid (at most once per minRefetch per URI), and
// refuses to connect to any address outside public unicast space (every
// IANA special-purpose range, see netguard) unless allowPrivate (a registered jwks_uri must not become a way into the
// server's network).
type jwksFetcher struct {
	client     *http.Client
	ttl        time.Duration
	minRefetch time.Duration
	now        func() time.Time

	mu    sync.Mutex
	cache map[string]cachedSet
}

type cachedSet struct {
	set     *josev3.JSONWebKeySet
	fetched time.Time
}

// maxJWKSBytes bounds a client's key set.
const maxJWKSBytes = 256 << 10

var _ fosite.JWKSFetcherStrategy = (*jwksFetcher)(nil)

func newJWKSFetcher(allowPrivate bool, now func() time.Time) *jwksFetcher {
	return &jwksFetcher{
		client: netguard.Client("jwks_uri", allowPrivate),
		ttl:    10 * time.Minute, minRefetch: time.Second, now: now, cache: map[string]cachedSet{},
	}
}

// Resolve returns the key set at location, from the cache unless it is stale
// or forceRefresh asks for a fresh copy.
func (f *jwksFetcher) Resolve(ctx context.Context, location string, forceRefresh bool) (*josev3.JSONWebKeySet, error) {
	now := f.now()
	f.mu.Lock()
	c, ok := f.cache[location]
	f.mu.Unlock()
	if ok && (now.Sub(c.fetched) < f.ttl && !forceRefresh || now.Sub(c.fetched) < f.minRefetch) {
		return c.set, nil
	}
	set, err := f.fetch(ctx, location)
	if err != nil {
		return nil, fosite.ErrInvalidClient.WithHint("The client's jwks_uri could not be fetched.").WithWrap(err).WithDebug(err.Error())
	}
	f.mu.Lock()
	if len(f.cache) > 10000 {
		f.cache = map[string]cachedSet{}
	}
	f.cache[location] = cachedSet{set: set, fetched: now}
	f.mu.Unlock()
	return set, nil
}

func (f *jwksFetcher) fetch(ctx context.Context, location string) (*josev3.JSONWebKeySet, error) {
	body, err := netguard.Fetch(ctx, f.client, "jwks_uri", location, "application/json", maxJWKSBytes)
	if err != nil {
		return nil, err
	}
	var set josev3.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("jwks_uri document is not a JWK set: %w", err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return nil, fmt.Errorf("jwks_uri publishes private key material (kid %q)", k.KeyID)
		}
	}
	return &set, nil
}
