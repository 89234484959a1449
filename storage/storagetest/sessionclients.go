package storagetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// testSessionClients: a session remembers the clients it signed in to,
// each once and in order, concurrently too; nothing is recorded for a
// session that is gone; the records go with the session and with the
// client.
func testSessionClients(t *testing.T, s storage.Store) {
	must(t, s.CreateUser(ctx, user("u1", "a@example.com")))
	for _, id := range []string{"c1", "c2", "c3"} {
		must(t, s.CreateClient(ctx, client(id)))
	}
	for _, sid := range []string{"sid-1", "sid-2"} {
		must(t, s.CreateSession(ctx, storage.BrowserSession{IDHash: []byte("hash-" + sid), SID: sid, Subject: "u1", AuthTime: now, AMR: []string{"pwd"},
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	}
	must(t, s.AddSessionClient(ctx, "sid-1", "c2", now))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := s.AddSessionClient(ctx, "sid-1", "c1", now.Add(time.Second)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	must(t, s.AddSessionClient(ctx, "sid-1", "c2", now.Add(time.Minute))) // again: no change
	must(t, s.AddSessionClient(ctx, "sid-2", "c3", now))
	must(t, s.AddSessionClient(ctx, "no-such-sid", "c1", now)) // the session ended meanwhile
	if got, err := s.ListSessionClients(ctx, "sid-1"); err != nil || !slices.Equal(got, []string{"c2", "c1"}) {
		t.Fatalf("ListSessionClients(sid-1) = %v, %v", got, err)
	}
	if bs, err := s.GetSession(ctx, []byte("hash-sid-1"), now); err != nil || len(bs.Clients) != 2 || !slices.Contains(bs.Clients, "c1") || !slices.Contains(bs.Clients, "c2") {
		t.Fatalf("GetSession(sid-1).Clients = %v, %v", bs.Clients, err)
	}
	if list, err := s.ListSessions(ctx, "u1", now); err != nil || len(list) != 2 || len(list[0].Clients)+len(list[1].Clients) != 3 {
		t.Fatalf("ListSessions with clients = %+v, %v", list, err)
	}
	if got, err := s.ListSessionClients(ctx, "no-such-sid"); err != nil || len(got) != 0 {
		t.Fatalf("ListSessionClients(no-such-sid) = %v, %v", got, err)
	}
	must(t, s.DeleteClient(ctx, "c2"))
	if got, _ := s.ListSessionClients(ctx, "sid-1"); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("after deleting c2: %v", got)
	}
	must(t, s.DeleteSession(ctx, []byte("hash-sid-1")))
	if got, _ := s.ListSessionClients(ctx, "sid-1"); len(got) != 0 {
		t.Fatalf("after the session ended: %v", got)
	}
	if got, _ := s.ListSessionClients(ctx, "sid-2"); !slices.Equal(got, []string{"c3"}) {
		t.Fatalf("another session's clients: %v", got)
	}
}

// testSessionTokens: ending a session (DeleteSession, DeleteSessions)
// deletes the protocol records bound to it (Token.SID) and nothing else:
// records of other sessions, and unbound ones (offline_access grants,
// client credentials) stay; the SID is stored and read back.
func testSessionTokens(t *testing.T, s storage.Store) {
	must(t, s.CreateUser(ctx, user("u1", "a@example.com")))
	must(t, s.CreateUser(ctx, user("u2", "b@example.com")))
	for _, bs := range []struct{ sid, subject string }{{"sid-1", "u1"}, {"sid-2", "u1"}, {"sid-3", "u1"}, {"sid-4", "u2"}} {
		must(t, s.CreateSession(ctx, storage.BrowserSession{IDHash: []byte("hash-" + bs.sid), SID: bs.sid, Subject: bs.subject, AuthTime: now, AMR: []string{"pwd"},
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	}
	bound := func(sig, subject, sid string) storage.Token {
		tk := token(storage.TokenAccess, sig, "req-"+sig, now.Add(time.Hour))
		tk.Subject, tk.SID = subject, sid
		return tk
	}
	must(t, s.CreateToken(ctx, bound("at-1", "u1", "sid-1")))
	must(t, s.CreateTokens(ctx, []storage.Token{bound("at-1b", "u1", "sid-1"), bound("at-2", "u1", "sid-2"), bound("at-3", "u1", "sid-3"),
		bound("at-4", "u2", "sid-4"), bound("offline", "u1", ""), bound("cc", "", "")}))
	if tk, err := s.GetToken(ctx, storage.TokenAccess, "at-1"); err != nil || tk.SID != "sid-1" {
		t.Fatalf("GetToken(at-1) = %+v, %v", tk, err)
	}
	if fam, err := s.GetTokenFamily(ctx, storage.TokenAccess, "at-2", nil); err != nil || len(fam) != 1 || fam[0].SID != "sid-2" {
		t.Fatalf("GetTokenFamily(at-2) = %+v, %v", fam, err)
	}
	left := func() []string {
		var out []string
		for _, sig := range []string{"at-1", "at-1b", "at-2", "at-3", "at-4", "offline", "cc"} {
			if _, err := s.GetToken(ctx, storage.TokenAccess, sig); err == nil {
				out = append(out, sig)
			}
		}
		return out
	}
	must(t, s.DeleteSession(ctx, []byte("hash-sid-1")))
	if got := left(); !slices.Equal(got, []string{"at-2", "at-3", "at-4", "offline", "cc"}) {
		t.Fatalf("after ending sid-1: %v", got)
	}
	must(t, s.DeleteSession(ctx, []byte("hash-no-such-session")))
	if n, err := s.DeleteSessions(ctx, "u1"); err != nil || n != 2 {
		t.Fatalf("DeleteSessions(u1) = %d, %v", n, err)
	}
	if got := left(); !slices.Equal(got, []string{"at-4", "offline", "cc"}) {
		t.Fatalf("after signing u1 out everywhere: %v", got)
	}
}

// testRenewSession: a new sign-in of the same user moves the session to a
// new id, keeping its sid, its clients and the records bound to it; the
// old id is gone; another user's session, or a gone one, is not renewed.
func testRenewSession(t *testing.T, s storage.Store) {
	must(t, s.CreateUser(ctx, user("u1", "a@example.com")))
	must(t, s.CreateClient(ctx, client("c1")))
	must(t, s.CreateSession(ctx, storage.BrowserSession{IDHash: []byte("old"), SID: "sid-1", Subject: "u1", AuthTime: now, AMR: []string{"pwd"},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(t, s.AddSessionClient(ctx, "sid-1", "c1", now))
	tk := token(storage.TokenAccess, "at", "req", now.Add(time.Hour))
	tk.SID = "sid-1"
	must(t, s.CreateToken(ctx, tk))
	later := now.Add(10 * time.Minute)
	renewed := storage.BrowserSession{IDHash: []byte("new"), SID: "sid-1", Subject: "u1", AuthTime: later, AMR: []string{"pwd", "otp"}, ExpiresAt: later.Add(time.Hour)}
	wantErr(t, s.RenewSession(ctx, []byte("old"), storage.BrowserSession{IDHash: []byte("x"), SID: "sid-1", Subject: "u2", AuthTime: later, ExpiresAt: later}), storage.ErrNotFound)
	wantErr(t, s.RenewSession(ctx, []byte("gone"), renewed), storage.ErrNotFound)
	must(t, s.RenewSession(ctx, []byte("old"), renewed))
	if _, err := s.GetSession(ctx, []byte("old"), now); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the old id still reads: %v", err)
	}
	bs, err := s.GetSession(ctx, []byte("new"), now)
	if err != nil || bs.SID != "sid-1" || !bs.AuthTime.Equal(later) || !slices.Equal(bs.AMR, []string{"pwd", "otp"}) || !bs.ExpiresAt.Equal(later.Add(time.Hour)) ||
		!bs.CreatedAt.Equal(now) || !slices.Equal(bs.Clients, []string{"c1"}) {
		t.Fatalf("renewed session %+v, %v", bs, err)
	}
	if _, err := s.GetToken(ctx, storage.TokenAccess, "at"); err != nil {
		t.Fatalf("the session's token after renewal: %v", err)
	}
}
