// Package password is gatehouse's password authenticator's core: argon2id
// hashing (PHC strings; bcrypt accepted on import and upgraded), the
// length rules, and a Hasher that bounds how many hashes run at once. It
// imports no protocol engine and no WebAuthn, so the CLI, the operator
// service and the sign-in pages all hash through it.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2id parameters (OWASP 2024 baseline: 19 MiB, 2 passes, 1 lane).
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
	// MaxLength bounds the work an attacker can ask of the KDF.
	MaxLength = 1024
	// MinLength is the shortest password accepted when setting one.
	MinLength = 8
)

// ErrMismatch means the password does not match the hash.
var ErrMismatch = errors.New("password mismatch")

// Hash returns an argon2id PHC string.
func Hash(password string) (string, error) {
	if len(password) < MinLength {
		return "", fmt.Errorf("password too short: at least %d characters", MinLength)
	}
	if len(password) > MaxLength {
		return "", fmt.Errorf("password too long: at most %d characters", MaxLength)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify checks a password against an argon2id PHC string or an
// imported bcrypt hash. needsRehash is true when the hash should be replaced
// by a current argon2id one.
func Verify(hash, password string) (needsRehash bool, err error) {
	if len(password) > MaxLength {
		return false, ErrMismatch
	}
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		var version int
		var m uint32
		var t uint32
		var p uint8
		parts := strings.Split(hash, "$")
		if len(parts) != 6 {
			return false, errors.New("malformed argon2id hash")
		}
		if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
			return false, errors.New("unsupported argon2 version")
		}
		if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<21 || t > 16 {
			return false, errors.New("malformed argon2id parameters")
		}
		salt, err := base64.RawStdEncoding.DecodeString(parts[4])
		if err != nil {
			return false, errors.New("malformed argon2id salt")
		}
		want, err := base64.RawStdEncoding.DecodeString(parts[5])
		if err != nil || len(want) < 16 {
			return false, errors.New("malformed argon2id hash")
		}
		got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			return false, ErrMismatch
		}
		return m != argonMemoryKiB || t != argonTime || p != argonThreads, nil
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)); err != nil {
			if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
				return false, ErrMismatch
			}
			return false, fmt.Errorf("bcrypt: %w", err)
		}
		return true, nil
	case hash == "":
		return false, ErrMismatch
	}
	return false, errors.New("unknown password hash format")
}

// dummyHash is verified against when an account does not exist, so a
// failed login costs the same time either way (no account enumeration).
var dummyHash = func() string {
	h, err := Hash("gatehouse-dummy-password")
	if err != nil {
		panic(err)
	}
	return h
}()
