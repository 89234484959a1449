package consent

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// backupCodeCount is how many backup codes a user gets at a time.
const backupCodeCount = 10

// backupAlphabet has no look-alike characters (no 0/o, 1/l/i).
const backupAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// newBackupCode is 10 characters from a 31-letter alphabet (≈ 49 bits),
// shown as xxxxx-xxxxx.
func newBackupCode() string {
	b := make([]byte, 10)
	out := make([]byte, 0, 11)
	for i := 0; i < len(b); {
		if _, err := rand.Read(b[i : i+1]); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		if int(b[i]) >= 256/len(backupAlphabet)*len(backupAlphabet) {
			continue // reject to avoid modulo bias
		}
		if i == 5 {
			out = append(out, '-')
		}
		out = append(out, backupAlphabet[int(b[i])%len(backupAlphabet)])
		i++
	}
	return string(out)
}

// normalizeBackupCode accepts what people type: any case, spaces, dashes.
func normalizeBackupCode(s string) string {
	s = strings.ToLower(s)
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
}

// hashBackupCode is HMAC-SHA256 under a server secret: the codes are random,
// so no slow KDF is needed, and the pepper keeps a stolen table useless.
func (s *Service) hashBackupCode(code string) []byte {
	m := hmac.New(sha256.New, s.o.BackupCodeKey)
	m.Write([]byte(normalizeBackupCode(code)))
	return m.Sum(nil)
}

// replaceBackupCodes makes a new set of codes for a user; the old ones die
// in the same transaction. It returns the codes to show once.
func (s *Service) replaceBackupCodes(ctx context.Context, subject string) ([]string, error) {
	codes := make([]string, backupCodeCount)
	now := s.o.Now().UTC()
	err := s.o.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.o.Store.DeleteCredentials(ctx, subject, storage.CredentialBackupCode); err != nil {
			return err
		}
		for i := range codes {
			codes[i] = newBackupCode()
			if err := s.o.Store.CreateCredential(ctx, storage.Credential{ID: httpx.RandomString(16), Subject: subject, Type: storage.CredentialBackupCode,
				Name: "backup code", Secret: s.hashBackupCode(codes[i]), Data: []byte("{}"), CreatedAt: now, LastUsedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	return codes, err
}

// backupStep accepts one of the user's backup codes, once.
type backupStep struct{ s *Service }

func (backupStep) Method() string { return "backup" }

func (backupStep) Start(context.Context, Attempt) (Prompt, error) { return Prompt{}, nil }

// Verify compares against every code in constant time, then deletes the
// match; a concurrent use of the same code finds it gone and fails.
func (b backupStep) Verify(ctx context.Context, a Attempt, in Input) (Result, error) {
	if a.Subject == "" || len(in.Code) > 64 {
		return Result{}, ErrAuthFailed
	}
	codes, err := b.s.o.Store.ListCredentials(ctx, a.Subject, storage.CredentialBackupCode)
	if err != nil {
		return Result{}, err
	}
	h := b.s.hashBackupCode(in.Code)
	match := ""
	for _, c := range codes {
		if hmac.Equal(c.Secret, h) {
			match = c.ID
		}
	}
	if match == "" {
		return Result{}, ErrAuthFailed
	}
	if err := b.s.o.Store.DeleteCredential(ctx, a.Subject, match); errors.Is(err, storage.ErrNotFound) {
		return Result{}, ErrAuthFailed
	} else if err != nil {
		return Result{}, err
	}
	// A backup code is a one-time password (RFC 8176 "otp").
	return Result{Subject: a.Subject, AMR: []string{"otp"}, AuthTime: b.s.o.Now()}, nil
}
