// Package ops is the operator service: every operation an operator can do
// on users, clients, signing keys, sessions, grants and admin API keys,
// implemented once, run in one transaction with its audit event, and
// recorded with who did it. The admin API and the CLI both call it; they
// only parse their input and render the result.
package ops

import (
	"context"
	"net/http"
	"os/user"
	"time"

	"github.com/gatehouse-id/gatehouse/account"
	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Actor is who asks for an operation, as the audit log records it.
type Actor struct {
	// Name is "admin-key:<id>" for the admin API, "cli:<OS user>" for the
	// command line.
	Name string
	// IP and RequestID are the caller's address and request id (admin API).
	IP, RequestID string
}

// CLIActor is the operator at the command line: the OS user running it.
func CLIActor() Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return Actor{Name: "cli:" + name}
}

// AdminKeyActor is the holder of an admin API key making a request.
func AdminKeyActor(r *http.Request, keyID string) Actor {
	return Actor{Name: "admin-key:" + keyID, IP: httpx.ClientIP(r), RequestID: httpx.RequestID(r.Context())}
}

// InvalidInput is a request an operator must correct; its text says how.
type InvalidInput string

func (e InvalidInput) Error() string { return string(e) }

// Options configure the service.
type Options struct {
	// Keys manages signing keys (nil: key operations are unavailable).
	Keys *keys.Manager
	// EnabledAlgs are the signing algorithms clients may ask for.
	EnabledAlgs []string
	// Dev (serve --dev, or the CLI's --dev) accepts http logout URIs on
	// loopback addresses.
	Dev bool
	// Sectors fetches pairwise clients' sector_identifier_uri documents
	// (clientspec.SectorClient); nil skips the check.
	Sectors *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Mailer sends mailed links (recovery, verification); nil: none.
	Mailer *account.Mailer
}

// Service groups the operations by what they act on.
type Service struct {
	Clients   *Clients
	Users     *Users
	Sessions  *Sessions
	AdminKeys *AdminKeys
	Keys      *Keys
	Audit     *Audit
}

// New returns the operator service over st.
func New(st storage.Store, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	rec := recorder{st: st, now: o.Now}
	return &Service{
		Clients:   &Clients{st: st, rec: rec, env: clientspec.Env{Algs: o.EnabledAlgs, Dev: o.Dev}, sectors: o.Sectors, now: o.Now},
		Users:     &Users{st: st, rec: rec, now: o.Now, links: st, mailer: o.Mailer},
		Sessions:  &Sessions{st: st, rec: rec, now: o.Now},
		AdminKeys: &AdminKeys{st: st, rec: rec, now: o.Now},
		Keys:      &Keys{km: o.Keys, rec: rec},
		Audit:     &Audit{st: st},
	}
}

// auditStore is what the recorder writes to.
type auditStore interface {
	AppendAudit(ctx context.Context, e storage.AuditEvent) error
	storage.TxRunner
}

// recorder runs a change and its audit event in one transaction.
type recorder struct {
	st  auditStore
	now func() time.Time
}

// event is what an operation records about itself.
type event struct {
	typ, subject, clientID string
	details                map[string]string
}

// do runs fn in a transaction and appends the event it returns in the
// same transaction: a change that is not audited does not happen.
func (r recorder) do(ctx context.Context, a Actor, fn func(ctx context.Context) (event, error)) error {
	return r.st.InTx(ctx, func(ctx context.Context) error {
		e, err := fn(ctx)
		if err != nil {
			return err
		}
		return r.append(ctx, a, e)
	})
}

func (r recorder) append(ctx context.Context, a Actor, e event) error {
	if e.details == nil {
		e.details = map[string]string{}
	}
	return r.st.AppendAudit(ctx, storage.AuditEvent{ID: httpx.RandomString(16), At: r.now().UTC(), Type: e.typ, Actor: a.Name,
		Subject: e.subject, ClientID: e.clientID, IP: a.IP, RequestID: a.RequestID, Details: e.details})
}

// Audit reads the audit log.
type Audit struct {
	st interface {
		ListAudit(ctx context.Context, subject string, before time.Time, limit int) ([]storage.AuditEvent, error)
	}
}

// List returns at most limit events, newest first, of one subject ("" for
// all).
func (a *Audit) List(ctx context.Context, subject string, limit int) ([]storage.AuditEvent, error) {
	return a.st.ListAudit(ctx, subject, time.Time{}, limit)
}
