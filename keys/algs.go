package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Supported signing algorithms. RS256 is always enabled (OpenID Connect
// requires it); the others can be enabled in configuration.
const (
	RS256 = "RS256"
	PS256 = "PS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Supported lists every algorithm gatehouse can sign with, RS256 first.
var Supported = []string{RS256, ES256, PS256, EdDSA}

// IsSupported reports whether alg is one gatehouse can sign with.
func IsSupported(alg string) bool {
	for _, a := range Supported {
		if a == alg {
			return true
		}
	}
	return false
}

// ErrWeakKey means an imported key is too weak or does not fit its algorithm.
var ErrWeakKey = errors.New("keys: key too weak or not of the algorithm's type")

// generate makes a new private key for alg.
func generate(alg string) (crypto.Signer, error) {
	switch alg {
	case RS256, PS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("keys: algorithm %q is not supported (use one of %v)", alg, Supported)
}

// checkKey refuses keys too weak for, or of another type than, alg.
func checkKey(alg string, key any) error {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if alg != RS256 && alg != PS256 {
			return fmt.Errorf("%w: an RSA key cannot sign %s", ErrWeakKey, alg)
		}
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("%w: RSA keys need at least 2048 bits, this one has %d", ErrWeakKey, k.N.BitLen())
		}
		return k.Validate()
	case *ecdsa.PrivateKey:
		if alg != ES256 {
			return fmt.Errorf("%w: an EC key cannot sign %s", ErrWeakKey, alg)
		}
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("%w: ES256 needs a P-256 key, this one is %s", ErrWeakKey, k.Curve.Params().Name)
		}
		return nil
	case ed25519.PrivateKey:
		if alg != EdDSA {
			return fmt.Errorf("%w: an Ed25519 key cannot sign %s", ErrWeakKey, alg)
		}
		if len(k) != ed25519.PrivateKeySize {
			return fmt.Errorf("%w: malformed Ed25519 key", ErrWeakKey)
		}
		return nil
	}
	return fmt.Errorf("%w: unsupported key type %T", ErrWeakKey, key)
}

// newJWK wraps a private key as a JWK with a thumbprint-derived kid.
func newJWK(alg string, priv any) (jose.JSONWebKey, error) {
	jwk := jose.JSONWebKey{Key: priv, Algorithm: alg, Use: "sig"}
	pub := jwk.Public()
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return jwk, err
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb[:16])
	return jwk, nil
}
