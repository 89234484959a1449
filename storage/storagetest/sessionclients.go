package storagetest

import (
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
