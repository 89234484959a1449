package ops_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/account"
	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/ops"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"github.com/gatehouse-id/gatehouse/templates"
)

// backends runs fn against SQLite and, when the test database is set,
// PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, st *sqlstore.Store)) {
	for name, url := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "ops.db") },
		"postgres": func(t *testing.T) string { return storagetest.PostgresURL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			st, err := sqlstore.Open(context.Background(), url(t), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if err := st.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			fn(t, st)
		})
	}
}

// failingAudit is the real store whose audit log refuses writes.
type failingAudit struct{ *sqlstore.Store }

var errAuditDown = errors.New("audit log unavailable")

func (failingAudit) AppendAudit(context.Context, storage.AuditEvent) error { return errAuditDown }

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// newService is the service on a clock that moves a second per reading, so
// the audit log's order is the order of the operations.
func newService(st storage.Store) *ops.Service {
	var mu sync.Mutex
	t := now
	return ops.New(st, ops.Options{EnabledAlgs: []string{"RS256"}, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}})
}

// TestChangesAreAuditedInTheirTransaction: each operation writes one audit
// event with its actor, and when the audit event cannot be written the
// change does not happen either.
func TestChangesAreAuditedInTheirTransaction(t *testing.T) {
	backends(t, func(t *testing.T, st *sqlstore.Store) {
		ctx := context.Background()
		o := newService(st)
		a := ops.Actor{Name: "cli:tester", IP: "192.0.2.1", RequestID: "req-1"}
		u, err := o.Users.Create(ctx, a, "Ann@Example.com", "Ann", "a-long-password")
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := o.Clients.Create(ctx, a, clientspec.Spec{Name: "Web", RedirectURIs: []string{"https://app.example/cb"}})
		if err != nil {
			t.Fatal(err)
		}
		broken := newService(failingAudit{st})
		tests := []struct {
			name, event string
			do          func(o *ops.Service) error
			unchanged   func() bool
		}{
			{"create user", "user.created",
				func(o *ops.Service) error {
					_, err := o.Users.Create(ctx, a, "bob@example.com", "", "a-long-password")
					return err
				},
				func() bool {
					_, err := st.GetUserByEmail(ctx, "bob@example.com")
					return errors.Is(err, storage.ErrNotFound)
				}},
			{"disable user", "user.disabled_set",
				func(o *ops.Service) error { _, err := o.Users.SetDisabled(ctx, a, u.Subject, true); return err },
				func() bool { got, _ := st.GetUser(ctx, u.Subject); return !got.Disabled }},
			{"set profile", "user.profile_set",
				func(o *ops.Service) error {
					_, err := o.Users.SetProfile(ctx, a, u.Subject, accountProfile("Ann B"))
					return err
				},
				func() bool { got, _ := st.GetUser(ctx, u.Subject); return got.Name == "Ann" }},
			{"update client", "client.updated",
				func(o *ops.Service) error {
					_, _, err := o.Clients.Update(ctx, a, c.ID, func(s *clientspec.Spec) error { s.Name = "Renamed"; return nil })
					return err
				},
				func() bool { got, _ := st.GetClient(ctx, c.ID); return got.Name == "Web" }},
			{"rotate secret", "client.secret_rotated",
				func(o *ops.Service) error { _, _, err := o.Clients.RotateSecret(ctx, a, c.ID, time.Hour); return err },
				func() bool { got, _ := st.GetClient(ctx, c.ID); return string(got.SecretHash) == string(c.SecretHash) }},
			{"create admin key", "admin_key.created",
				func(o *ops.Service) error {
					_, _, err := o.AdminKeys.Create(ctx, a, "ci", []string{ops.RoleUsersRead})
					return err
				},
				func() bool { ks, _ := st.ListAdminKeys(ctx); return len(ks) == 0 }},
			{"delete client", "client.deleted",
				func(o *ops.Service) error { return o.Clients.Delete(ctx, a, c.ID) },
				func() bool { _, err := st.GetClient(ctx, c.ID); return err == nil }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := tt.do(broken); !errors.Is(err, errAuditDown) {
					t.Fatalf("with the audit log down: %v, want the audit error", err)
				}
				if !tt.unchanged() {
					t.Fatal("the change happened although its audit event was not written")
				}
				if err := tt.do(o); err != nil {
					t.Fatal(err)
				}
				events, err := st.ListAudit(ctx, "", time.Time{}, 1)
				if err != nil || len(events) != 1 {
					t.Fatalf("audit: %v %v", events, err)
				}
				e := events[0]
				if e.Type != tt.event || e.Actor != a.Name || e.IP != a.IP || e.RequestID != a.RequestID {
					t.Fatalf("audit event %+v, want %s by %+v", e, tt.event, a)
				}
			})
		}
	})
}

