package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func openGroupStore(t *testing.T, db string) *Store {
	t.Helper()
	url := "sqlite://" + filepath.Join(t.TempDir(), "group.db")
	if db == "postgres" {
		url = storagetest.PostgresURL(t)
	}
	st, err := Open(context.Background(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// groupNow is read once, so a token built again for comparison is the
// token that was stored, even across a second boundary.
var groupNow = time.Now().UTC().Truncate(time.Second)

func groupToken(sig string) storage.Token {
	now := groupNow
	return storage.Token{Kind: storage.TokenAccess, Signature: sig, RequestID: "req-" + sig, ClientID: "c", Subject: "s",
		Active: true, ExpiresAt: now.Add(time.Hour), CreatedAt: now, Data: []byte(`{"sig":"` + sig + `"}`)}
}

// queueWriters holds the leader's place, starts n writers and waits until
// all of them are queued, so the next lead writes them as one group.
func queueWriters(t *testing.T, st *Store, sigs []string) (errs []error, wait func()) {
	t.Helper()
	g := &st.groups.writes
	g.mu.Lock()
	g.active = g.max // every leader busy: writers queue
	g.mu.Unlock()
	return queueWritersHeld(t, st, sigs, len(sigs))
}

// queueWritersHeld starts writers while the leader's place is held and waits
// until the queue is want long.
func queueWritersHeld(t *testing.T, st *Store, sigs []string, want int) (errs []error, wait func()) {
	t.Helper()
	g := &st.groups.writes
	errs = make([]error, len(sigs))
	var wg sync.WaitGroup
	for i, sig := range sigs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.CreateToken(context.Background(), groupToken(sig))
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		n := len(g.queue)
		g.mu.Unlock()
		if n == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d writers queued", n, want)
		}
	}
	return errs, wg.Wait
}

// release leads the queue on as a finishing leader does.
func release[In, Out any](g *group[In, Out]) {
	g.mu.Lock()
	next := g.queue
	g.queue = nil
	g.active = 1 // the held places are given up but the one leading on
	g.mu.Unlock()
	go g.lead(context.Background(), next)
}

func TestGroupCommit(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Run("queued writers share one statement", func(t *testing.T) {
				st := openGroupStore(t, db)
				var statements atomic.Int64
				sigs := make([]string, 40)
				for i := range sigs {
					sigs[i] = fmt.Sprintf("group-%02d", i)
				}
				errs, wait := queueWriters(t, st, sigs)
				st.Trace(func(string) { statements.Add(1) })
				release(&st.groups.writes)
				wait()
				st.Trace(nil)
				for i, err := range errs {
					if err != nil {
						t.Fatalf("writer %d: %v", i, err)
					}
				}
				if n := statements.Load(); n != 1 {
					t.Errorf("%d writers took %d statements, want 1", len(sigs), n)
				}
				for _, sig := range sigs {
					got, err := st.GetToken(context.Background(), storage.TokenAccess, sig)
					if err != nil || string(got.Data) != `{"sig":"`+sig+`"}` {
						t.Fatalf("row %s: %+v, %v", sig, got, err)
					}
				}
				settled(t, &st.groups.writes)
			})
			t.Run("a failing row fails only its writer", func(t *testing.T) {
				st := openGroupStore(t, db)
				if err := st.CreateToken(context.Background(), groupToken("taken")); err != nil {
					t.Fatal(err)
				}
				sigs := []string{"a", "b", "taken", "c", "d"}
				errs, wait := queueWriters(t, st, sigs)
				release(&st.groups.writes)
				wait()
				for i, sig := range sigs {
					if sig == "taken" {
						if !errors.Is(errs[i], storage.ErrAlreadyExists) {
							t.Errorf("duplicate row: %v, want ErrAlreadyExists", errs[i])
						}
						continue
					}
					if errs[i] != nil {
						t.Errorf("row %s: %v", sig, errs[i])
					}
					if _, err := st.GetToken(context.Background(), storage.TokenAccess, sig); err != nil {
						t.Errorf("row %s not written: %v", sig, err)
					}
				}
			})
			t.Run("a caller whose request ends leaves; the group goes on", func(t *testing.T) {
				st := openGroupStore(t, db)
				g := &st.groups.writes
				g.mu.Lock()
				g.active = g.max
				g.mu.Unlock()
				ctx, cancel := context.WithCancel(context.Background())
				left := make(chan error, 1)
				go func() { left <- st.CreateToken(ctx, groupToken("leaving")) }()
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
					g.mu.Lock()
					n := len(g.queue)
					g.mu.Unlock()
					if n == 1 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("the writer did not queue")
					}
				}
				cancel()
				select {
				case err := <-left:
					if !errors.Is(err, context.Canceled) {
						t.Fatalf("a writer whose context ended: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("a writer whose context ended is still waiting")
				}
				errs, wait := queueWritersHeld(t, st, []string{"staying"}, 2)
				release(g)
				wait()
				if errs[0] != nil {
					t.Fatal(errs[0])
				}
				settled(t, g)
			})
			t.Run("concurrent writers", func(t *testing.T) {
				st := openGroupStore(t, db)
				var wg sync.WaitGroup
				var failed atomic.Int64
				for w := 0; w < 16; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < 50; i++ {
							if err := st.CreateToken(context.Background(), groupToken(fmt.Sprintf("w%d-%d", w, i))); err != nil {
								failed.Add(1)
							}
						}
					}()
				}
				wg.Wait()
				var n int
				if err := st.db.QueryRow(`SELECT COUNT(*) FROM oauth2_tokens`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if failed.Load() != 0 || n != 800 {
					t.Fatalf("%d failed writes, %d rows, want 0 and 800", failed.Load(), n)
				}
				settled(t, &st.groups.writes)
			})
			t.Run("inside a transaction the row is the transaction's", func(t *testing.T) {
				st := openGroupStore(t, db)
				err := st.InTx(context.Background(), func(ctx context.Context) error {
					if err := st.CreateToken(ctx, groupToken("in-tx")); err != nil {
						return err
					}
					return errors.New("roll back")
				})
				if err == nil {
					t.Fatal("transaction did not fail")
				}
				if _, err := st.GetToken(context.Background(), storage.TokenAccess, "in-tx"); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("row of a rolled-back transaction: %v", err)
				}
			})
		})
	}
}

