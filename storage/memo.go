package storage

import (
	"context"
	"sync"
)

// A memo lets the parts of one request share what they read: the login
// step and the protocol both need the user of an authorization request,
// and the second read costs nothing. Stores consult it in GetUser and drop
// a user from it when they change that user. Install one per request, never
// for longer.
type memo struct {
	mu    sync.Mutex
	users map[string]User
}

type memoKey struct{}

// WithMemo returns a context carrying a new, empty request memo.
func WithMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, memoKey{}, &memo{users: map[string]User{}})
}

// MemoUser returns a user read earlier in this request.
func MemoUser(ctx context.Context, subject string) (User, bool) {
	m, _ := ctx.Value(memoKey{}).(*memo)
	if m == nil {
		return User{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[subject]
	return u, ok
}

// RememberUser keeps a user for the rest of the request (no-op without a
// memo).
func RememberUser(ctx context.Context, u User) {
	if m, _ := ctx.Value(memoKey{}).(*memo); m != nil {
		m.mu.Lock()
		m.users[u.Subject] = u
		m.mu.Unlock()
	}
}

// ForgetUser drops a user that changed.
func ForgetUser(ctx context.Context, subject string) {
	if m, _ := ctx.Value(memoKey{}).(*memo); m != nil {
		m.mu.Lock()
		delete(m.users, subject)
		m.mu.Unlock()
	}
}
