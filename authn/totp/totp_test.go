package totp

import (
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

const testSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

func codeAt(t testing.TB, at time.Time) string {
	c, err := totp.GenerateCode(testSecret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMatchTOTP(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 10, 0, time.UTC)
	cur := now.Unix() / Period
	tests := []struct {
		name   string
		offset time.Duration
		last   int64
		ok     bool
	}{
		{"current step", 0, 0, true},
		{"one step behind", -30 * time.Second, 0, true},
		{"one step ahead", 30 * time.Second, 0, true},
		{"two steps behind", -60 * time.Second, 0, false},
		{"two steps ahead", 60 * time.Second, 0, false},
		{"same step used before", 0, cur, false},
		{"earlier step after a later one", -30 * time.Second, cur, false},
		{"later step after an earlier one", 30 * time.Second, cur, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := Match(testSecret, codeAt(t, now.Add(tt.offset)), now, tt.last)
			if ok != tt.ok {
				t.Fatalf("matchTOTP = %v, want %v", ok, tt.ok)
			}
			if ok && step != now.Add(tt.offset).Unix()/Period {
				t.Errorf("step = %d", step)
			}
		})
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := Match(testSecret, bad, now, 0); ok {
			t.Errorf("code %q accepted", bad)
		}
	}
}
