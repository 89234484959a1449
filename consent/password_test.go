package consent

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"

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

// TestEveryLoginCostsOneHash: an unknown email, an account without a
// password (federated or passkey only), a disabled account and a wrong
// password all compute one argon2id hash, like a right password, so the
// answer's timing does not tell them apart.
func TestEveryLoginCostsOneHash(t *testing.T) {
	s, st, clk := newTestService(t)
	ctx := context.Background()
	h, err := HashPassword("right password")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []storage.User{
		{Subject: "pw", Email: "pw@example.test", PasswordHash: h},
		{Subject: "off", Email: "off@example.test", PasswordHash: h, Disabled: true},
	} {
		u.CreatedAt, u.UpdatedAt = clk.t, clk.t
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, email, password string
		ok                    bool
	}{
		{"right password", "pw@example.test", "right password", true},
		{"wrong password", "pw@example.test", "wrong password", false},
		{"unknown email", "nobody@example.test", "right password", false},
		{"account without a password", "alice@example.test", "right password", false},
		{"disabled account", "off@example.test", "right password", false},
		{"empty password", "pw@example.test", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.kdf.ran.Load()
			_, err := s.authenticatePassword(ctx, tt.email, tt.password)
			if (err == nil) != tt.ok {
				t.Fatalf("authenticatePassword = %v, want ok=%v", err, tt.ok)
			}
			if n := s.kdf.ran.Load() - before; n != 1 {
				t.Fatalf("%d password hashes computed, want exactly 1", n)
			}
		})
	}
}

// TestKDFGate: at most the slots run at once, at most the queue waits, and
// the rest are told ErrBusy at once.
func TestKDFGate(t *testing.T) {
	g := newKDFGate(2, 3, time.Minute)
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
	g = newKDFGate(1, 1, 10*time.Millisecond)
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
func TestLoginPageWritesNothing(t *testing.T) {
	s, st, _ := newTestService(t)
	mux := http.NewServeMux()
	s.Register(mux)
	dec, err := s.newFlow(context.Background(), StateLogin, flowData{Request: interaction.AuthorizeRequest{MaxAge: -1}, Return: PathAccount})
	if err != nil {
		t.Fatal(err)
	}
	var writes []string
	st.Trace(func(q string) {
		if f := strings.Fields(q); len(f) > 0 && (f[0] == "INSERT" || f[0] == "UPDATE" || f[0] == "DELETE") {
			writes = append(writes, q)
		}
	})
	defer st.Trace(nil)
	for i := 0; i < 5; i++ {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, dec.RedirectTo, nil))
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `name="ceremony"`) {
			t.Fatalf("login page: %d", w.Code)
		}
	}
	if len(writes) > 0 {
		t.Fatalf("showing the login page wrote: %v", writes)
	}
}

func TestAddressKey(t *testing.T) {
	for ip, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::ffff":   "2001:db8:1:2::/64",
		"::ffff:198.51.100.1":  "::ffff:198.51.100.1",
		"not an address":       "not an address",
	} {
		if got := addressKey(ip); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", ip, got, want)
		}
	}
}
