package backchannel_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/provider/backchannel"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore/sqlitetest"
)

// TestEveryEndingTells: each way the store ends browser sessions, through
// EndingSessions, queues one logout token per client of each session it
// ends (and none for a session it keeps or one of another user).
func TestEveryEndingTells(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		end  func(st storage.Store) error
		want []string // sid/client of the queued tokens, sorted
	}{
		{"DeleteSession", func(st storage.Store) error { return st.DeleteSession(ctx, []byte("ann-1")) }, []string{"s-ann-1/a", "s-ann-1/b"}},
		{"DeleteSession of no session", func(st storage.Store) error { return st.DeleteSession(ctx, []byte("nobody")) }, nil},
		{"DeleteSessions", func(st storage.Store) error { _, err := st.DeleteSessions(ctx, "ann"); return err }, []string{"s-ann-1/a", "s-ann-1/b", "s-ann-2/a"}},
		{"RevokeSubject", func(st storage.Store) error { _, _, err := st.RevokeSubject(ctx, "ann", nil); return err }, []string{"s-ann-1/a", "s-ann-1/b", "s-ann-2/a"}},
		{"RevokeSubject keeping one", func(st storage.Store) error { _, _, err := st.RevokeSubject(ctx, "ann", []byte("ann-1")); return err }, []string{"s-ann-2/a"}},
		{"DeleteUser", func(st storage.Store) error { return st.DeleteUser(ctx, "ann") }, []string{"s-ann-1/a", "s-ann-1/b", "s-ann-2/a"}},
		{"DeleteUser of no user", func(st storage.Store) error {
			if err := st.DeleteUser(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("DeleteUser(nobody): %v, want ErrNotFound", err)
			}
			return nil
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := sqlitetest.Open(t)
			for _, id := range []string{"a", "b"} {
				if err := raw.CreateClient(ctx, storage.Client{ID: id, Name: id, RedirectURIs: []string{"https://rp.example/cb"}, PostLogoutRedirectURIs: []string{}, CreatedAt: now, UpdatedAt: now,
					Metadata: storage.ClientMetadata{BackchannelLogoutURI: "https://rp.example/bc-" + id}}); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range []struct {
				subject, id string
				clients     []string
			}{
				{"ann", "ann-1", []string{"a", "b"}}, {"ann", "ann-2", []string{"a"}}, {"bob", "bob-1", []string{"a"}},
			} {
				if err := raw.CreateUser(ctx, storage.User{Subject: s.subject, Email: s.id + "@example.com", CreatedAt: now, UpdatedAt: now}); err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
					t.Fatal(err)
				}
				if err := raw.CreateSession(ctx, storage.BrowserSession{IDHash: []byte(s.id), SID: "s-" + s.id, Subject: s.subject, AuthTime: now, AMR: []string{"pwd"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				for _, c := range s.clients {
					if err := raw.AddSessionClient(ctx, "s-"+s.id, c, now); err != nil {
						t.Fatal(err)
					}
				}
			}
			st := backchannel.EndingSessions(raw, newNotifier(t, raw, now))
			if err := tc.end(st); err != nil {
				t.Fatal(err)
			}
			list, err := raw.ListLogouts(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range list {
				got = append(got, l.SID+"/"+l.ClientID)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("queued %q, want %q", got, tc.want)
			}
		})
	}
}

func newNotifier(t *testing.T, st storage.Store, now time.Time) *backchannel.Notifier {
	t.Helper()
	return backchannel.New(backchannel.Options{Store: st, Keys: newKeys(t, st, now), Issuer: "https://id.example.com", HTTP: http.DefaultClient,
		Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// newKeys is a key manager over st with one RS256 key, on a frozen clock.
func newKeys(t *testing.T, st storage.Store, now time.Time) *keys.Manager {
	t.Helper()
	cipher, err := keys.NewCipher([][]byte{[]byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	km, err := keys.NewManager(context.Background(), st, cipher, keys.Options{Algs: []string{keys.RS256}, RotationPeriod: 30 * 24 * time.Hour, PrePublish: time.Hour,
		MaxTokenLifetime: time.Hour, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return km
}
