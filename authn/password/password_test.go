package password

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestPasswordHashing(t *testing.T) {
	h, err := Hash("correct horse battery")
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
		{"argon2id wrong", h, "correct horse batterY", ErrMismatch, false},
		{"bcrypt import correct asks for rehash", string(bc), "imported secret", nil, true},
		{"bcrypt wrong", string(bc), "nope", ErrMismatch, false},
		{"empty hash never matches", "", "", ErrMismatch, false},
		{"overlong password", h, string(make([]byte, MaxLength+1)), ErrMismatch, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rehash, err := Verify(tt.hash, tt.pw)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if rehash != tt.wantRehash {
				t.Fatalf("rehash = %v, want %v", rehash, tt.wantRehash)
			}
		})
	}
	for _, bad := range []string{"$argon2id$v=19$m=1,t=1$x$y", "$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA", "plain"} {
		if _, err := Verify(bad, "whatever1"); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("malformed hash %q: want a format error, got %v", bad, err)
		}
	}
	if _, err := Hash("short"); err == nil {
		t.Error("short password accepted")
	}
}

// TestKDFGate: at most the slots run at once, at most the queue waits, and
// the rest are told ErrBusy at once.
func TestKDFGate(t *testing.T) {
	g := NewHasher(2, 3, time.Minute)
	release := make(chan struct{})
	var running, peak atomic.Int64
	var wg sync.WaitGroup
	results := make(chan error, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- g.run(context.Background(), func() {
				n := running.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				<-release
				running.Add(-1)
			})
		}()
	}
	// Five are admitted (two running, three waiting); five fail at once.
	busy := 0
	for busy < 5 {
		if err := <-results; !errors.Is(err, ErrBusy) {
			t.Fatalf("run = %v before any slot was freed, want ErrBusy", err)
		}
		busy++
	}
	close(release)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Fatalf("an admitted computation failed: %v", err)
		}
	}
	if peak.Load() != 2 {
		t.Fatalf("%d computations ran at once, want 2", peak.Load())
	}
	if g.ran.Load() != 5 {
		t.Fatalf("%d ran, want 5", g.ran.Load())
	}
	// A waiter gives up after maxWait.
	g = NewHasher(1, 1, 10*time.Millisecond)
	hold := make(chan struct{})
	go func() { _ = g.run(context.Background(), func() { <-hold }) }()
	for g.ran.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := g.run(context.Background(), func() {}); !errors.Is(err, ErrBusy) {
		t.Fatalf("a waiter past maxWait: %v, want ErrBusy", err)
	}
	close(hold)
}

// TestLoginPageWritesNothing: showing the login page (with its passkey
// challenge) sends no INSERT, UPDATE or DELETE, so unauthenticated GETs
// cannot grow a table.

func TestCommon(t *testing.T) {
	for pw, want := range map[string]bool{"password": true, "PASSWORD": true, "qwertyuiop": true, "iloveyou1234": false, "correct horse battery staple": false, "short": false} {
		if got := Common(pw); got != want {
			t.Errorf("Common(%q) = %v, want %v", pw, got, want)
		}
	}
}
