package ratelimit

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(60, 3) // one a second, three at once
	l.Now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("event %d refused within the burst", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("fourth event: ok=%v wait=%v", ok, wait)
	}
	if ok, _ := l.Check("a"); ok {
		t.Fatal("Check allows an exhausted key")
	}
	for i := 0; i < 5; i++ {
		if ok, _ := l.Check("b"); !ok {
			t.Fatal("Check consumed")
		}
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key was limited")
	}
	now = now.Add(time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("not refilled after a second")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("refilled too much")
	}
}
