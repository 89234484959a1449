// Package keys owns gatehouse's signing keys and server secrets: generation,
// AES-256-GCM encryption at rest, the JWKS, and the JWT signer fosite uses.
package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinSecretLength is the shortest key-encryption secret accepted.
const MinSecretLength = 32

// ErrDecrypt means no configured secret opens a ciphertext, or it was tampered
// with or moved to another row.
var ErrDecrypt = errors.New("keys: cannot decrypt (wrong key-encryption secret, tampered ciphertext or row swapped)")

const sealVersion = 1

// Cipher seals data with AES-256-GCM. The first secret seals; every secret
// opens, so secrets can be rotated. The AAD binds a ciphertext to its place.
type Cipher struct {
	aeads []cipher.AEAD
	ids   [][4]byte
}

// NewCipher builds a Cipher from key-encryption secrets (each ≥ 32 bytes).
func NewCipher(secrets [][]byte) (*Cipher, error) {
	if len(secrets) == 0 {
		return nil, errors.New("keys: no key-encryption secret configured (set GATEHOUSE_SECRETS)")
	}
	c := &Cipher{}
	for i, s := range secrets {
		if len(s) < MinSecretLength {
			return nil, fmt.Errorf("keys: key-encryption secret #%d is %d bytes; at least %d are required", i+1, len(s), MinSecretLength)
		}
		k := sha256.Sum256(append([]byte("gatehouse kek v1\x00"), s...))
		block, err := aes.NewCipher(k[:])
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := sha256.Sum256(k[:])
		var kid [4]byte
		copy(kid[:], id[:4])
		c.aeads = append(c.aeads, aead)
		c.ids = append(c.ids, kid)
	}
	return c, nil
}

// Seal encrypts plaintext under the first secret, bound to aad.
// Layout: version(1) | secret id(4) | nonce(12) | ciphertext+tag.
func (c *Cipher) Seal(plaintext, aad []byte) ([]byte, error) {
	aead := c.aeads[0]
	out := make([]byte, 1+4+aead.NonceSize(), 1+4+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = sealVersion
	copy(out[1:5], c.ids[0][:])
	if _, err := rand.Read(out[5:]); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[5:5+aead.NonceSize()], plaintext, aad), nil
}

// Open decrypts a ciphertext made by Seal with any configured secret.
func (c *Cipher) Open(ciphertext, aad []byte) ([]byte, error) {
	if len(ciphertext) < 1+4+12+16 || ciphertext[0] != sealVersion {
		return nil, ErrDecrypt
	}
	for i, aead := range c.aeads {
		if [4]byte(ciphertext[1:5]) != c.ids[i] {
			continue
		}
		pt, err := aead.Open(nil, ciphertext[5:5+aead.NonceSize()], ciphertext[5+aead.NonceSize():], aad)
		if err != nil {
			return nil, ErrDecrypt
		}
		return pt, nil
	}
	return nil, ErrDecrypt
}

// SealedWithPrimary reports whether a ciphertext is sealed under the first
// (current) secret, so callers know when to re-encrypt.
func (c *Cipher) SealedWithPrimary(ciphertext []byte) bool {
	return len(ciphertext) > 5 && [4]byte(ciphertext[1:5]) == c.ids[0]
}