// holdReads makes readers queue, like queueWriters does for writers.
func holdReads(t *testing.T, st *Store, keys []storage.TokenKey) (out []storage.Token, errs []error, wait func()) {
	t.Helper()
	g := &st.groups.reads
	g.mu.Lock()
	g.active = g.max
	g.mu.Unlock()
	out, errs = make([]storage.Token, len(keys)), make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = st.GetToken(context.Background(), k.Kind, k.Signature)
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		n := len(g.queue)
		g.mu.Unlock()
		if n == len(keys) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d readers queued", n, len(keys))
		}
	}
	return out, errs, wg.Wait
}

func TestGroupRead(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			st := openGroupStore(t, db)
			ctx := context.Background()
			for _, sig := range []string{"r1", "r2", "r3"} {
				if err := st.CreateToken(ctx, groupToken(sig)); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.DeactivateToken(ctx, storage.TokenAccess, "r2"); err != nil {
				t.Fatal(err)
			}
			keys := []storage.TokenKey{{Kind: storage.TokenAccess, Signature: "r1"}, {Kind: storage.TokenAccess, Signature: "r2"},
				{Kind: storage.TokenAccess, Signature: "missing"}, {Kind: storage.TokenRefresh, Signature: "r3"}, // another kind: not found
				{Kind: storage.TokenAccess, Signature: "r3"}, {Kind: storage.TokenAccess, Signature: "r1"}} // asked twice
			var statements atomic.Int64
			out, errs, wait := holdReads(t, st, keys)
			st.Trace(func(string) { statements.Add(1) })
			g := &st.groups.reads
			release(g)
			wait()
			st.Trace(nil)
			if n := statements.Load(); n != 1 {
				t.Errorf("%d readers took %d statements, want 1", len(keys), n)
			}
			for i, k := range keys {
				switch {
				case k.Signature == "missing" || k.Kind == storage.TokenRefresh:
					if !errors.Is(errs[i], storage.ErrNotFound) {
						t.Errorf("%v: %v, want ErrNotFound", k, errs[i])
					}
				case errs[i] != nil:
					t.Errorf("%v: %v", k, errs[i])
				default:
					want := groupToken(k.Signature)
					want.Active = k.Signature != "r2"
					got := out[i]
					if got.Kind != want.Kind || got.Signature != want.Signature || got.RequestID != want.RequestID || got.Active != want.Active ||
						!got.ExpiresAt.Equal(want.ExpiresAt) || string(got.Data) != string(want.Data) {
						t.Errorf("%v: got %+v, want %+v", k, got, want)
					}
				}
			}
			settled(t, g)
		})
	}
}

// settled waits until no leader runs and nothing is queued (the last
// leader steps down after answering its callers).
func settled[In, Out any](t *testing.T, g *group[In, Out]) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		active, queued := g.active, len(g.queue)
		g.mu.Unlock()
		if active == 0 && queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the group: %d leaders, %d queued", active, queued)
		}
	}
}

// TestGroupStatementText: on PostgreSQL a grouped read, write or
// revocation read is one statement text whatever the group's size, so it is
// parsed and planned once per connection (an OR or VALUES list of n
// entries was a new statement for every n, and at 128 keys the plan alone
// took 8 ms).
func TestGroupStatementText(t *testing.T) {
	st := openGroupStore(t, "postgres")
	ctx := context.Background()
	texts := func(f func(n int)) []string {
		var seen []string
		st.Trace(func(q string) { seen = append(seen, q) })
		defer st.Trace(nil)
		for _, n := range []int{2, 7, 130} {
			f(n)
		}
		return seen
	}
	sameText := func(what string, seen []string) {
		t.Helper()
		if len(seen) != 3 || seen[0] != seen[1] || seen[1] != seen[2] {
			t.Errorf("%s: %d statements, want one text three times: %q", what, len(seen), seen)
		}
	}
	written := 0
	sameText("grouped write", texts(func(n int) {
		rows := make([]storage.Token, n)
		for i := range rows {
			written++
			rows[i] = groupToken(fmt.Sprintf("text-%d", written))
		}
		errs := make([]error, n)
		st.writeGroup(ctx, rows, make([]struct{}, n), errs)
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}))
	sameText("grouped read", texts(func(n int) {
		keys := make([]storage.TokenKey, n)
		for i := range keys {
			keys[i] = storage.TokenKey{Kind: storage.TokenAccess, Signature: fmt.Sprintf("text-%d", i+1)}
		}
		out, errs := make([]storage.Token, n), make([]error, n)
		st.readGroup(ctx, keys, out, errs)
		for i, err := range errs {
			if err != nil || out[i].Signature != keys[i].Signature {
				t.Fatalf("key %d: %v %+v", i, err, out[i])
			}
		}
	}))
	sameText("grouped revocation read", texts(func(n int) {
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("jti:%d", i)
		}
		if _, err := st.revokedKeys(ctx, keys); err != nil {
			t.Fatal(err)
		}
	}))
}
