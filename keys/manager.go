package keys

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Store is what the Manager needs from storage.
type Store interface {
	CreateKey(ctx context.Context, k storage.SigningKey) error
	ListKeys(ctx context.Context) ([]storage.SigningKey, error)
	PutSecretIfAbsent(ctx context.Context, s storage.Secret) (storage.Secret, error)
	GetSecret(ctx context.Context, name string) (storage.Secret, error)
}

// Manager holds the decrypted signing keys in memory (decrypted once, never
// per token) and publishes their public halves.
type Manager struct {
	store  Store
	cipher *Cipher
	now    func() time.Time

	mu     sync.RWMutex
	active map[string]*jose.JSONWebKey // alg → private signing key
	public []jose.JSONWebKey
}

// NewManager loads the keys, creating an RS256 key when none is active.
func NewManager(ctx context.Context, store Store, cipher *Cipher, now func() time.Time) (*Manager, error) {
	if now == nil {
		now = time.Now
	}
	m := &Manager{store: store, cipher: cipher, now: now}
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	if _, ok := m.active[string(jose.RS256)]; !ok {
		if err := m.create(ctx, jose.RS256); err != nil {
			return nil, err
		}
		if err := m.Reload(ctx); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func keyAAD(id string) []byte { return []byte("signing_keys/" + id) }

func (m *Manager) create(ctx context.Context, alg jose.SignatureAlgorithm) error {
	if alg != jose.RS256 {
		return fmt.Errorf("keys: algorithm %s is not supported yet", alg)
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("keys: generate RSA key: %w", err)
	}
	jwk := jose.JSONWebKey{Key: priv, Algorithm: string(alg), Use: "sig"}
	pub := jwk.Public()
	thumb, err := pub.Thumbprint(crypto256)
	if err != nil {
		return err
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb[:16])
	privJSON, err := jwk.MarshalJSON()
	if err != nil {
		return err
	}
	pubJSON, err := jwk.Public().MarshalJSON()
	if err != nil {
		return err
	}
	sealed, err := m.cipher.Seal(privJSON, keyAAD(jwk.KeyID))
	if err != nil {
		return err
	}
	now := m.now().UTC()
	return m.store.CreateKey(ctx, storage.SigningKey{
		ID: jwk.KeyID, Alg: string(alg), State: storage.KeyActive,
		Private: sealed, Public: pubJSON, CreatedAt: now,
	})
}

// Reload re-reads and decrypts the keys. A key that cannot be decrypted is an
// error naming its id: it never leads to a silently generated replacement.
func (m *Manager) Reload(ctx context.Context) error {
	rows, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list signing keys: %w", err)
	}
	active := map[string]*jose.JSONWebKey{}
	var public []jose.JSONWebKey
	for _, row := range rows {
		var pub jose.JSONWebKey
		if err := pub.UnmarshalJSON(row.Public); err != nil {
			return fmt.Errorf("keys: public key %s is corrupt: %w", row.ID, err)
		}
		if pub.KeyID != row.ID || !pub.IsPublic() {
			return fmt.Errorf("keys: public key %s does not match its row", row.ID)
		}
		public = append(public, pub)
		if row.State != storage.KeyActive {
			continue
		}
		plain, err := m.cipher.Open(row.Private, keyAAD(row.ID))
		if err != nil {
			return fmt.Errorf("keys: signing key %s: %w; check GATEHOUSE_SECRETS (secrets.keys in the config file) holds the secret it was sealed with", row.ID, err)
		}
		var priv jose.JSONWebKey
		if err := priv.UnmarshalJSON(plain); err != nil {
			return fmt.Errorf("keys: signing key %s is corrupt: %w", row.ID, err)
		}
		if priv.KeyID != row.ID || priv.Algorithm != row.Alg {
			return fmt.Errorf("keys: signing key %s does not match its row", row.ID)
		}
		if _, ok := active[row.Alg]; !ok { // oldest active key of an algorithm signs
			active[row.Alg] = &priv
		}
	}
	m.mu.Lock()
	m.active, m.public = active, public
	m.mu.Unlock()
	return nil
}

// ErrNoKey means no active key exists for the algorithm.
var ErrNoKey = errors.New("keys: no active signing key")

// SigningKey returns the active private key for alg.
func (m *Manager) SigningKey(_ context.Context, alg string) (*jose.JSONWebKey, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	k, ok := m.active[alg]
	if !ok {
		return nil, fmt.Errorf("%w for %s", ErrNoKey, alg)
	}
	return k, nil
}

// PublicKeys returns the JWKS: public keys only.
func (m *Manager) PublicKeys(_ context.Context) jose.JSONWebKeySet {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return jose.JSONWebKeySet{Keys: append([]jose.JSONWebKey(nil), m.public...)}
}

// PublicKey finds a published key by kid.
func (m *Manager) PublicKey(kid string) (jose.JSONWebKey, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, k := range m.public {
		if k.KeyID == kid {
			return k, true
		}
	}
	return jose.JSONWebKey{}, false
}

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
	stored, err := m.store.PutSecretIfAbsent(ctx, storage.Secret{Name: name, Value: sealed, CreatedAt: m.now().UTC()})
	if err != nil {
		return nil, fmt.Errorf("keys: store secret %s: %w", name, err)
	}
	plain, err := m.cipher.Open(stored.Value, aad)
	if err != nil {
		return nil, fmt.Errorf("keys: server secret %s: %w; check GATEHOUSE_SECRETS", name, err)
	}
	return plain, nil
}

// crypto256 is the hash for key thumbprints.
const crypto256 = crypto.SHA256

// MarshalJWKS renders the public key set as JSON.
func MarshalJWKS(set jose.JSONWebKeySet) ([]byte, error) { return json.Marshal(set) }

// Fingerprint is a short, log-safe identifier of secret material.
func Fingerprint(b []byte) string {
	h := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(h[:6])
}
