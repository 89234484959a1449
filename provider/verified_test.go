package provider

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore/sqlitetest"
)

// TestVerifiedTokens: a token verified once is taken from memory the next
// time (the same token value), and only while it is unexpired; a token
// altered in any byte is checked afresh and refused.
func TestVerifiedTokens(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	km := testKeys(t)
	signer := &keys.Signer{Manager: km, Type: "at+jwt"}
	tok, _, err := signer.Generate(ctx, fjwt.MapClaims{"iss": "https://id.example", "jti": "j1", "exp": now.Add(time.Minute).Unix()},
		&fjwt.Headers{Extra: map[string]any{"alg": keys.HeaderAlg(keys.ES256)}})
	if err != nil {
		t.Fatal(err)
	}
	var v verifiedTokens
	first, err := v.decode(ctx, signer, tok, now)
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.decode(ctx, signer, tok, now)
	if err != nil || again != first {
		t.Fatalf("second decode: %v (same token: %v)", err, again == first)
	}
	// Past its expiry it is not taken from memory (and the signer refuses it).
	if later, err := v.decode(ctx, signer, tok, now.Add(2*time.Minute)); err == nil && later == first {
		t.Error("an expired token came from memory")
	}
	parts := strings.Split(tok, ".")
	sig := []byte(parts[2])
	sig[5] ^= 1
	if _, err := v.decode(ctx, signer, parts[0]+"."+parts[1]+"."+string(sig), now); err == nil {
		t.Error("a token with an altered signature was accepted")
	}
}

// testKeys is a key manager on a throwaway SQLite database: an ES256
// signing key and the opaque-token secrets.
func testKeys(t *testing.T) *keys.Manager {
	t.Helper()
	cipher, err := keys.NewCipher([][]byte{[]byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	km, err := keys.NewManager(context.Background(), sqlitetest.Open(t), cipher, keys.Options{Algs: []string{keys.ES256}, RotationPeriod: 30 * 24 * time.Hour,
		PrePublish: time.Hour, MaxTokenLifetime: time.Hour, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return km
}
