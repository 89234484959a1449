package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// testLogoutOutbox: logout tokens are claimed once each, for a lease,
// recorded only by their claimer, retried, given up, collected, rolled
// back with their transaction, and gone with their client.
func testLogoutOutbox(t *testing.T, s storage.Store) {
	for _, id := range []string{"c1", "c2"} {
		must(t, s.CreateClient(ctx, client(id)))
	}
	for i, id := range []string{"l1", "l2", "l3"} {
		must(t, s.EnqueueLogout(ctx, storage.Logout{ID: id, ClientID: "c1", Subject: "sub-" + id, SID: "sid-1", CreatedAt: now.Add(time.Duration(i) * time.Second)}))
	}
	must(t, s.EnqueueLogout(ctx, storage.Logout{ID: "l4", ClientID: "c2", Subject: "u", SID: "sid-1", CreatedAt: now.Add(time.Hour)}))
	wantErr(t, s.EnqueueLogout(ctx, storage.Logout{ID: "l1", ClientID: "c1", CreatedAt: now}), storage.ErrAlreadyExists)
	errRollback := errors.New("rolled back")
	if err := s.InTx(ctx, func(ctx context.Context) error {
		must(t, s.EnqueueLogout(ctx, storage.Logout{ID: "gone", ClientID: "c1", CreatedAt: now}))
		return errRollback
	}); !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	later := now.Add(10 * time.Second)
	lease := later.Add(time.Minute)
	a, err := s.ClaimLogouts(ctx, "A", later, lease, 2)
	must(t, err)
	if len(a) != 2 || a[0].ID != "l1" || a[1].ID != "l2" || a[0].Attempts != 1 || a[0].Subject != "sub-l1" || a[0].SID != "sid-1" || a[0].ClientID != "c1" {
		t.Fatalf("first claim = %+v", a)
	}
	if b, _ := s.ClaimLogouts(ctx, "B", later, lease, 10); len(b) != 1 || b[0].ID != "l3" {
		t.Fatalf("second claim = %+v, want l3 only (l4 is not due)", b)
	}
	if n, _ := s.LogoutsWaiting(ctx); n != 4 {
		t.Fatalf("%d waiting, want 4", n)
	}
	wantErr(t, s.LogoutSent(ctx, "l1", "B", later, later.Add(time.Hour)), storage.ErrConflict)
	must(t, s.LogoutSent(ctx, "l1", "A", later, later.Add(time.Hour)))
	wantErr(t, s.LogoutSent(ctx, "l1", "A", later, later.Add(time.Hour)), storage.ErrConflict)
	retry := later.Add(30 * time.Second)
	must(t, s.LogoutFailed(ctx, "l2", "A", "503", later, retry, time.Time{}))
	if c, _ := s.ClaimLogouts(ctx, "C", retry.Add(-time.Second), lease, 10); len(c) != 0 {
		t.Fatalf("claimed before its retry time: %+v", c)
	}
	c, err := s.ClaimLogouts(ctx, "C", retry, lease, 10)
	must(t, err)
	if len(c) != 1 || c[0].ID != "l2" || c[0].Attempts != 2 || c[0].LastError != "503" {
		t.Fatalf("retry claim = %+v", c)
	}
	must(t, s.LogoutFailed(ctx, "l2", "C", "500 forever", retry, time.Time{}, retry.Add(time.Hour)))
	// l3's lease lapses: another sender takes it over.
	if d, _ := s.ClaimLogouts(ctx, "D", lease.Add(time.Second), lease.Add(2*time.Minute), 10); len(d) != 1 || d[0].ID != "l3" || d[0].Attempts != 2 {
		t.Fatalf("after the lease lapsed: %+v", d)
	}
	wantErr(t, s.LogoutSent(ctx, "l3", "B", lease, lease), storage.ErrConflict) // B's claim lapsed
	list, err := s.ListLogouts(ctx, 10)
	must(t, err)
	if len(list) != 4 || list[0].ID != "l4" {
		t.Fatalf("ListLogouts = %+v", list)
	}
	for _, l := range list {
		switch {
		case l.ID == "l1" && l.SentAt.IsZero(), l.ID == "l2" && (l.FailedAt.IsZero() || l.LastError != "500 forever"):
			t.Errorf("row %+v", l)
		}
	}
	// Delivered and given-up rows go after their keep time; waiting ones stay.
	_, err = s.GarbageCollect(ctx, retry.Add(2*time.Hour))
	must(t, err)
	if list, _ := s.ListLogouts(ctx, 10); len(list) != 2 {
		t.Fatalf("after GC: %+v", list)
	}
	must(t, s.DeleteClient(ctx, "c2"))
	if list, _ := s.ListLogouts(ctx, 10); len(list) != 1 || list[0].ID != "l3" {
		t.Fatalf("after deleting c2: %+v", list)
	}
}
