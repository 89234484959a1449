package provider

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// clientCacheTTL bounds how stale a cached client may be: a client changed
// or deleted by another process (the CLI, another replica) is seen within it.
const clientCacheTTL = 5 * time.Second

// clientCache keeps recently used clients in memory so the token endpoint
// does not re-read the client for every record of one request. Lookups that
// miss go to the store without holding the lock.
type clientCache struct {
	store interface {
		GetClient(ctx context.Context, id string) (storage.Client, error)
	}
	now func() time.Time

	mu      sync.Mutex
	entries map[string]cachedClient
}

type cachedClient struct {
	c       storage.Client
	fetched time.Time
}

// maxCachedClients bounds the cache; beyond it, the map is reset.
const maxCachedClients = 10000

func (cc *clientCache) get(ctx context.Context, id string) (storage.Client, error) {
	now := cc.now()
	cc.mu.Lock()
	e, ok := cc.entries[id]
	cc.mu.Unlock()
	if ok && now.Sub(e.fetched) < clientCacheTTL {
		return e.c, nil
	}
	c, err := cc.store.GetClient(ctx, id)
	if err != nil {
		return c, err
	}
	cc.mu.Lock()
	if cc.entries == nil || len(cc.entries) >= maxCachedClients {
		cc.entries = map[string]cachedClient{}
	}
	cc.entries[id] = cachedClient{c: c, fetched: now}
	cc.mu.Unlock()
	return c, nil
}

// forget drops a client this process changed or deleted, so the change
// takes effect here at once (other processes see it within the TTL).
func (cc *clientCache) forget(id string) {
	cc.mu.Lock()
	delete(cc.entries, id)
	cc.mu.Unlock()
}

// dropIfCached forgets a cached client and reports whether it was cached:
// a failed authentication against a cached client is retried once against
// the database, so a secret rotated by another process works at once.
func (cc *clientCache) dropIfCached(id string) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if _, ok := cc.entries[id]; !ok {
		return false
	}
	delete(cc.entries, id)
	return true
}
