package keys

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Store is what the Manager needs from storage.
type Store interface {
	storage.KeyStore
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Options tune the key lifecycle.
type Options struct {
	// Algs are the enabled algorithms; RS256 is always added.
	Algs []string
	// RotationPeriod is how long a key signs before the next takes over;
	// 0 turns automatic rotation off.
	RotationPeriod time.Duration
	// PrePublish is how long a new key is published before it signs, so
	// relying parties that cache the JWKS know it in time.
	PrePublish time.Duration
	// MaxTokenLifetime is the longest lifetime of anything a key signs: a
	// retired key stays published this long.
	MaxTokenLifetime time.Duration
	// ReloadInterval bounds how long a replica takes to see another's
	// rotation (default: a quarter of PrePublish, at most one minute).
	ReloadInterval time.Duration
	// HMACLifetime is the longest lifetime of an opaque token (the refresh
	// token's): a rotated HMAC secret keeps verifying this long.
	HMACLifetime time.Duration
	Now          func() time.Time
	Log          *slog.Logger
}

// Manager holds the signing keys: decrypted once and kept in memory (never
// re-read or re-decrypted per token), reloaded from the database on a short
// interval so replicas see each other's rotations, and rotated on schedule
// with a compare-and-swap so replicas agree on one new key.
type Manager struct {
	store  Store
	cipher *Cipher
	o      Options

	reload sync.Mutex // one reload at a time; never held by signers

	mu       sync.RWMutex
	keys     []loaded
	hmac     []hmacSecret // by generation, oldest first
	loadedAt time.Time

	// jwks is the last JWKS document encoded, by the kids it holds.
	jwks atomic.Pointer[encodedJWKS]
}

type encodedJWKS struct {
	kids string
	body []byte
}

// hmacSecret is one generation of the secret behind opaque tokens.
type hmacSecret struct {
	gen       int
	value     []byte
	createdAt time.Time
}

// hmacName names generation gen of the opaque-token secret.
func hmacName(gen int) string {
	if gen == 1 {
		return "oauth2_hmac"
	}
	return fmt.Sprintf("oauth2_hmac.%d", gen)
}

// loaded is a key row with its parsed public and (while it may sign)
// decrypted private JWK.
type loaded struct {
	row     storage.SigningKey
	public  jose.JSONWebKey
	private *jose.JSONWebKey
}

// NewManager loads the keys and makes sure every enabled algorithm has one.
func NewManager(ctx context.Context, store Store, cipher *Cipher, o Options) (*Manager, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if !slices.Contains(o.Algs, RS256) {
		o.Algs = append([]string{RS256}, o.Algs...)
	}
	for _, a := range o.Algs {
		if !IsSupported(a) {
			return nil, fmt.Errorf("keys: algorithm %q is not supported (use some of %v)", a, Supported)
		}
	}
	if o.PrePublish <= 0 {
		o.PrePublish = 24 * time.Hour
	}
	if o.MaxTokenLifetime <= 0 {
		o.MaxTokenLifetime = 24 * time.Hour
	}
	if o.ReloadInterval <= 0 {
		o.ReloadInterval = min(time.Minute, o.PrePublish/4)
	}
	if o.HMACLifetime <= 0 {
		o.HMACLifetime = 30 * 24 * time.Hour
	}
	m := &Manager{store: store, cipher: cipher, o: o}
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	if err := m.ensure(ctx); err != nil {
		return nil, err
	}
	if len(m.hmac) == 0 {
		if _, err := m.Secret(ctx, hmacName(1)); err != nil {
			return nil, err
		}
		if err := m.Reload(ctx); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Algs returns the enabled algorithms, RS256 first.
func (m *Manager) Algs() []string { return slices.Clone(m.o.Algs) }

// JWKSMaxAge is how long relying parties may cache the JWKS: never longer
// than the pre-publication lead time, so every cache sees a key before it signs.
func (m *Manager) JWKSMaxAge() time.Duration { return min(m.o.PrePublish/2, time.Hour) }

func keyAAD(id string) []byte { return []byte("signing_keys/" + id) }

// Reload re-reads the keys. A key that may sign and cannot be decrypted is an
// error naming it: it never leads to a silently generated replacement.
func (m *Manager) Reload(ctx context.Context) error {
	m.reload.Lock()
	defer m.reload.Unlock()
	return m.reloadLocked(ctx)
}

func (m *Manager) reloadLocked(ctx context.Context) error {
	rows, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list signing keys: %w", err)
	}
	m.mu.RLock()
	prev := map[string]*jose.JSONWebKey{}
	for _, k := range m.keys {
		if k.private != nil {
			prev[k.row.ID] = k.private
		}
	}
	m.mu.RUnlock()
	now := m.o.Now()
	var out []loaded
	for _, row := range rows {
		if row.StateAt(now) == storage.KeyDeleted {
			continue
		}
		l := loaded{row: row}
		if err := l.public.UnmarshalJSON(row.Public); err != nil {
			return fmt.Errorf("keys: public key %s is corrupt: %w", row.ID, err)
		}
		if l.public.KeyID != row.ID || !l.public.IsPublic() {
			return fmt.Errorf("keys: public key %s does not match its row", row.ID)
		}
		// Decrypt what signs now or may sign before the next reload.
		if st := row.StateAt(now); st == storage.KeyActive || st == storage.KeyNext {
			if p, ok := prev[row.ID]; ok {
				l.private = p
			} else if l.private, err = m.open(row); err != nil {
				return err
			}
		}
		out = append(out, l)
	}
	hm, err := m.loadHMAC(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.keys, m.hmac, m.loadedAt = out, hm, now
	m.mu.Unlock()
	return nil
}

// loadHMAC reads every generation of the opaque-token secret.
func (m *Manager) loadHMAC(ctx context.Context) ([]hmacSecret, error) {
	all, err := m.store.ListSecrets(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list server secrets: %w", err)
	}
	var out []hmacSecret
	for _, s := range all {
		gen := 0
		if s.Name == hmacName(1) {
			gen = 1
		} else if _, err := fmt.Sscanf(s.Name, "oauth2_hmac.%d", &gen); err != nil || gen < 2 {
			continue
		}
		plain, err := m.cipher.Open(s.Value, []byte("server_secrets/"+s.Name))
		if err != nil {
			return nil, fmt.Errorf("keys: server secret %s: %w; check GATEHOUSE_SECRETS", s.Name, err)
		}
		out = append(out, hmacSecret{gen: gen, value: plain, createdAt: s.CreatedAt})
	}
	slices.SortFunc(out, func(a, b hmacSecret) int { return a.gen - b.gen })
	return out, nil
}

// HMACSecrets returns the secret that signs opaque tokens now and the older
// ones that still verify. A new secret signs only once every replica has had
// time to load it (two reload intervals); an old one verifies until the
// longest opaque token it may have signed has expired.
//
// It reads memory only (Run keeps it fresh): fosite calls it while holding
// its HMAC lock, which must never wait for the database.
func (m *Manager) HMACSecrets(_ context.Context) (current []byte, rotated [][]byte) {
	now := m.o.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	cur := -1
	for i, s := range m.hmac {
		if cur < 0 || !now.Before(s.createdAt.Add(2*m.o.ReloadInterval)) {
			cur = i
		}
	}
	if cur < 0 {
		return nil, nil
	}
	current = m.hmac[cur].value
	for i, s := range m.hmac {
		if i == cur {
			continue
		}
		if i < cur {
			// Stopped signing when its successor took over.
			until := m.hmac[i+1].createdAt.Add(2 * m.o.ReloadInterval).Add(m.o.HMACLifetime)
			if now.After(until) {
				continue
			}
		}
		rotated = append(rotated, s.value)
	}
	return current, rotated
}

// RotateHMAC adds a new generation of the opaque-token secret. Replicas
// doing it at once agree on one (the name is unique).
func (m *Manager) RotateHMAC(ctx context.Context) error {
	m.mu.RLock()
	gen := 0
	if n := len(m.hmac); n > 0 {
		gen = m.hmac[n-1].gen
	}
	m.mu.RUnlock()
	if _, err := m.Secret(ctx, hmacName(gen+1)); err != nil {
		return err
	}
	m.o.Log.Info("keys: rotated the opaque-token secret", "generation", gen+1)
	return m.Reload(ctx)
}

func (m *Manager) open(row storage.SigningKey) (*jose.JSONWebKey, error) {
	plain, err := m.cipher.Open(row.Private, keyAAD(row.ID))
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %s: %w; check GATEHOUSE_SECRETS (secrets in the config file) holds the secret it was sealed with", row.ID, err)
	}
	var priv jose.JSONWebKey
	if err := priv.UnmarshalJSON(plain); err != nil {
		return nil, fmt.Errorf("keys: signing key %s is corrupt: %w", row.ID, err)
	}
	if priv.KeyID != row.ID || priv.Algorithm != row.Alg || priv.IsPublic() {
		return nil, fmt.Errorf("keys: signing key %s does not match its row", row.ID)
	}
	if k, ok := priv.Key.(*rsa.PrivateKey); ok {
		k.Precompute() // CRT values: several times faster signing
	}
	return &priv, nil
}

// fresh reloads when the cache is older than the reload interval. The reload
// runs outside the read lock; signers keep using the previous set meanwhile.
func (m *Manager) fresh(ctx context.Context) {
	m.mu.RLock()
	stale := m.o.Now().Sub(m.loadedAt) > m.o.ReloadInterval
	m.mu.RUnlock()
	if stale && m.reload.TryLock() { // one reloads; the others go on with what they have
		defer m.reload.Unlock()
		if err := m.reloadLocked(ctx); err != nil {
			m.o.Log.Warn("keys: reload failed; keeping the keys in memory", "err", err)
			m.mu.Lock()
			m.loadedAt = m.o.Now() // back off until the next interval
			m.mu.Unlock()
		}
	}
}

// ErrNoKey means no active key exists for the algorithm.
var ErrNoKey = errors.New("keys: no active signing key")

// SigningKey returns the key that signs alg now: the newest generation whose
// schedule says active.
func (m *Manager) SigningKey(ctx context.Context, alg string) (*jose.JSONWebKey, error) {
	m.fresh(ctx)
	now := m.o.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	var best *loaded
	for i := range m.keys {
		k := &m.keys[i]
		if k.row.Alg == alg && k.private != nil && k.row.StateAt(now) == storage.KeyActive && (best == nil || k.row.Generation > best.row.Generation) {
			best = k
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w for %s", ErrNoKey, alg)
	}
	return best.private, nil
}

// PublicKeys returns the JWKS: every next, active and retired key, public
// members only.
func (m *Manager) PublicKeys(ctx context.Context) jose.JSONWebKeySet {
	m.fresh(ctx)
	now := m.o.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range m.keys {
		if k.row.StateAt(now) != storage.KeyDeleted {
			set.Keys = append(set.Keys, k.public)
		}
	}
	return set
}

// PublicKeysJSON is PublicKeys encoded as a JWKS document. The encoding
// is kept and served again while the published keys stay the same (they
// change only at rotation), so a busy JWKS endpoint does not encode every
// key for every request.
func (m *Manager) PublicKeysJSON(ctx context.Context) ([]byte, error) {
	set := m.PublicKeys(ctx)
	var kids strings.Builder
	for _, k := range set.Keys {
		kids.WriteString(k.KeyID)
		kids.WriteByte(' ')
	}
	if c := m.jwks.Load(); c != nil && c.kids == kids.String() {
		return c.body, nil
	}
	body, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encode JWKS: %w", err)
	}
	body = append(body, '\n')
	m.jwks.Store(&encodedJWKS{kids: kids.String(), body: body})
	return body, nil
}

// PublicKey finds a published key by kid.
func (m *Manager) PublicKey(kid string) (jose.JSONWebKey, bool) {
	now := m.o.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, k := range m.keys {
		if k.row.ID == kid && k.row.StateAt(now) != storage.KeyDeleted {
			return k.public, true
		}
	}
	return jose.JSONWebKey{}, false
}

// KeyInfo describes a key for listings.
type KeyInfo struct {
	ID, Alg                                   string
	Generation                                int64
	State                                     storage.KeyState
	CreatedAt, ActivateAt, RetireAt, DeleteAt time.Time
}

// List describes every key in the database.
func (m *Manager) List(ctx context.Context) ([]KeyInfo, error) {
	rows, err := m.store.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := m.o.Now()
	out := make([]KeyInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, KeyInfo{ID: r.ID, Alg: r.Alg, Generation: r.Generation, State: r.StateAt(now),
			CreatedAt: r.CreatedAt, ActivateAt: r.ActivateAt, RetireAt: r.RetireAt, DeleteAt: r.DeleteAt})
	}
	return out, nil
}

// ensure gives every enabled algorithm a key that signs now.
func (m *Manager) ensure(ctx context.Context) error {
	for _, alg := range m.o.Algs {
		if _, err := m.SigningKey(ctx, alg); err == nil {
			continue
		}
		if _, err := m.rotate(ctx, alg, nil, true, -1); err != nil && !errors.Is(err, ErrRotationRace) {
			return err
		}
		if err := m.Reload(ctx); err != nil {
			return err
		}
		if _, err := m.SigningKey(ctx, alg); err != nil {
			return err
		}
	}
	return nil
}

// ErrRotationRace means another replica rotated first; its key is used.
var ErrRotationRace = errors.New("keys: another replica rotated this algorithm first")

// rotate adds the next generation of alg: published now, signing after the
// pre-publication lead time (or at once when immediate), and schedules the
// keys it replaces to retire when it activates and to leave the JWKS once
// what they signed has expired. priv is an imported key, or nil to generate.
// rotate adds a new key of alg. seen >= 0 makes it a compare-and-swap:
// the newest key of alg must still be generation seen (a scheduled
// rotation decided on that), or it returns ErrRotationRace (another
// replica rotated in between); -1 rotates whatever is there.
func (m *Manager) rotate(ctx context.Context, alg string, priv any, immediate bool, seen int64) (string, error) {
	rows, err := m.store.ListKeys(ctx)
	if err != nil {
		return "", err
	}
	now := m.o.Now().UTC()
	var gen int64
	var replaced []storage.SigningKey
	for _, r := range rows {
		if r.Alg != alg {
			continue
		}
		gen = max(gen, r.Generation)
		if st := r.StateAt(now); st == storage.KeyActive || st == storage.KeyNext {
			replaced = append(replaced, r)
		}
	}
	if seen >= 0 && gen != seen {
		return "", ErrRotationRace
	}
	if priv == nil {
		if priv, err = generate(alg); err != nil {
			return "", err
		}
	}
	jwk, err := newJWK(alg, priv)
	if err != nil {
		return "", err
	}
	privJSON, err := jwk.MarshalJSON()
	if err != nil {
		return "", err
	}
	pubJSON, err := jwk.Public().MarshalJSON()
	if err != nil {
		return "", err
	}
	sealed, err := m.cipher.Seal(privJSON, keyAAD(jwk.KeyID))
	if err != nil {
		return "", err
	}
	activate := now.Add(m.o.PrePublish)
	if immediate || len(replaced) == 0 {
		activate = now
	}
	err = m.store.InTx(ctx, func(ctx context.Context) error {
		if err := m.store.CreateKey(ctx, storage.SigningKey{ID: jwk.KeyID, Alg: alg, Generation: gen + 1, Private: sealed, Public: pubJSON,
			CreatedAt: now, ActivateAt: activate}); err != nil {
			return err
		}
		for _, r := range replaced {
			retire := activate
			if !r.RetireAt.IsZero() && r.RetireAt.Before(retire) {
				retire = r.RetireAt
			}
			// A key that never signed leaves the JWKS with its retirement.
			del := retire.Add(m.o.MaxTokenLifetime)
			if r.ActivateAt.After(retire) {
				del = retire
			}
			if err := m.store.ScheduleKey(ctx, r.ID, retire, del); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, storage.ErrAlreadyExists) {
		return "", ErrRotationRace
	}
	if err != nil {
		return "", fmt.Errorf("keys: rotate %s: %w", alg, err)
	}
	m.o.Log.Info("keys: rotated", "alg", alg, "kid", jwk.KeyID, "generation", gen+1, "activates_at", activate)
	return jwk.KeyID, m.Reload(ctx)
}

// ErrAlgNotEnabled refuses a key for an algorithm keys.algorithms does
// not list.
var ErrAlgNotEnabled = errors.New("is not enabled")

// Rotate adds a new key for alg now (immediate: signing at once, for a
// suspected compromise; otherwise after the pre-publication lead time).
func (m *Manager) Rotate(ctx context.Context, alg string, immediate bool) (string, error) {
	if !slices.Contains(m.o.Algs, alg) {
		return "", fmt.Errorf("keys: algorithm %s %w (enabled: %v)", alg, ErrAlgNotEnabled, m.o.Algs)
	}
	return m.rotate(ctx, alg, nil, immediate, -1)
}

// Import adds an existing private key (JWK or PEM parsed by the caller) as
// the next key of alg, refusing weak or mismatched keys.
func (m *Manager) Import(ctx context.Context, alg string, priv any, immediate bool) (string, error) {
	if !slices.Contains(m.o.Algs, alg) {
		return "", fmt.Errorf("keys: algorithm %s %w (enabled: %v)", alg, ErrAlgNotEnabled, m.o.Algs)
	}
	if err := checkKey(alg, priv); err != nil {
		return "", err
	}
	return m.rotate(ctx, alg, priv, immediate, -1)
}

// Retire stops a key signing now. An active key is replaced at once by a
// new one; the retired key stays published until what it signed expires.
func (m *Manager) Retire(ctx context.Context, kid string) error {
	rows, err := m.store.ListKeys(ctx)
	if err != nil {
		return err
	}
	now := m.o.Now().UTC()
	for _, r := range rows {
		if r.ID != kid {
			continue
		}
		switch r.StateAt(now) {
		case storage.KeyActive:
			_, err := m.rotate(ctx, r.Alg, nil, true, -1)
			return err
		case storage.KeyNext:
			if err := m.store.ScheduleKey(ctx, r.ID, now, now); err != nil {
				return err
			}
			return m.Reload(ctx)
		default:
			return fmt.Errorf("keys: key %s is already %s", kid, r.StateAt(now))
		}
	}
	return fmt.Errorf("keys: no key %s", kid)
}

// RotateDue rotates every enabled algorithm whose newest key has signed
// long enough that its successor must be published now, and the opaque-token
// secret once it is a rotation period old. Replicas may call it at once: the
// (alg, generation) constraint and the secret's unique name let one win.
func (m *Manager) RotateDue(ctx context.Context) error {
	if m.o.RotationPeriod <= 0 {
		return nil
	}
	m.mu.RLock()
	due := len(m.hmac) > 0 && !m.o.Now().Before(m.hmac[len(m.hmac)-1].createdAt.Add(m.o.RotationPeriod))
	m.mu.RUnlock()
	if due {
		if err := m.RotateHMAC(ctx); err != nil {
			return err
		}
	}
	rows, err := m.store.ListKeys(ctx)
	if err != nil {
		return err
	}
	now := m.o.Now()
	for _, alg := range m.o.Algs {
		var newest *storage.SigningKey
		for i := range rows {
			if rows[i].Alg == alg && (newest == nil || rows[i].Generation > newest.Generation) {
				newest = &rows[i]
			}
		}
		if newest == nil || newest.StateAt(now) == storage.KeyNext {
			continue // a successor is already published
		}
		if now.Before(newest.ActivateAt.Add(m.o.RotationPeriod - m.o.PrePublish)) {
			continue
		}
		if _, err := m.rotate(ctx, alg, nil, false, newest.Generation); err != nil && !errors.Is(err, ErrRotationRace) {
			return err
		}
	}
	return nil
}

// Run reloads and rotates on schedule until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	for {
		j, _ := rand.Int(rand.Reader, big.NewInt(int64(m.o.ReloadInterval/4)+1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(m.o.ReloadInterval + time.Duration(j.Int64())):
		}
		if err := m.RotateDue(ctx); err != nil {
			m.o.Log.Warn("keys: scheduled rotation failed", "err", err)
		}
		if err := m.Reload(ctx); err != nil {
			m.o.Log.Warn("keys: reload failed", "err", err)
		}
	}
}

// Reencrypt seals every key and server secret under the first configured
// secret (run after adding a new one in front).
func (m *Manager) Reencrypt(ctx context.Context) (int, error) {
	rows, err := m.store.ListKeys(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		if m.cipher.SealedWithPrimary(r.Private) {
			continue
		}
		plain, err := m.cipher.Open(r.Private, keyAAD(r.ID))
		if err != nil {
			return n, fmt.Errorf("keys: signing key %s: %w", r.ID, err)
		}
		sealed, err := m.cipher.Seal(plain, keyAAD(r.ID))
		if err != nil {
			return n, err
		}
		if err := m.store.ResealKey(ctx, r.ID, sealed); err != nil {
			return n, err
		}
		n++
	}
	secrets, err := m.store.ListSecrets(ctx)
	if err != nil {
		return n, err
	}
	for _, s := range secrets {
		if s.Name == DevSecretName || m.cipher.SealedWithPrimary(s.Value) {
			continue
		}
		aad := []byte("server_secrets/" + s.Name)
		plain, err := m.cipher.Open(s.Value, aad)
		if err != nil {
			return n, fmt.Errorf("keys: server secret %s: %w", s.Name, err)
		}
		sealed, err := m.cipher.Seal(plain, aad)
		if err != nil {
			return n, err
		}
		if err := m.store.ResealSecret(ctx, s.Name, sealed); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// DevSecretName is the development key-encryption secret, stored in clear
// under `serve --dev` only.
const DevSecretName = "dev_key_encryption_secret"

// Secret returns a named 32-byte server secret, generating and sealing it on
// first use. Concurrent replicas agree on the first one stored.
func (m *Manager) Secret(ctx context.Context, name string) ([]byte, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	aad := []byte("server_secrets/" + name)
	sealed, err := m.cipher.Seal(raw, aad)
	if err != nil {
		return nil, err
	}
	stored, err := m.store.PutSecretIfAbsent(ctx, storage.Secret{Name: name, Value: sealed, CreatedAt: m.o.Now().UTC()})
	if err != nil {
		return nil, fmt.Errorf("keys: store secret %s: %w", name, err)
	}
	plain, err := m.cipher.Open(stored.Value, aad)
	if err != nil {
		return nil, fmt.Errorf("keys: server secret %s: %w; check GATEHOUSE_SECRETS", name, err)
	}
	return plain, nil
}

// Fingerprint is a short, log-safe identifier of secret material.
func Fingerprint(b []byte) string {
	h := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(h[:6])
}
