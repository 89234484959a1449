package bench

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestMemoryProbe: the probe reads this process's resident memory and,
// watching a span in which 64 MiB are allocated and touched, reports a
// peak of at least that; a process that does
// not exist is an error, not a zero.
func TestMemoryProbe(t *testing.T) {
	m := &MemoryProbe{PIDs: []int{os.Getpid()}, Every: 5 * time.Millisecond}
	before, err := m.RSS()
	if err != nil || before <= 0 {
		t.Fatalf("RSS = %d, %v", before, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	peak := m.watch(ctx)
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i) // resident, not just reserved
	}
	time.Sleep(50 * time.Millisecond)
	got, err := peak()
	if err != nil {
		t.Fatal(err)
	}
	if got < 64<<20 || got < before {
		t.Errorf("peak %d MiB (before %d MiB), want at least the 64 MiB touched", got>>20, before>>20)
	}
	_ = buf[len(buf)-1]
	if _, err := (&MemoryProbe{PIDs: []int{1 << 30}}).RSS(); err == nil {
		t.Error("a missing process read as memory")
	}
}
