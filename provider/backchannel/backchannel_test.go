package backchannel_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/provider/backchannel"
	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore/sqlitetest"
)

// TestDeliveryOutcomes: how a receiver's answer decides a token's fate.
// A 2xx delivers; a 4xx that is not about time (the client refused the
// token) gives up at once; 408, 425, 429, 5xx and unreachable receivers are
// retried; a client that lost its URI, or was deleted, gives up. Given-up
// tokens are audited with the user and the client.
func TestDeliveryOutcomes(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		status int // 0: nobody listens
		want   string
	}{
		{"200", 200, "sent"},
		{"204", 204, "sent"},
		{"400", 400, "given up"},
		{"404", 404, "given up"},
		{"408", 408, "retry"},
		{"429", 429, "retry"},
		{"500", 500, "retry"},
		{"503", 503, "retry"},
		{"302", 302, "retry"},
		{"unreachable", 0, "retry"},
		{"no URI any more", -1, "given up"},
		{"client deleted", -2, "gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := sqlitetest.Open(t)
			var got []string
			var mu sync.Mutex
			rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = append(got, r.PostFormValue("logout_token"))
				mu.Unlock()
				if tc.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
			}))
			uri := rp.URL + "/logout"
			if tc.status == 0 {
				rp.Close()
			} else {
				defer rp.Close()
			}
			c := storage.Client{ID: "rp", Name: "RP", RedirectURIs: []string{"https://rp.example/cb"}, PostLogoutRedirectURIs: []string{}, CreatedAt: now, UpdatedAt: now,
				Metadata: storage.ClientMetadata{BackchannelLogoutURI: uri}}
			if err := st.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateUser(ctx, storage.User{Subject: "ann", Email: "ann@example.com", CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			km := newKeys(t, st, now)
			var audited []string
			n := backchannel.New(backchannel.Options{Store: st, Keys: km, Issuer: "https://id.example.com", HTTP: &http.Client{
				Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
				Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Audit: func(_ context.Context, typ, subject, clientID string, _ map[string]string) {
					audited = append(audited, typ+" "+subject+" "+clientID)
				}})
			if err := n.SessionEnded(ctx, interaction.EndedSession{SID: "sid-1", Subject: "ann", Clients: []string{"rp", "no-such-client"}}); err != nil {
				t.Fatal(err)
			}
			switch tc.status {
			case -1:
				if _, err := st.UpdateClient(ctx, "rp", func(c storage.Client) (storage.Client, error) {
					c.Metadata.BackchannelLogoutURI = ""
					return c, nil
				}); err != nil {
					t.Fatal(err)
				}
			case -2:
				if err := st.DeleteClient(ctx, "rp"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := n.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			list, err := st.ListLogouts(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			state := "gone"
			if len(list) == 1 {
				switch l := list[0]; {
				case !l.SentAt.IsZero():
					state = "sent"
				case !l.FailedAt.IsZero():
					state = "given up"
				case l.NextAttemptAt.After(now) && l.LastError != "":
					state = "retry"
				default:
					state = "waiting"
				}
			}
			if state != tc.want {
				t.Fatalf("%s: %s (%+v), want %s", tc.name, state, list, tc.want)
			}
			if (state == "given up") != (len(audited) == 1 && audited[0] == "logout.backchannel_failed ann rp") {
				t.Errorf("audit %v", audited)
			}
			if tc.status >= 200 && len(got) != 1 {
				t.Errorf("%d POSTs, want 1", len(got))
			}
		})
	}
}
