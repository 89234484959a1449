package backup

import "testing"

func TestNewBackupCode(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		c := New()
		if len(c) != 11 || c[5] != '-' || seen[c] {
			t.Fatalf("code %q (duplicate %v)", c, seen[c])
		}
		seen[c] = true
	}
}
