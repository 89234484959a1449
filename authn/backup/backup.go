// Package backup is the backup-code step: ten single-use codes a user
// keeps for when the authenticator app or passkey is lost, stored as HMACs
// under a server key.
package backup

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Count is how many backup codes a user gets at a time.
const Count = 10

// alphabet has no look-alike characters (no 0/o, 1/l/i).
const alphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// New is 10 characters from a 31-letter alphabet (≈ 49 bits),
// shown as xxxxx-xxxxx.
func New() string {
	b := make([]byte, 10)
	out := make([]byte, 0, 11)
	for i := 0; i < len(b); {
		if _, err := rand.Read(b[i : i+1]); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		if int(b[i]) >= 256/len(alphabet)*len(alphabet) {
			continue // reject to avoid modulo bias
		}
		if i == 5 {
			out = append(out, '-')
		}
		out = append(out, alphabet[int(b[i])%len(alphabet)])
		i++
	}
	return string(out)
}

// Normalize accepts what people type: any case, spaces, dashes.
func Normalize(s string) string {
	s = strings.ToLower(s)
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
}

// Store is what backup codes need: the user's codes, and a transaction
// to replace them in.
type Store interface {
	CreateCredential(ctx context.Context, c storage.Credential) error
	ListCredentials(ctx context.Context, subject string, typ storage.CredentialType) ([]storage.Credential, error)
	DeleteCredential(ctx context.Context, subject, id string) error
	DeleteCredentials(ctx context.Context, subject string, typ storage.CredentialType) (int64, error)
	storage.TxRunner
}

// Step issues a user's backup codes and accepts each one once, as a
// second factor (amr "otp").
type Step struct {
	Store Store
	// Key keys the HMAC the codes are stored under.
	Key []byte
	Now func() time.Time
}

var _ authn.Authenticator = Step{}

// Hash is HMAC-SHA256 under a server secret: the codes are random,
// so no slow KDF is needed, and the pepper keeps a stolen table useless.
func (b Step) Hash(code string) []byte {
	m := hmac.New(sha256.New, b.Key)
	m.Write([]byte(Normalize(code)))
	return m.Sum(nil)
}

// Replace makes a new set of codes for a user; the old ones die
// in the same transaction. It returns the codes to show once.
func (b Step) Replace(ctx context.Context, subject string) ([]string, error) {
	codes := make([]string, Count)
	now := b.Now().UTC()
	err := b.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := b.Store.DeleteCredentials(ctx, subject, storage.CredentialBackupCode); err != nil {
			return err
		}
		for i := range codes {
			codes[i] = New()
			if err := b.Store.CreateCredential(ctx, storage.Credential{ID: httpx.RandomString(16), Subject: subject, Type: storage.CredentialBackupCode,
				Name: "backup code", Secret: b.Hash(codes[i]), Data: []byte("{}"), CreatedAt: now, LastUsedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	return codes, err
}

// Method is "backup".
func (Step) Method() string { return "backup" }

// Start has nothing to prepare.
func (Step) Start(context.Context, authn.Attempt) (authn.Prompt, error) { return authn.Prompt{}, nil }

// Verify compares against every code in constant time, then deletes the
// match; a concurrent use of the same code finds it gone and fails.
func (b Step) Verify(ctx context.Context, a authn.Attempt, in authn.Input) (authn.Result, error) {
	if a.Subject == "" || len(in.Code) > 64 {
		return authn.Result{}, authn.ErrAuthFailed
	}
	codes, err := b.Store.ListCredentials(ctx, a.Subject, storage.CredentialBackupCode)
	if err != nil {
		return authn.Result{}, err
	}
	h := b.Hash(in.Code)
	match := ""
	for _, c := range codes {
		if hmac.Equal(c.Secret, h) {
			match = c.ID
		}
	}
	if match == "" {
		return authn.Result{}, authn.ErrAuthFailed
	}
	if err := b.Store.DeleteCredential(ctx, a.Subject, match); errors.Is(err, storage.ErrNotFound) {
		return authn.Result{}, authn.ErrAuthFailed
	} else if err != nil {
		return authn.Result{}, err
	}
	// A backup code is a one-time password (RFC 8176 "otp").
	return authn.Result{Subject: a.Subject, AMR: []string{"otp"}, AuthTime: b.Now()}, nil
}
