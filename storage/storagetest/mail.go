package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

func mail(id string, at time.Time) storage.Mail {
	return storage.Mail{ID: id, To: id + "@example.com", Subject: "s " + id, Text: "t " + id, HTML: "<p>" + id + "</p>", CreatedAt: at}
}

func testMailOutbox(t *testing.T, s storage.Store) {
	for i, id := range []string{"m1", "m2", "m3"} {
		must(t, s.EnqueueMail(ctx, mail(id, now.Add(time.Duration(i)*time.Second))))
	}
	wantErr(t, s.EnqueueMail(ctx, mail("m1", now)), storage.ErrAlreadyExists)
	// Enqueued in a transaction that rolls back: nothing to send.
	errRollback := errors.New("rolled back")
	if err := s.InTx(ctx, func(ctx context.Context) error {
		must(t, s.EnqueueMail(ctx, mail("gone", now)))
		return errRollback
	}); !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	later := now.Add(10 * time.Second)
	lease := later.Add(time.Minute)
	a, err := s.ClaimMail(ctx, "A", later, lease, 2)
	must(t, err)
	if len(a) != 2 || a[0].ID != "m1" || a[1].ID != "m2" || a[0].Attempts != 1 || a[0].HTML != "<p>m1</p>" || a[0].To != "m1@example.com" {
		t.Fatalf("first claim = %+v", a)
	}
	b, err := s.ClaimMail(ctx, "B", later, lease, 10)
	must(t, err)
	if len(b) != 1 || b[0].ID != "m3" {
		t.Fatalf("second claim = %+v, want m3 only", b)
	}
	if c, _ := s.ClaimMail(ctx, "C", later, lease, 10); len(c) != 0 {
		t.Fatalf("held messages claimed again: %+v", c)
	}
	if n, _ := s.MailWaiting(ctx); n != 3 {
		t.Fatalf("%d waiting, want 3", n)
	}
	wantErr(t, s.MailSent(ctx, "m1", "B", later, later.Add(time.Hour)), storage.ErrConflict) // not B's
	must(t, s.MailSent(ctx, "m1", "A", later, later.Add(time.Hour)))
	wantErr(t, s.MailSent(ctx, "m1", "A", later, later.Add(time.Hour)), storage.ErrConflict) // once
	retry := later.Add(30 * time.Second)
	must(t, s.MailFailed(ctx, "m2", "A", "421 try later", later, retry, time.Time{}))
	if c, _ := s.ClaimMail(ctx, "C", retry.Add(-time.Second), lease, 10); len(c) != 0 {
		t.Fatalf("claimed before its retry time: %+v", c)
	}
	c, err := s.ClaimMail(ctx, "C", retry, lease, 10)
	must(t, err)
	if len(c) != 1 || c[0].ID != "m2" || c[0].Attempts != 2 || c[0].LastError != "421 try later" {
		t.Fatalf("retry claim = %+v", c)
	}
	// B stalled (a crash between sending and recording): after its claim
	// lapses another sender takes m3, and B's late report is refused.
	d, err := s.ClaimMail(ctx, "D", lease, lease.Add(time.Minute), 10)
	must(t, err)
	if len(d) != 2 || d[0].ID != "m3" && d[1].ID != "m3" {
		t.Fatalf("after the lease: %+v", d)
	}
	wantErr(t, s.MailSent(ctx, "m3", "B", lease, lease), storage.ErrConflict)
	must(t, s.MailFailed(ctx, "m3", "D", "550 no such user", lease, time.Time{}, lease.Add(time.Hour))) // given up
	must(t, s.MailSent(ctx, "m2", "D", lease, lease.Add(2*time.Hour)))
	if n, _ := s.MailWaiting(ctx); n != 0 {
		t.Fatalf("%d waiting, want 0", n)
	}
	list, err := s.ListMail(ctx, 10)
	must(t, err)
	if len(list) != 3 || list[0].ID != "m3" || list[0].FailedAt.IsZero() || list[0].LastError != "550 no such user" || list[2].SentAt.IsZero() {
		t.Fatalf("ListMail = %+v", list)
	}
	// Collection takes delivered and abandoned rows past their keep time,
	// never a waiting one.
	must(t, s.EnqueueMail(ctx, mail("waiting", now)))
	_, err = s.GarbageCollect(ctx, lease.Add(90*time.Minute))
	must(t, err)
	list, _ = s.ListMail(ctx, 10)
	ids := fmt.Sprint(mailIDs(list))
	if ids != "[m2 waiting]" {
		t.Fatalf("after collection: %s, want [m2 waiting]", ids)
	}
	_, err = s.GarbageCollect(ctx, now.AddDate(100, 0, 0))
	must(t, err)
	if list, _ = s.ListMail(ctx, 10); fmt.Sprint(mailIDs(list)) != "[waiting]" {
		t.Fatalf("a waiting message was collected: %v", mailIDs(list))
	}
}

func mailIDs(l []storage.Mail) []string {
	var out []string
	for _, m := range l {
		out = append(out, m.ID)
	}
	return out
}

func testConcurrentMailClaims(t *testing.T, s storage.Store) {
	const n = 30
	for i := range n {
		must(t, s.EnqueueMail(ctx, mail(fmt.Sprintf("c%02d", i), now)))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for {
				got, err := s.ClaimMail(ctx, fmt.Sprint("w", w), now.Add(time.Second), now.Add(time.Hour), 3)
				if err != nil && !errors.Is(err, storage.ErrConflict) {
					t.Error(err)
					return
				}
				if err == nil && len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d of %d messages claimed", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s claimed %d times", id, k)
		}
	}
}
