package buildinfo

import (
	"strings"
	"sync"
	"testing"
)

// TestGet: values stamped with -ldflags win; without them the toolchain's
// record or "dev"/"unknown" fill in, never an empty string.
func TestGet(t *testing.T) {
	reset := func(v, c, d string) {
		version, commit, date = v, c, d
		once = sync.Once{}
	}
	defer reset("", "", "")
	reset("v1.2.3", "abc123", "2026-12-02T00:00:00Z")
	if got := Get(); got.Version != "v1.2.3" || got.Commit != "abc123" || got.Date != "2026-12-02T00:00:00Z" || !strings.HasPrefix(got.GoVersion, "go") {
		t.Errorf("stamped: %+v", got)
	}
	reset("", "", "")
	if got := Get(); got.Version == "" || got.Commit == "" || got.Date == "" {
		t.Errorf("unstamped: %+v", got)
	}
}
