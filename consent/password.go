package consent

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

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
	// MaxPasswordLength bounds the work an attacker can ask of the KDF.
	MaxPasswordLength = 1024
	// MinPasswordLength is the shortest password accepted when setting one.
	MinPasswordLength = 8
)

// ErrPasswordMismatch means the password does not match the hash.
var ErrPasswordMismatch = errors.New("password mismatch")

// HashPassword returns an argon2id PHC string.
func HashPassword(password string) (string, error) {
	if len(password) < MinPasswordLength {
		return "", fmt.Errorf("password too short: at least %d characters", MinPasswordLength)
	}
	if len(password) > MaxPasswordLength {
		return "", fmt.Errorf("password too long: at most %d characters", MaxPasswordLength)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword checks a password against an argon2id PHC string or an
// imported bcrypt hash. needsRehash is true when the hash should be replaced
// by a current argon2id one.
func VerifyPassword(hash, password string) (needsRehash bool, err error) {
	if len(password) > MaxPasswordLength {
		return false, ErrPasswordMismatch
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
			return false, ErrPasswordMismatch
		}
		return m != argonMemoryKiB || t != argonTime || p != argonThreads, nil
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)); err != nil {
			if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
				return false, ErrPasswordMismatch
			}
			return false, fmt.Errorf("bcrypt: %w", err)
		}
		return true, nil
	case hash == "":
		return false, ErrPasswordMismatch
	}
	return false, errors.New("unknown password hash format")
}

// dummyHash is verified against when an account does not exist, so a
// failed login costs the same time either way (no account enumeration).
var dummyHash = func() string {
	h, err := HashPassword("gatehouse-dummy-password")
	if err != nil {
		panic(err)
	}
	return h
}()

// ErrBusy means too many password checks are running or waiting: the
// request is answered 503 with Retry-After instead of queueing without bound.
var ErrBusy = errors.New("too many password checks at once")

// kdfGate bounds the memory and CPU that password hashing can take: at most
// cap(slots) argon2id computations run at once (19 MiB each), at most
// maxWaiting more wait, each no longer than maxWait.
type kdfGate struct {
	slots      chan struct{}
	waiting    atomic.Int64
	maxWaiting int64
	maxWait    time.Duration
	// ran counts the computations done, busy the ones refused.
	ran, busy atomic.Int64
}

func newKDFGate(concurrency, queue int, maxWait time.Duration) *kdfGate {
	return &kdfGate{slots: make(chan struct{}, max(concurrency, 1)), maxWaiting: int64(max(queue, 0)), maxWait: maxWait}
}

// run runs fn when a slot is free, or fails with ErrBusy.
func (g *kdfGate) run(ctx context.Context, fn func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		if g.waiting.Add(1) > g.maxWaiting {
			g.waiting.Add(-1)
			g.busy.Add(1)
			return ErrBusy
		}
		t := time.NewTimer(g.maxWait)
		select {
		case g.slots <- struct{}{}:
			g.waiting.Add(-1)
			t.Stop()
		case <-t.C:
			g.waiting.Add(-1)
			g.busy.Add(1)
			return ErrBusy
		case <-ctx.Done():
			g.waiting.Add(-1)
			t.Stop()
			return ctx.Err()
		}
	}
	defer func() { <-g.slots }()
	g.ran.Add(1)
	fn()
	return nil
}

// PasswordHashes says how many password hashes were computed and how many
// were refused because too many were running or waiting (for metrics).
func (s *Service) PasswordHashes() (computed, refused int64) {
	return s.kdf.ran.Load(), s.kdf.busy.Load()
}

// verifyPassword checks a password through the gate. An empty hash (an
// account without a password) is checked against the dummy hash, so it
// costs what a real check costs and answers no.
func (s *Service) verifyPassword(ctx context.Context, hash, password string) (rehash bool, err error) {
	usable := hash != ""
	if !usable {
		hash = dummyHash
	}
	if gerr := s.kdf.run(ctx, func() { rehash, err = VerifyPassword(hash, password) }); gerr != nil {
		return false, gerr
	}
	if !usable && err == nil {
		err = ErrPasswordMismatch
	}
	return rehash, err
}

// hashPassword hashes a new password through the gate.
func (s *Service) hashPassword(ctx context.Context, password string) (h string, err error) {
	if gerr := s.kdf.run(ctx, func() { h, err = HashPassword(password) }); gerr != nil {
		return "", gerr
	}
	return h, err
}
