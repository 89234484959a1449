package storagetest

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// testTokenRevocations: a revoked key reads as revoked among others (one
// query), revoking twice is no error, unknown keys are not revoked, and GC
// forgets a revocation once its token has expired.
func testTokenRevocations(t *testing.T, s storage.Store) {
	must(t, s.RevokeTokenKey(ctx, "jti:a", now.Add(time.Hour)))
	must(t, s.RevokeTokenKey(ctx, "jti:a", now.Add(2*time.Hour)))
	must(t, s.RevokeTokenKey(ctx, "jti:b", now.Add(time.Minute)))
	for _, tc := range []struct {
		keys []string
		want bool
	}{
		{[]string{"jti:a"}, true},
		{[]string{"jti:x", "jti:b"}, true},
		{[]string{"jti:x"}, false},
		{nil, false},
	} {
		if got, err := s.TokenKeysRevoked(ctx, tc.keys); err != nil || got != tc.want {
			t.Fatalf("TokenKeysRevoked(%v) = %v, %v; want %v", tc.keys, got, err, tc.want)
		}
	}
	// Concurrent single-key reads (grouped into shared statements) each
	// get their own key's answer.
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			key, want := "jti:a", true
			if i%2 == 1 {
				key, want = "jti:none-"+strconv.Itoa(i), false
			}
			if got, err := s.TokenKeysRevoked(ctx, []string{key}); err != nil || got != want {
				t.Errorf("concurrent TokenKeysRevoked(%s) = %v, %v; want %v", key, got, err, want)
			}
		})
	}
	wg.Wait()
	if _, err := s.GarbageCollect(ctx, now.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.TokenKeysRevoked(ctx, []string{"jti:b"}); got {
		t.Fatal("an expired revocation survived GC")
	}
	if got, _ := s.TokenKeysRevoked(ctx, []string{"jti:a"}); !got {
		t.Fatal("GC removed a revocation before its token expired")
	}
}
