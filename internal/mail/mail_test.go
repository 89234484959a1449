package mail_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gmail "github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore/sqlitetest"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	st   storage.Store
	clk  *clock
	out  *gmail.Outbox
	d    *gmail.Deliverer
	smtp *mailtest.Server
}

func newFixture(t *testing.T, st storage.Store, srv *mailtest.Server, port int) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	sender, err := gmail.NewSMTP(gmail.SMTPConfig{Host: "127.0.0.1", Port: port, From: "gatehouse <no-reply@id.example.com>",
		Username: mailtest.Username, Password: mailtest.Password, TLS: gmail.TLSStartTLS, Timeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: srv.Roots, ServerName: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	d := gmail.NewDeliverer(gmail.Options{Store: st, Sender: sender, Domain: "id.example.com", Now: clk.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return &fixture{st: st, clk: clk, out: gmail.NewOutbox(st, clk.Now, d), d: d, smtp: srv}
}

var welcome = gmail.Message{To: "ann@example.com", Subject: "Welcome", Text: "Hello Ann\nhttps://id.example.com/verify?t=x", HTML: "<p>Hello <b>Ann</b></p>"}

// TestSMTPDelivery: a queued message reaches a real SMTP server over
// STARTTLS with AUTH PLAIN, as multipart/alternative (text and HTML), with
// the outbox id as its Message-ID; it is recorded as sent once.
func TestSMTPDelivery(t *testing.T) {
	srv := mailtest.Start(t, "")
	f := newFixture(t, sqlitetest.Open(t), srv, srv.Port)
	ctx := context.Background()
	id, err := f.out.Queue(ctx, welcome)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.d.DeliverDue(ctx); err != nil || n != 1 {
		t.Fatalf("DeliverDue = %d, %v", n, err)
	}
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages received", len(got))
	}
	m := got[0]
	if m.From != "no-reply@id.example.com" || len(m.To) != 1 || m.To[0] != "ann@example.com" || m.Header.Get("Subject") != "Welcome" ||
		m.Header.Get("Message-Id") != "<"+id+"@id.example.com>" || !strings.HasPrefix(m.Header.Get("Content-Type"), "multipart/alternative") ||
		!strings.Contains(text(t, m.Text), "Hello Ann") || !strings.Contains(text(t, m.HTML), "<b>Ann</b>") {
		t.Fatalf("received %+v\n%s", m.Header, m.Body)
	}
	if list, _ := f.st.ListMail(ctx, 5); len(list) != 1 || list[0].SentAt.IsZero() {
		t.Fatalf("outbox %+v", list)
	}
	if n, _ := f.d.DeliverDue(ctx); n != 0 || len(srv.Messages()) != 1 {
		t.Fatal("a sent message was sent again")
	}
	if sent, failed, gone := f.d.Counts(); sent != 1 || failed != 0 || gone != 0 {
		t.Errorf("counts %d %d %d", sent, failed, gone)
	}
}

// TestRetryUntilTheServerIsBack: with the SMTP server down the request
// that queued the mail is not affected; delivery is retried with back-off
// and succeeds, with the same Message-ID, when the server is back.
func TestRetryUntilTheServerIsBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nobody listens there yet
	st := sqlitetest.Open(t)
	roots := mailtest.Start(t, "") // only for its CA, unused as a server here
	f := newFixture(t, st, roots, port)
	ctx := context.Background()
	id, err := f.out.Queue(ctx, welcome)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.d.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	list, _ := st.ListMail(ctx, 1)
	if len(list) != 1 || !list[0].SentAt.IsZero() || !list[0].FailedAt.IsZero() || list[0].LastError == "" || !list[0].NextAttemptAt.After(f.clk.Now()) {
		t.Fatalf("after a failed attempt: %+v", list)
	}
	if n, _ := f.d.DeliverDue(ctx); n != 0 {
		t.Fatal("retried before its back-off")
	}
	srv := mailtest.Start(t, addr)
	f = newFixture(t, st, srv, port) // the same outbox, a sender that trusts the new server's certificate
	f.clk.add(2 * time.Minute)
	if n, err := f.d.DeliverDue(ctx); err != nil || n != 1 {
		t.Fatalf("retry: %d, %v", n, err)
	}
	got := srv.Messages()
	if len(got) != 1 || got[0].Header.Get("Message-Id") != "<"+id+"@id.example.com>" {
		t.Fatalf("received %d, %+v", len(got), got)
	}
	if list, _ := st.ListMail(ctx, 1); list[0].SentAt.IsZero() || list[0].Attempts != 2 {
		t.Fatalf("outbox %+v", list)
	}
}

// TestRefusedRecipients: a 4xx is retried, a 5xx gives the message up at
// once.
func TestRefusedRecipients(t *testing.T) {
	srv := mailtest.Start(t, "")
	f := newFixture(t, sqlitetest.Open(t), srv, srv.Port)
	ctx := context.Background()
	srv.Reject(451)
	if _, err := f.out.Queue(ctx, welcome); err != nil {
		t.Fatal(err)
	}
	_, _ = f.d.DeliverDue(ctx)
	if l, _ := f.st.ListMail(ctx, 1); !l[0].FailedAt.IsZero() || l[0].Attempts != 1 {
		t.Fatalf("after a 451: %+v", l[0])
	}
	srv.Reject(550)
	f.clk.add(2 * time.Minute)
	_, _ = f.d.DeliverDue(ctx)
	l, _ := f.st.ListMail(ctx, 1)
	if l[0].FailedAt.IsZero() || !strings.Contains(l[0].LastError, "550") {
		t.Fatalf("after a 550: %+v", l[0])
	}
	f.clk.add(24 * time.Hour)
	if n, _ := f.d.DeliverDue(ctx); n != 0 {
		t.Fatal("a given-up message was tried again")
	}
	if _, failed, gone := f.d.Counts(); failed != 2 || gone != 1 {
		t.Errorf("failed %d, given up %d", failed, gone)
	}
}

// TestTwoSendersDeliverOnce: two deliverers (two replicas) over one outbox
// send every message once.
func TestTwoSendersDeliverOnce(t *testing.T) {
	srv := mailtest.Start(t, "")
	st := sqlitetest.Open(t)
	a, b := newFixture(t, st, srv, srv.Port), newFixture(t, st, srv, srv.Port)
	ctx := context.Background()
	const n = 24
	for i := range n {
		m := welcome
		m.To = strings.Replace(m.To, "ann", "ann"+string(rune('a'+i)), 1)
		if _, err := a.out.Queue(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, f := range []*fixture{a, b} {
		wg.Go(func() {
			for range 10 {
				if _, err := f.d.DeliverDue(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for _, m := range srv.Messages() {
		seen[m.Header.Get("Message-Id")]++
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages received, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s received %d times", id, k)
		}
	}
}

// TestQueueRefusesHeaderInjection: an address or subject with a line break
// is refused before anything is stored.
func TestQueueRefusesHeaderInjection(t *testing.T) {
	st := sqlitetest.Open(t)
	out := gmail.NewOutbox(st, time.Now, nil)
	for _, m := range []gmail.Message{
		{To: "ann@example.com\r\nBcc: eve@example.com", Subject: "x"},
		{To: "ann@example.com", Subject: "x\r\nBcc: eve@example.com"},
		{To: "not an address", Subject: "x"},
	} {
		if _, err := out.Queue(context.Background(), m); err == nil {
			t.Errorf("queued %+v", m)
		}
	}
	if l, _ := st.ListMail(context.Background(), 5); len(l) != 0 {
		t.Fatalf("stored %+v", l)
	}
}

func text(t *testing.T, part func() (string, error)) string {
	t.Helper()
	s, err := part()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
