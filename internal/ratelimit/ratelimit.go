// Package ratelimit is a small in-memory token-bucket limiter keyed by a
// string (an IP address, an account). It is per process: behind a load
// balancer each replica limits on its own, which bounds abuse but is not an
// exact global quota.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter allows Burst events at once per key, refilled at Rate per second.
type Limiter struct {
	Rate  float64
	Burst float64
	Now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter of burst events refilled at perMinute per minute.
func New(perMinute, burst int) *Limiter {
	return &Limiter{Rate: float64(perMinute) / 60, Burst: float64(burst), Now: time.Now}
}

// Allow takes one event for key; when it may not, it says how long to wait.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	return l.take(key, true)
}

// Check says whether an event for key would be allowed, without taking it
// (to count only failures: Check first, Allow after a failure).
func (l *Limiter) Check(key string) (bool, time.Duration) {
	return l.take(key, false)
}

func (l *Limiter) take(key string, consume bool) (bool, time.Duration) {
	now := l.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	if now.Sub(l.swept) > time.Minute { // drop full buckets so memory stays bounded
		for k, b := range l.buckets {
			if b.tokens+now.Sub(b.last).Seconds()*l.Rate >= l.Burst {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.Burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.Burst, b.tokens+now.Sub(b.last).Seconds()*l.Rate)
	b.last = now
	if b.tokens >= 1 {
		if consume {
			b.tokens--
		}
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.Rate * float64(time.Second))
}
