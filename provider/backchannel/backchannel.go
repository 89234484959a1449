// Package backchannel is OpenID Connect Back-Channel Logout 1.0: when a
// browser session ends, every client it signed in to that registered a
// backchannel_logout_uri is sent a logout token. The tokens leave through a
// durable outbox (storage.LogoutStore): SessionEnded queues one row per
// client in the transaction that ends the session, and the Notifier's
// sender loop (internal/outbox) signs each token when it delivers it and
// POSTs it through the guarded HTTP client, retrying with back-off until it
// gives up and audits that. A token keeps its jti across attempts, so a
// client that gets one twice (a crash between delivering and recording it)
// sees one event.
package backchannel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/outbox"
	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Event is the logout token's event member name.
const Event = "http://schemas.openid.net/event/backchannel-logout"

// TokenType is the logout token's JOSE typ (Back-Channel Logout §2.4).
const TokenType = "logout+jwt"

// tokenLifetime is how long a signed logout token is valid; it is signed
// anew at every attempt.
const tokenLifetime = 2 * time.Minute

// Store is what back-channel logout needs: the clients, and the outbox.
type Store interface {
	GetClient(ctx context.Context, id string) (storage.Client, error)
	EnqueueLogout(ctx context.Context, l storage.Logout) error
	ClaimLogouts(ctx context.Context, claim string, now, leaseUntil time.Time, limit int) ([]storage.Logout, error)
	LogoutSent(ctx context.Context, id, claim string, at, keepUntil time.Time) error
	LogoutFailed(ctx context.Context, id, claim, reason string, at, retryAt, keepUntil time.Time) error
	LogoutsWaiting(ctx context.Context) (int64, error)
}

// Options configure a Notifier. A Notifier that only queues (the CLI's:
// the running server delivers) needs the Store alone.
type Options struct {
	Store  Store
	Keys   *keys.Manager
	Issuer string
	// PairwiseKey computes the subject a pairwise client knows (delivery
	// only: queueing needs just the Store).
	PairwiseKey []byte
	// HTTP posts the tokens: netguard.Client (timeouts, no redirects, only
	// public addresses outside --dev).
	HTTP *http.Client
	Now  func() time.Time
	Log  *slog.Logger
	// Audit records a token given up (nil: only logged).
	Audit func(ctx context.Context, typ, subject, clientID string, details map[string]string)
	// GiveUpAfter is how long a token is retried (default 24 h); Keep how
	// long a delivered or given-up row stays (default 24 h).
	GiveUpAfter, Keep time.Duration
	// Poll, Lease, Parallel and Backoff tune the sender loop (see
	// outbox.Options).
	Poll, Lease time.Duration
	Parallel    int
	Backoff     func(n int) time.Duration
}

// Notifier queues and delivers logout tokens.
type Notifier struct {
	o      Options
	runner *outbox.Runner[storage.Logout]
}

