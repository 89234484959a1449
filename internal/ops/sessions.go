package ops

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/account"
	"github.com/gatehouse-id/gatehouse/storage"
)

// sessionStore is what the session and grant operations need.
type sessionStore interface {
	ListSessions(ctx context.Context, subject string, now time.Time) ([]storage.BrowserSession, error)
	DeleteSessions(ctx context.Context, subject string) (int64, error)
	ListConsents(ctx context.Context, subject string, now time.Time) ([]storage.Consent, error)
	DeleteConsent(ctx context.Context, subject, clientID string) error
	DeleteTokensOf(ctx context.Context, subject, clientID string) (int64, error)
	storage.TxRunner
}

// Sessions lists and ends a user's browser sessions and the grants the
// user gave to apps.
type Sessions struct {
	st  sessionStore
	rec recorder
	now func() time.Time
}

// List returns a user's unexpired browser sessions.
func (s *Sessions) List(ctx context.Context, subject string) ([]storage.BrowserSession, error) {
	return s.st.ListSessions(ctx, subject, s.now())
}

// Revoke signs a user out everywhere and returns how many sessions ended.
func (s *Sessions) Revoke(ctx context.Context, a Actor, subject string) (int64, error) {
	var n int64
	err := s.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		var err error
		n, err = s.st.DeleteSessions(ctx, subject)
		return event{typ: "user.sessions_revoked", subject: subject}, err
	})
	return n, err
}

// Grants returns the apps a user has remembered consent for.
func (s *Sessions) Grants(ctx context.Context, subject string) ([]storage.Consent, error) {
	return s.st.ListConsents(ctx, subject, s.now())
}

// RevokeGrant forgets a user's consent to a client and revokes every token
// the client holds for the user, together. It returns how many tokens went.
func (s *Sessions) RevokeGrant(ctx context.Context, a Actor, subject, clientID string) (int64, error) {
	var n int64
	err := s.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		var err error
		n, err = account.RevokeGrant(ctx, s.st, subject, clientID)
		return event{typ: "user.grant_revoked", subject: subject, clientID: clientID}, err
	})
	return n, err
}
