package consent

import (
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestPasswordHashing(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("imported secret"), bcrypt.MinCost)
	tests := []struct {
		name       string
		hash, pw   string
		wantErr    error
		wantRehash bool
	}{
		{"argon2id correct", h, "correct horse battery", nil, false},
		{"argon2id wrong", h, "correct horse batterY", ErrPasswordMismatch, false},
		{"bcrypt import correct asks for rehash", string(bc), "imported secret", nil, true},
		{"bcrypt wrong", string(bc), "nope", ErrPasswordMismatch, false},
		{"empty hash never matches", "", "", ErrPasswordMismatch, false},
		{"overlong password", h, string(make([]byte, MaxPasswordLength+1)), ErrPasswordMismatch, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rehash, err := VerifyPassword(tt.hash, tt.pw)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if rehash != tt.wantRehash {
				t.Fatalf("rehash = %v, want %v", rehash, tt.wantRehash)
			}
		})
	}
	for _, bad := range []string{"$argon2id$v=19$m=1,t=1$x$y", "$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA", "plain"} {
		if _, err := VerifyPassword(bad, "whatever1"); err == nil || errors.Is(err, ErrPasswordMismatch) {
			t.Errorf("malformed hash %q: want a format error, got %v", bad, err)
		}
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("short password accepted")
	}
}