// New returns a Notifier; run its sender loop with Run.
func New(o Options) *Notifier {
	if o.GiveUpAfter <= 0 {
		o.GiveUpAfter = 24 * time.Hour
	}
	if o.Keep <= 0 {
		o.Keep = 24 * time.Hour
	}
	if o.Lease <= 0 {
		// A delivery takes at most the guarded client's 5 s; a claim lapses
		// soon after a crash.
		o.Lease = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	n := &Notifier{o: o}
	n.runner = outbox.New(outbox.Options[storage.Logout]{
		Name:  "backchannel logout",
		Claim: o.Store.ClaimLogouts,
		Entry: func(l storage.Logout) outbox.Entry {
			return outbox.Entry{ID: l.ID, CreatedAt: l.CreatedAt, Attempts: l.Attempts}
		},
		Deliver: n.deliver,
		Delivered: func(ctx context.Context, l storage.Logout, claim string, at time.Time) error {
			return o.Store.LogoutSent(ctx, l.ID, claim, at, at.Add(o.Keep))
		},
		Failed: func(ctx context.Context, l storage.Logout, claim, reason string, at, retryAt time.Time) error {
			return o.Store.LogoutFailed(ctx, l.ID, claim, reason, at, retryAt, at.Add(o.Keep))
		},
		GivenUp: func(ctx context.Context, l storage.Logout, err error) {
			if o.Audit != nil {
				o.Audit(ctx, "logout.backchannel_failed", l.Subject, l.ClientID, map[string]string{"sid": l.SID, "jti": l.ID, "error": trim(err.Error(), 200)})
			}
		},
		Now: o.Now, Log: o.Log, GiveUpAfter: o.GiveUpAfter, Poll: o.Poll, Lease: o.Lease, Parallel: o.Parallel, Backoff: o.Backoff,
	})
	return n
}

// Run delivers until ctx is done.
func (n *Notifier) Run(ctx context.Context) { n.runner.Run(ctx) }

// DeliverDue runs one delivery pass (tests; Run calls it).
func (n *Notifier) DeliverDue(ctx context.Context) (int, error) { return n.runner.DeliverDue(ctx) }

// Counts says how many tokens were delivered, how many attempts failed
// and how many tokens were given up.
func (n *Notifier) Counts() (sent, failed, abandoned int64) { return n.runner.Counts() }

// Waiting counts the tokens not yet delivered nor given up.
func (n *Notifier) Waiting(ctx context.Context) (int64, error) { return n.o.Store.LogoutsWaiting(ctx) }

// SessionEnded queues a logout token for each client of the ended session
// that registered a back-channel logout URI, in ctx's transaction.
func (n *Notifier) SessionEnded(ctx context.Context, s interaction.EndedSession) error {
	if s.SID == "" {
		return nil
	}
	now := n.o.Now().UTC()
	for _, id := range s.Clients {
		c, err := n.o.Store.GetClient(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if c.Metadata.BackchannelLogoutURI == "" {
			continue
		}
		if err := n.o.Store.EnqueueLogout(ctx, storage.Logout{ID: httpx.RandomString(24), ClientID: c.ID, Subject: s.Subject,
			SID: s.SID, CreatedAt: now}); err != nil {
			return fmt.Errorf("queue logout token: %w", err)
		}
	}
	return nil
}

// Wake starts a delivery pass now: call it once the transaction that
// queued tokens committed.
func (n *Notifier) Wake() { n.runner.Wake() }

func (n *Notifier) subjectFor(c storage.Client, subject string) string {
	if sector := clientspec.SubjectSector(c); sector != "" {
		return interaction.PairwiseSubject(n.o.PairwiseKey, sector, subject)
	}
	return subject
}

// Token signs the logout token of row l for client c, with the client's
// ID-token algorithm: iss, aud, iat, exp, jti, events, sub and sid, never
// a nonce (Back-Channel Logout §2.4).
func (n *Notifier) Token(ctx context.Context, c storage.Client, l storage.Logout) (string, error) {
	now := n.o.Now().UTC()
	claims := fjwt.MapClaims{
		"iss": n.o.Issuer, "aud": c.ID, "iat": now.Unix(), "exp": now.Add(tokenLifetime).Unix(), "jti": l.ID,
		"events": map[string]any{Event: map[string]any{}}, "sub": n.subjectFor(c, l.Subject), "sid": l.SID,
	}
	alg := c.IDTokenSignedResponseAlg
	if alg == "" {
		alg = keys.RS256
	}
	signer := &keys.Signer{Manager: n.o.Keys, Type: TokenType}
	tok, _, err := signer.Generate(ctx, claims, &fjwt.Headers{Extra: map[string]any{"alg": keys.HeaderAlg(alg)}})
	return tok, err
}

// deliver POSTs one logout token. A 2xx is a delivery; a client that is
// gone, has no URI any more or refuses the token (4xx other than 408, 425
// and 429) is given up at once; anything else is retried.
func (n *Notifier) deliver(ctx context.Context, l storage.Logout) error {
	c, err := n.o.Store.GetClient(ctx, l.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: the client is gone", outbox.ErrPermanent)
	}
	if err != nil {
		return err
	}
	uri := c.Metadata.BackchannelLogoutURI
	if uri == "" {
		return fmt.Errorf("%w: the client has no backchannel_logout_uri any more", outbox.ErrPermanent)
	}
	tok, err := n.Token(ctx, c, l)
	if err != nil {
		return fmt.Errorf("sign logout token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
	if err != nil {
		return fmt.Errorf("%w: %v", outbox.ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := n.o.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	switch s := resp.StatusCode; {
	case s/100 == 2:
		return nil
	case s/100 == 4 && s != http.StatusRequestTimeout && s != http.StatusTooEarly && s != http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s answered %d", outbox.ErrPermanent, uri, s)
	default:
		return fmt.Errorf("%s answered %d", uri, s)
	}
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
