package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// The storage hot paths on both databases. Run with
//
//	make bench-storage
//
// (or scripts/with-postgres.sh go test -run '^$' -bench . ./storage/sqlstore).
func BenchmarkStorage(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			url := "sqlite://" + filepath.Join(b.TempDir(), "bench.db")
			if name == "postgres" {
				url = storagetest.PostgresURL(b)
			}
			st := open(b, url)
			ctx := context.Background()
			now := time.Now().UTC()
			if err := st.CreateClient(ctx, storage.Client{ID: "bench", Name: "Bench", RedirectURIs: []string{"https://a.example/cb"}, GrantTypes: []string{"authorization_code"},
				ResponseTypes: []string{"code"}, Scopes: []string{"openid"}, TokenEndpointAuthMethod: "client_secret_basic", CreatedAt: now, UpdatedAt: now}); err != nil {
				b.Fatal(err)
			}
			data := []byte(`{"id":"r","client_id":"bench","granted_scope":["openid","offline_access"],"session":{"subject":"alice"}}`)
			var seq atomic.Int64
			b.Run("get client", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := st.GetClient(ctx, "bench"); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
			b.Run("create access token", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						n := seq.Add(1)
						if err := st.CreateToken(ctx, storage.Token{Kind: storage.TokenAccess, Signature: fmt.Sprint("at-", n), RequestID: fmt.Sprint("r-", n),
							ClientID: "bench", Subject: "alice", Active: true, ExpiresAt: now.Add(time.Hour), CreatedAt: now, Data: data}); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
			b.Run("rotate refresh token", func(b *testing.B) {
				// What one refresh does in its transaction: retire the old
				// token, drop the family's access tokens, store the new pair.
				b.RunParallel(func(pb *testing.PB) {
					n := seq.Add(1)
					req := fmt.Sprint("fam-", n)
					old := fmt.Sprint("rt-", n, "-0")
					if err := st.CreateToken(ctx, storage.Token{Kind: storage.TokenRefresh, Signature: old, RequestID: req, ClientID: "bench", Subject: "alice", Active: true, ExpiresAt: now.Add(time.Hour), CreatedAt: now, Data: data}); err != nil {
						b.Fatal(err)
					}
					for i := 1; pb.Next(); i++ {
						next := fmt.Sprint("rt-", n, "-", i)
						err := st.InTx(ctx, func(ctx context.Context) error {
							if err := st.DeactivateToken(ctx, storage.TokenRefresh, old); err != nil {
								return err
							}
							if _, err := st.DeleteTokensByRequestID(ctx, storage.TokenAccess, req); err != nil {
								return err
							}
							if err := st.CreateToken(ctx, storage.Token{Kind: storage.TokenAccess, Signature: fmt.Sprint("at-", next), RequestID: req, ClientID: "bench", Subject: "alice", Active: true, ExpiresAt: now.Add(time.Hour), CreatedAt: now, Data: data}); err != nil {
								return err
							}
							return st.CreateToken(ctx, storage.Token{Kind: storage.TokenRefresh, Signature: next, RequestID: req, ClientID: "bench", Subject: "alice", Active: true, ExpiresAt: now.Add(time.Hour), CreatedAt: now, Data: data})
						})
						if err != nil {
							b.Fatal(err)
						}
						old = next
					}
				})
			})
		})
	}
}
