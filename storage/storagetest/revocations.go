package storagetest

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// testTokenRevocations: a revoked key reads as revoked (grouped, or inside
// a transaction), revoking twice is no error, unknown keys are not revoked, and GC
// forgets a revocation once its token has expired.
func testTokenRevocations(t *testing.T, s storage.Store) {
	must(t, s.RevokeTokenKey(ctx, "jti:a", now.Add(time.Hour)))
	must(t, s.RevokeTokenKey(ctx, "jti:a", now.Add(2*time.Hour)))
	must(t, s.RevokeTokenKey(ctx, "jti:b", now.Add(time.Minute)))
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"jti:a", true},
		{"jti:b", true},
		{"jti:x", false},
		{"", false},
	} {
		if got, err := s.TokenKeyRevoked(ctx, tc.key); err != nil || got != tc.want {
			t.Fatalf("TokenKeyRevoked(%q) = %v, %v; want %v", tc.key, got, err, tc.want)
		}
	}
	// Read inside a transaction (not grouped), too.
	must(t, s.InTx(ctx, func(ctx context.Context) error {
		if got, err := s.TokenKeyRevoked(ctx, "jti:a"); err != nil || !got {
			t.Errorf("TokenKeyRevoked in a transaction = %v, %v; want true", got, err)
		}
		return nil
	}))
	// Concurrent single-key reads (grouped into shared statements) each
	// get their own key's answer.
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			key, want := "jti:a", true
			if i%2 == 1 {
				key, want = "jti:none-"+strconv.Itoa(i), false
			}
			if got, err := s.TokenKeyRevoked(ctx, key); err != nil || got != want {
				t.Errorf("concurrent TokenKeyRevoked(%s) = %v, %v; want %v", key, got, err, want)
			}
		})
	}
	wg.Wait()
	if _, err := s.GarbageCollect(ctx, now.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.TokenKeyRevoked(ctx, "jti:b"); got {
		t.Fatal("an expired revocation survived GC")
	}
	if got, _ := s.TokenKeyRevoked(ctx, "jti:a"); !got {
		t.Fatal("GC removed a revocation before its token expired")
	}
}
