package keys

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func openStore(t testing.TB, url string) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), url, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func newStore(t *testing.T) *sqlstore.Store {
	return openStore(t, "sqlite://"+filepath.Join(t.TempDir(), "k.db"))
}

func cipherFor(t testing.TB, secrets ...string) *Cipher {
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

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func opts(c *clock, algs ...string) Options {
	return Options{Algs: algs, RotationPeriod: 30 * 24 * time.Hour, PrePublish: 24 * time.Hour, MaxTokenLifetime: 2 * time.Hour,
		ReloadInterval: time.Minute, Now: c.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

func sign(t *testing.T, m *Manager, alg string) string {
	t.Helper()
	s := &Signer{Manager: m}
	hdr := &fjwt.Headers{Extra: map[string]interface{}{}}
	if alg != "" {
		hdr.Extra["alg"] = HeaderAlg(alg)
	}
	tok, _, err := s.Generate(context.Background(), fjwt.MapClaims{"sub": "alice", "rat": 1}, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// verify checks a token against a published JWKS, as a relying party would.
func verify(t *testing.T, set jose.JSONWebKeySet, tok string) (kid string, err error) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.PS256, jose.EdDSA})
	if err != nil {
		return "", err
	}
	kid = jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) == 0 {
		return kid, errors.New("kid not in the JWKS")
	}
	_, err = jws.Verify(keys[0])
	return kid, err
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m, err := NewManager(ctx, newStore(t), cipherFor(t, secretA), opts(c))
	if err != nil {
		t.Fatal(err)
	}
	// The encoded document (kept between requests) follows every change.
	encodedMatches := func(stage string) {
		t.Helper()
		body, err := m.PublicKeysJSON(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var doc jose.JSONWebKeySet
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if got, want := kids(doc), kids(m.PublicKeys(ctx)); !slices.Equal(got, want) {
			t.Fatalf("%s: encoded JWKS has %v, the keys are %v", stage, got, want)
		}
	}
	first := m.PublicKeys(ctx)
	if len(first.Keys) != 1 {
		t.Fatalf("JWKS %v", kids(first))
	}
	encodedMatches("first key")
	before := sign(t, m, "")

	// 29 days in, the successor is published a day ahead: in the JWKS, signing nothing.
	c.Add(29*24*time.Hour + time.Minute)
	if err := m.RotateDue(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.RotateDue(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	withNext := m.PublicKeys(ctx)
	if len(withNext.Keys) != 2 {
		t.Fatalf("after pre-publication the JWKS has %v", kids(withNext))
	}
	encodedMatches("pre-publication")
	if kid, err := verify(t, withNext, sign(t, m, "")); err != nil || kid != first.Keys[0].KeyID {
		t.Fatalf("the next key signed (%s, %v)", kid, err)
	}

	// A day later the new key signs; the old one still verifies.
	c.Add(24 * time.Hour)
	after := sign(t, m, "")
	set := m.PublicKeys(ctx)
	if kid, err := verify(t, set, after); err != nil || kid == first.Keys[0].KeyID {
		t.Fatalf("after activation: %s, %v", kid, err)
	}
	if _, err := verify(t, set, before); err != nil {
		t.Fatalf("a token signed before the rotation no longer verifies: %v", err)
	}

	// The retired key stays until its tokens' lifetime has passed, then leaves.
	c.Add(2*time.Hour - time.Minute)
	if len(m.PublicKeys(ctx).Keys) != 2 {
		t.Fatal("the retired key left the JWKS before its tokens expired")
	}
	c.Add(2 * time.Minute)
	if got := kids(m.PublicKeys(ctx)); len(got) != 1 || got[0] == first.Keys[0].KeyID {
		t.Fatalf("after the tokens' lifetime the JWKS has %v", got)
	}
	encodedMatches("retired key gone")
}

func TestEveryAlgorithm(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m, err := NewManager(ctx, newStore(t), cipherFor(t, secretA), opts(c, ES256, PS256, EdDSA))
	if err != nil {
		t.Fatal(err)
	}
	set := m.PublicKeys(ctx)
	if len(set.Keys) != 4 {
		t.Fatalf("JWKS has %d keys for 4 algorithms", len(set.Keys))
	}
	raw, _ := json.Marshal(set)
	var generic struct{ Keys []map[string]any }
	_ = json.Unmarshal(raw, &generic)
	for _, k := range generic.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("%v key %v publishes %q", k["alg"], k["kid"], private)
			}
		}
		if k["kty"] == "oct" || k["use"] != "sig" || k["kid"] == "" {
			t.Errorf("bad JWK %v", k)
		}
	}
	for _, alg := range []string{RS256, ES256, PS256, EdDSA} {
		tok := sign(t, m, alg)
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
		if err != nil || string(jws.Signatures[0].Header.Algorithm) != alg {
			t.Fatalf("%s: token not signed with %s: %v", alg, alg, err)
		}
		if _, err := verify(t, set, tok); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
		if strings.Contains(tok, "rat") {
			t.Error("rat leaked")
		}
		if _, err := (&Signer{Manager: m}).Decode(ctx, tok); err != nil {
			t.Errorf("%s: Decode: %v", alg, err)
		}
	}
	if _, err := NewManager(ctx, newStore(t), cipherFor(t, secretA), opts(c, "HS256")); err == nil {
		t.Error("HS256 accepted")
	}
}

func TestDecodeRefusesForgeries(t *testing.T) {
	ctx := context.Background()
	m, err := NewManager(ctx, newStore(t), cipherFor(t, secretA), opts(newClock()))
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, m, "")
	parts := strings.Split(tok, ".")
	for name, bad := range map[string]string{
		"alg none":         "eyJhbGciOiJub25lIn0." + parts[1] + ".",
		"forged signature": parts[0] + "." + parts[1] + ".AAAA",
		"unknown kid":      "eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUifQ." + parts[1] + "." + parts[2],
	} {
		if _, err := (&Signer{Manager: m}).Decode(ctx, bad); err == nil {
			t.Errorf("%s decoded", name)
		}
	}
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	m, err := NewManager(ctx, newStore(t), cipherFor(t, secretA), opts(newClock(), ES256))
	if err != nil {
		t.Fatal(err)
	}
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	good, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, c := range map[string]struct {
		alg string
		key any
	}{
		"RSA 1024":          {RS256, weak},
		"EC key for RS256":  {RS256, p256},
		"RSA key for ES256": {ES256, good},
		"P-384 for ES256":   {ES256, p384},
		"disabled alg":      {PS256, good},
	} {
		if _, err := m.Import(ctx, c.alg, c.key, false); err == nil {
			t.Errorf("%s imported", name)
		}
	}
	kid, err := m.Import(ctx, RS256, good, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := verify(t, m.PublicKeys(ctx), sign(t, m, "")); got != kid {
		t.Fatalf("imported --now key does not sign (%s, want %s)", got, kid)
	}
}

func TestRetire(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m, err := NewManager(ctx, newStore(t), cipherFor(t, secretA), opts(c))
	if err != nil {
		t.Fatal(err)
	}
	old := m.PublicKeys(ctx).Keys[0].KeyID
	if err := m.Retire(ctx, old); err != nil {
		t.Fatal(err)
	}
	kid, _ := verify(t, m.PublicKeys(ctx), sign(t, m, ""))
	if kid == old {
		t.Fatal("a retired key still signs")
	}
	if len(m.PublicKeys(ctx).Keys) != 2 {
		t.Fatal("the retired key left the JWKS at once")
	}
	if err := m.Retire(ctx, old); err == nil {
		t.Fatal("retiring twice succeeded")
	}
	if err := m.Retire(ctx, "nope"); err == nil {
		t.Fatal("retiring an unknown key succeeded")
	}
}

func TestManagerRefusesWrongSecret(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	c := newClock()
	if _, err := NewManager(ctx, st, cipherFor(t, secretA), opts(c)); err != nil {
		t.Fatal(err)
	}
	before, _ := st.ListKeys(ctx)
	_, err := NewManager(ctx, st, cipherFor(t, secretB), opts(c))
	if !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), before[0].ID) || !strings.Contains(err.Error(), "GATEHOUSE_SECRETS") {
		t.Fatalf("wrong secret: %v, want ErrDecrypt naming key %s and the setting", err, before[0].ID)
	}
	after, _ := st.ListKeys(ctx)
	if len(after) != len(before) {
		t.Fatal("a wrong secret led to a new key")
	}
	// Rotation of the key-encryption secret: new first, old still opens;
	// reencrypt moves everything to the new one.
	m, err := NewManager(ctx, st, cipherFor(t, secretB, secretA), opts(c))
	if err != nil {
		t.Fatalf("rotated secrets: %v", err)
	}
	if _, err := m.Secret(ctx, "hmac"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Reencrypt(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := NewManager(ctx, st, cipherFor(t, secretB), opts(c)); err != nil {
		t.Fatalf("after reencrypt the new secret alone should open everything: %v", err)
	}
}

func TestManagerRefusesSwappedRow(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	c := newClock()
	m, err := NewManager(ctx, st, cipherFor(t, secretA), opts(c))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Rotate(ctx, RS256, false); err != nil {
		t.Fatal(err)
	}
	keys, _ := st.ListKeys(ctx)
	if _, err := st.DB().Exec(`UPDATE signing_keys SET private_sealed = $1 WHERE id = $2`, keys[1].Private, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := NewManager(ctx, st, cipherFor(t, secretA), opts(c)); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("swapped row: %v, want ErrDecrypt", err)
	}
}

// TestConcurrentRotation: managers of several replicas rotating at once on
// one PostgreSQL create exactly one new key.
func TestConcurrentRotation(t *testing.T) {
	ctx := context.Background()
	url := storagetest.PostgresURL(t)
	c := newClock()
	var managers []*Manager
	for i := 0; i < 4; i++ {
		m, err := NewManager(ctx, openStore(t, url), cipherFor(t, secretA), opts(c))
		if err != nil {
			t.Fatal(err)
		}
		managers = append(managers, m)
	}
	st := openStore(t, url)
	if keys, _ := st.ListKeys(ctx); len(keys) != 1 {
		t.Fatalf("%d replicas starting together made %d keys, want 1", len(managers), len(keys))
	}
	c.Add(29*24*time.Hour + time.Minute)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for _, m := range managers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.RotateDue(ctx); err != nil {
				failed.Add(1)
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	keys, _ := st.ListKeys(ctx)
	if len(keys) != 2 || keys[1].Generation != 2 || keys[1].StateAt(c.Now()) != storage.KeyNext {
		t.Fatalf("after concurrent rotation: %+v", keys)
	}
}

// TestScheduledRotationIsACompareAndSwap: a replica that decided to rotate
// on the keys it read, while another replica rotated in between, adds no
// key (it used to add a third generation that replaced the second before
// it ever signed; seen once under load in TestConcurrentRotation).
func TestScheduledRotationIsACompareAndSwap(t *testing.T) {
	ctx := context.Background()
	url := storagetest.PostgresURL(t)
	c := newClock()
	a, err := NewManager(ctx, openStore(t, url), cipherFor(t, secretA), opts(c))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewManager(ctx, openStore(t, url), cipherFor(t, secretA), opts(c))
	if err != nil {
		t.Fatal(err)
	}
	c.Add(29*24*time.Hour + time.Minute)
	if err := b.RotateDue(ctx); err != nil { // b rotates: generation 2
		t.Fatal(err)
	}
	// a decided on generation 1 before b's rotation committed.
	if _, err := a.rotate(ctx, RS256, nil, false, 1); !errors.Is(err, ErrRotationRace) {
		t.Fatalf("a stale scheduled rotation: %v, want ErrRotationRace", err)
	}
	st := openStore(t, url)
	if keys, _ := st.ListKeys(ctx); len(keys) != 2 || keys[1].Generation != 2 || keys[1].StateAt(c.Now()) != storage.KeyNext {
		t.Fatalf("keys %+v", keys)
	}
	// An operator's rotation still adds one whatever is there.
	if _, err := a.Rotate(ctx, RS256, false); err != nil {
		t.Fatal(err)
	}
	if keys, _ := st.ListKeys(ctx); len(keys) != 3 {
		t.Fatalf("%d keys after an operator's rotation, want 3", len(keys))
	}
}

func TestHMACRotation(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	o := opts(c)
	o.HMACLifetime = 10 * time.Hour
	st := newStore(t)
	m, err := NewManager(ctx, st, cipherFor(t, secretA), o)
	if err != nil {
		t.Fatal(err)
	}
	first, rotated := m.HMACSecrets(ctx)
	if len(first) != 32 || len(rotated) != 0 {
		t.Fatalf("initial secrets: %d bytes, %d rotated", len(first), len(rotated))
	}
	if err := m.RotateHMAC(ctx); err != nil {
		t.Fatal(err)
	}
	cur, rotated := m.HMACSecrets(ctx)
	if string(cur) != string(first) || len(rotated) != 1 {
		t.Fatal("a new secret signed before every replica could load it")
	}
	second := rotated[0]
	c.Add(2*o.ReloadInterval + time.Second)
	cur, rotated = m.HMACSecrets(ctx)
	if string(cur) != string(second) || len(rotated) != 1 || string(rotated[0]) != string(first) {
		t.Fatal("after the activation delay the new secret should sign and the old one verify")
	}
	c.Add(10 * time.Hour)
	if _, rotated = m.HMACSecrets(ctx); len(rotated) != 0 {
		t.Fatal("the old secret still verifies after the longest token lifetime")
	}
	// Another replica sees the same generations.
	m2, err := NewManager(ctx, st, cipherFor(t, secretA), o)
	if err != nil {
		t.Fatal(err)
	}
	if cur2, _ := m2.HMACSecrets(ctx); string(cur2) != string(second) {
		t.Fatal("replicas disagree on the opaque-token secret")
	}
	// Scheduled: once the newest secret is a rotation period old.
	c.Add(o.RotationPeriod)
	if err := m.RotateDue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, rotated = m.HMACSecrets(ctx); len(rotated) != 1 {
		t.Fatal("RotateDue did not rotate the opaque-token secret")
	}
}
