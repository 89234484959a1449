package backchannel

import (
	"context"
	"errors"

	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
)

// EndingSessions is st with every way of ending browser sessions —
// DeleteSession (signing out, a replaced session), DeleteSessions (an
// operator signing a user out everywhere), RevokeSubject (sign out
// everywhere, a password reset or change, disabling) and DeleteUser (the
// sessions go with the user) — telling
// n which sessions ended, with the clients they had signed in to, in the
// transaction that ends them. Whoever holds it cannot end a session
// without its clients hearing of it. Expired sessions are not told: they
// ended on their own.
func EndingSessions(st storage.Store, n *Notifier) storage.Store {
	return &endingStore{Store: st, n: n}
}

type endingStore struct {
	storage.Store
	n *Notifier
}

func (e *endingStore) DeleteSession(ctx context.Context, idHash []byte) error {
	_, err := e.end(ctx, func(ctx context.Context) ([]storage.BrowserSession, error) {
		bs, err := e.Store.GetSession(ctx, idHash, e.n.o.Now())
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil
		}
		return []storage.BrowserSession{bs}, err
	}, func(ctx context.Context) (int64, error) { return 0, e.Store.DeleteSession(ctx, idHash) })
	return err
}

func (e *endingStore) DeleteSessions(ctx context.Context, subject string) (int64, error) {
	return e.end(ctx, func(ctx context.Context) ([]storage.BrowserSession, error) {
		return e.Store.ListSessions(ctx, subject, e.n.o.Now())
	}, func(ctx context.Context) (int64, error) { return e.Store.DeleteSessions(ctx, subject) })
}

func (e *endingStore) RevokeSubject(ctx context.Context, subject string, keepSession []byte) (sessions, tokens int64, err error) {
	sessions, err = e.end(ctx, func(ctx context.Context) ([]storage.BrowserSession, error) {
		list, err := e.Store.ListSessions(ctx, subject, e.n.o.Now())
		kept := list[:0]
		for _, bs := range list {
			if string(bs.IDHash) != string(keepSession) || keepSession == nil {
				kept = append(kept, bs)
			}
		}
		return kept, err
	}, func(ctx context.Context) (int64, error) {
		var n int64
		n, tokens, err = e.Store.RevokeSubject(ctx, subject, keepSession)
		return n, err
	})
	return sessions, tokens, err
}

func (e *endingStore) DeleteUser(ctx context.Context, subject string) error {
	_, err := e.end(ctx, func(ctx context.Context) ([]storage.BrowserSession, error) {
		return e.Store.ListSessions(ctx, subject, e.n.o.Now())
	}, func(ctx context.Context) (int64, error) { return 0, e.Store.DeleteUser(ctx, subject) })
	return err
}

// end lists the sessions about to end, ends them, and queues their
// clients' logout tokens, in one transaction; the sender is woken once it
// committed (or, inside a caller's transaction, at its next poll).
func (e *endingStore) end(ctx context.Context, list func(context.Context) ([]storage.BrowserSession, error),
	del func(context.Context) (int64, error)) (int64, error) {
	var n int64
	told := false
	err := e.Store.InTx(ctx, func(ctx context.Context) error {
		ended, err := list(ctx)
		if err != nil {
			return err
		}
		if n, err = del(ctx); err != nil {
			return err
		}
		for _, bs := range ended {
			if err := e.n.SessionEnded(ctx, interaction.EndedSession{SID: bs.SID, Subject: bs.Subject, Clients: bs.Clients}); err != nil {
				return err
			}
			told = told || len(bs.Clients) > 0
		}
		return nil
	})
	if err == nil && told {
		e.n.Wake()
	}
	return n, err
}