// TestRevokeGrantIsOneChange: forgetting a consent and revoking the
// client's tokens happen together or not at all.
func TestRevokeGrantIsOneChange(t *testing.T) {
	backends(t, func(t *testing.T, st *sqlstore.Store) {
		ctx := context.Background()
		o := newService(st)
		a := ops.Actor{Name: "cli:tester"}
		u, err := o.Users.Create(ctx, a, "ann@example.com", "", "a-long-password")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := o.Clients.Create(ctx, a, clientspec.Spec{ID: "web", Name: "Web", RedirectURIs: []string{"https://app.example/cb"}}); err != nil {
			t.Fatal(err)
		}
		if err := st.PutConsent(ctx, storage.Consent{Subject: u.Subject, ClientID: "web", Scopes: []string{"openid"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := newService(failingAudit{st}).Sessions.RevokeGrant(ctx, a, u.Subject, "web"); !errors.Is(err, errAuditDown) {
			t.Fatalf("RevokeGrant with the audit log down: %v", err)
		}
		if _, err := st.GetConsent(ctx, u.Subject, "web", now); err != nil {
			t.Fatalf("the consent went although the revocation failed: %v", err)
		}
		if _, err := o.Sessions.RevokeGrant(ctx, a, u.Subject, "web"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetConsent(ctx, u.Subject, "web", now); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("consent after revocation: %v", err)
		}
	})
}

// TestInvalidInput: what an operator must correct comes back as
// InvalidInput or a metadata error naming the field, never a storage error.
func TestInvalidInput(t *testing.T) {
	backends(t, func(t *testing.T, st *sqlstore.Store) {
		ctx := context.Background()
		o := newService(st)
		a := ops.Actor{Name: "cli:tester"}
		var invalid ops.InvalidInput
		var me *clientspec.MetadataError
		for _, tt := range []struct {
			name string
			err  error
			want string
		}{
			{"email", second(o.Users.Create(ctx, a, "no-at-sign", "", "a-long-password")), "not an email address"},
			{"short password", second(o.Users.Create(ctx, a, "x@example.com", "", "short")), "too short"},
			{"nameless admin key", third(o.AdminKeys.Create(ctx, a, " ", []string{ops.RoleAdmin})), "needs a name"},
			{"admin key without roles", third(o.AdminKeys.Create(ctx, a, "k", nil)), "at least one role"},
			{"unknown role", third(o.AdminKeys.Create(ctx, a, "k", []string{"root"})), "unknown role"},
			{"negative grace", third(o.Clients.RotateSecret(ctx, a, "web", -time.Second)), "negative"},
		} {
			if !errors.As(tt.err, &invalid) || !strings.Contains(tt.err.Error(), tt.want) {
				t.Errorf("%s: %v, want InvalidInput about %q", tt.name, tt.err, tt.want)
			}
		}
		_, _, err := o.Clients.Create(ctx, a, clientspec.Spec{Name: "Web", RedirectURIs: []string{"http://app.example/cb"}})
		if !errors.As(err, &me) || me.Code != "invalid_redirect_uri" {
			t.Errorf("http redirect URI: %v", err)
		}
		plain, k, err := o.AdminKeys.Create(ctx, a, "k", []string{ops.RoleUsersRead})
		if err != nil || !strings.HasPrefix(plain, ops.KeyPrefix+k.ID+"_") || len(plain) < 50 || len(k.Hash) != 32 || strings.Contains(string(k.Hash), plain) {
			t.Fatalf("admin key %q %+v %v", plain, k, err)
		}
		if events, _ := st.ListAudit(ctx, "", time.Time{}, 10); len(events) != 1 {
			t.Fatalf("refused operations were audited: %+v", events)
		}
	})
}

func second[A any](_ A, err error) error        { return err }
func third[A, B any](_ A, _ B, err error) error { return err }

func accountProfile(name string) account.ProfileUpdate { return account.ProfileUpdate{Name: name} }

// TestSendLinks: an operator mails a user a recovery or a confirmation
// link through the outbox, audited; without mail it is refused.
func TestSendLinks(t *testing.T) {
	backends(t, func(t *testing.T, st *sqlstore.Store) {
		ctx := context.Background()
		a := ops.Actor{Name: "cli:tester"}
		if err := newService(st).Users.SendRecovery(ctx, a, "nobody"); !errors.Is(err, ops.ErrNoMail) {
			t.Fatal("sent without mail")
		}
		pages, err := templates.New("")
		if err != nil {
			t.Fatal(err)
		}
		o := ops.New(st, ops.Options{Now: func() time.Time { return now }, Mailer: &account.Mailer{Mail: mail.NewOutbox(st, func() time.Time { return now }, nil),
			Pages: pages, Issuer: "https://id.example.com", Product: "Acme"}})
		u, err := o.Users.Create(ctx, a, "ann@example.com", "", "a-long-password")
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Users.SendRecovery(ctx, a, u.Subject); err != nil {
			t.Fatal(err)
		}
		if err := o.Users.SendVerification(ctx, a, u.Subject); err != nil {
			t.Fatal(err)
		}
		list, _ := st.ListMail(ctx, 10)
		links := strings.Join([]string{list[0].Text, list[1].Text}, "\n")
		if len(list) != 2 || !strings.Contains(links, "https://id.example.com/account/reset?token=") || !strings.Contains(links, "https://id.example.com/account/verify?token=") {
			t.Fatalf("outbox: %+v", list)
		}
		events, _ := st.ListAudit(ctx, u.Subject, time.Time{}, 10)
		types := map[string]bool{}
		for _, e := range events {
			types[e.Type] = true
		}
		if !types["user.recovery_sent"] || !types["user.verification_sent"] {
			t.Fatalf("audit: %+v", events)
		}
		if err := o.Users.SendRecovery(ctx, a, "nobody"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("an unknown user: %v", err)
		}
	})
}
