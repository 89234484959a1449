package keys

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
)

func newStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "k.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func cipherFor(t *testing.T, secrets ...string) *Cipher {
	var b [][]byte
	for _, s := range secrets {
		b = append(b, []byte(s))
	}
	c, err := NewCipher(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var secretA, secretB = strings.Repeat("a", 32), strings.Repeat("b", 32)

func TestManagerSignsAndPublishes(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	m, err := NewManager(ctx, st, cipherFor(t, secretA), nil)
	if err != nil {
		t.Fatal(err)
	}
	set := m.PublicKeys(ctx)
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys", len(set.Keys))
	}
	raw, _ := json.Marshal(set)
	for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`, `"k"`} {
		if strings.Contains(string(raw), private+":") {
			t.Fatalf("JWKS contains %s: %s", private, raw)
		}
	}
	s := &Signer{Manager: m}
	tok, _, err := s.Generate(ctx, fjwt.MapClaims{"sub": "alice", "rat": 1, "exp": time.Now().Add(time.Minute).Unix()}, &fjwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Header
	if h.KeyID != set.Keys[0].KeyID || h.ExtraHeaders["typ"] != "JWT" {
		t.Fatalf("header kid=%q typ=%v", h.KeyID, h.ExtraHeaders["typ"])
	}
	payload, err := jws.Verify(set.Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(payload), `"rat"`) {
		t.Fatal("rat claim was signed")
	}
	if _, err := s.Decode(ctx, tok); err != nil {
		t.Fatalf("Decode own token: %v", err)
	}
	// A token with alg none or a forged signature does not decode.
	parts := strings.Split(tok, ".")
	for _, bad := range []string{"eyJhbGciOiJub25lIn0." + parts[1] + ".", parts[0] + "." + parts[1] + ".AAAA"} {
		if _, err := s.Decode(ctx, bad); err == nil {
			t.Errorf("forged token %q decoded", bad[:20])
		}
	}
	// A second manager on the same database uses the same key: not regenerated.
	m2, err := NewManager(ctx, st, cipherFor(t, secretA), nil)
	if err != nil {
		t.Fatal(err)
	}
	if k := m2.PublicKeys(ctx); len(k.Keys) != 1 || k.Keys[0].KeyID != set.Keys[0].KeyID {
		t.Fatal("restart generated a new key")
	}
	// Secrets persist too.
	a, _ := m.Secret(ctx, "hmac")
	b, _ := m2.Secret(ctx, "hmac")
	if string(a) != string(b) || len(a) != 32 {
		t.Fatal("server secret not shared")
	}
}

func TestManagerRefusesWrongSecret(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	if _, err := NewManager(ctx, st, cipherFor(t, secretA), nil); err != nil {
		t.Fatal(err)
	}
	before, _ := st.ListKeys(ctx)
	_, err := NewManager(ctx, st, cipherFor(t, secretB), nil)
	if !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), before[0].ID) || !strings.Contains(err.Error(), "GATEHOUSE_SECRETS") {
		t.Fatalf("wrong secret: %v, want ErrDecrypt naming key %s and the setting", err, before[0].ID)
	}
	after, _ := st.ListKeys(ctx)
	if len(after) != len(before) {
		t.Fatal("a wrong secret led to a new key")
	}
	// Rotation of the key-encryption secret: new first, old still opens.
	if _, err := NewManager(ctx, st, cipherFor(t, secretB, secretA), nil); err != nil {
		t.Fatalf("rotated secrets: %v", err)
	}
}

func TestManagerRefusesSwappedRow(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	m, err := NewManager(ctx, st, cipherFor(t, secretA), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Seal a second key row, then swap the two rows' ciphertexts.
	if err := m.create(ctx, jose.RS256); err != nil {
		t.Fatal(err)
	}
	keys, _ := st.ListKeys(ctx)
	if _, err := st.DB().Exec(`UPDATE signing_keys SET private_sealed = $1 WHERE id = $2`, keys[1].Private, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := NewManager(ctx, st, cipherFor(t, secretA), nil); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("swapped row: %v, want ErrDecrypt", err)
	}
}
