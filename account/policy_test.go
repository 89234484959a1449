package account_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/account"
)

func TestCheckNewPassword(t *testing.T) {
	for _, tt := range []struct {
		pw   string
		want string // "" : accepted
	}{
		{"correct horse battery staple", ""},
		{"ünïcödé-längé", ""},
		{"eleven char", "at least 12"},
		{"1qaz2wsx3edc", "most common"},
		{"Q1W2E3R4T5Y6", "most common"},
		{"ann.example@example.com", "email address"},
		{"ann.example", "at least 12"},
		{strings.Repeat("x", 1025), "at most"},
	} {
		err := account.CheckNewPassword(tt.pw, "ann.example@example.com")
		var pe account.PasswordError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q refused: %v", tt.pw, err)
		case tt.want != "" && (err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: %v, want a refusal about %q", tt.pw, err, tt.want)
		}
	}
}
