package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-id/gatehouse/internal/ops"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore/sqlitetest"
)

// newApp is a --dev server on a temporary database, its configuration
// changed by edit (nil: none).
func newApp(t *testing.T, clock func() time.Time, edit func(*config.Config)) (*app.App, storage.Store) {
	t.Helper()
	st := sqlitetest.Open(t)
	cfg := config.Default()
	cfg.Issuer, cfg.Dev, cfg.DatabaseURL = "http://localhost:8080", true, "sqlite://unused"
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Deps{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return a, st
}

// run serves a until the test ends, and joins it.
func run(t *testing.T, a *app.App) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, app.Listeners{Public: ln}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

var note = mail.Message{To: "ann@example.com", Subject: "Confirm your address",
	Text: "Open https://localhost:8080/verify?t=abc to confirm.", HTML: `<p><a href="https://localhost:8080/verify?t=abc">Confirm</a></p>`}

// TestDevMailbox: under --dev without SMTP, queued mail is delivered to the
// development mailbox by the running server's sender loop and shown at
// /dev/mail, newest first, its links clickable.
func TestDevMailbox(t *testing.T) {
	a, st := newApp(t, nil, nil)
	run(t, a)
	if _, err := a.Mail.Queue(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if l, _ := st.ListMail(context.Background(), 1); len(l) == 1 && !l[0].SentAt.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the development mailbox did not take the message")
		}
	}
	w := httptest.NewRecorder()
	a.Handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, app.PathDevMail, nil))
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, "Confirm your address") || !strings.Contains(body, `<a href="https://localhost:8080/verify?t=abc">`) ||
		!strings.Contains(body, "delivered") {
		t.Fatalf("/dev/mail: %d\n%s", w.Code, body)
	}
}

// TestNoMailWithoutSMTP: without email.host and outside --dev nothing can
// be sent, and there is no development mailbox.
func TestNoMailWithoutSMTP(t *testing.T) {
	a, _ := newApp(t, nil, func(c *config.Config) {
		c.Dev, c.Secrets, c.Issuer = false, []string{strings.Repeat("s", 40)}, "https://id.example.com"
	})
	if a.Mail != nil {
		t.Fatal("an outbox without a way to deliver it")
	}
	w := httptest.NewRecorder()
	a.Handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, app.PathDevMail, nil))
	if w.Code != http.StatusNotFound {
		t.Fatalf("/dev/mail outside --dev: %d", w.Code)
	}
}

// TestMailThroughSMTP: with email.host set, the running server delivers
// queued mail to a real SMTP server (AUTH PLAIN, the password read from the
// environment), and the metrics count it.
func TestMailThroughSMTP(t *testing.T) {
	srv := mailtest.Start(t, "")
	t.Setenv("TEST_SMTP_PASSWORD", mailtest.Password)
	a, st := newApp(t, nil, func(c *config.Config) {
		c.Email = config.Email{Host: "127.0.0.1", Port: srv.Port, From: "gatehouse <no-reply@localhost>", Username: mailtest.Username,
			Password: "env:TEST_SMTP_PASSWORD", TLS: "none", Timeout: config.Duration{Duration: 5 * time.Second}, GiveUpAfter: config.Duration{Duration: time.Hour}}
	})
	run(t, a)
	if _, err := a.Mail.Queue(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, 1, 10*time.Second)
	if got[0].To[0] != "ann@example.com" || got[0].Header.Get("Subject") != "Confirm your address" || !strings.HasSuffix(got[0].Header.Get("Message-Id"), "@localhost>") {
		t.Fatalf("received %+v", got[0])
	}
	key, _, err := ops.New(st, ops.Options{}).AdminKeys.Create(context.Background(), ops.Actor{Name: "test"}, "prometheus", []string{ops.RoleMetricsRead})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		a.Admin.ServeHTTP(w, r)
		if strings.Contains(w.Body.String(), "gatehouse_mail_sent_total 1\n") && strings.Contains(w.Body.String(), "gatehouse_mail_waiting 0\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics:\n%s", w.Body)
		}
	}
}

// TestFrozenClock: the server decides by the clock it is given: the first
// signing key starts at it, and a user an operator creates and the audit
// event of it carry it.
func TestFrozenClock(t *testing.T) {
	ctx := context.Background()
	frozen := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	a, st := newApp(t, func() time.Time { return frozen }, nil)
	key, _, err := ops.New(st, ops.Options{}).AdminKeys.Create(ctx, ops.Actor{Name: "test"}, "test", []string{ops.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) map[string]any {
		t.Helper()
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		a.Admin.ServeHTTP(w, r)
		if w.Code >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	at := float64(frozen.Unix())
	if u := call(http.MethodPost, "/admin/v1/users", `{"email": "ann@example.com", "password": "a-long-password"}`); u["created_at"] != at {
		t.Errorf("user created_at %v, want %v", u["created_at"], at)
	}
	events := call(http.MethodGet, "/admin/v1/audit", "")["items"].([]any)
	if len(events) == 0 || !strings.HasPrefix(events[0].(map[string]any)["At"].(string), "2031-03-04T05:06:07") {
		t.Errorf("audit events %v, want the latest at %v", events, frozen)
	}
	keys := call(http.MethodGet, "/admin/v1/keys", "")["items"].([]any)
	if len(keys) == 0 || keys[0].(map[string]any)["activate_at"] != at {
		t.Errorf("signing keys %v, want the first active from %v", keys, at)
	}
}
