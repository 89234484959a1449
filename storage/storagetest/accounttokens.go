package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

func testAccountTokens(t *testing.T, s storage.Store) {
	must(t, s.CreateUser(ctx, storage.User{Subject: "ann", Email: "ann@example.com", CreatedAt: now, UpdatedAt: now}))
	tok := storage.AccountToken{Hash: []byte("h1"), Purpose: "recover", Subject: "ann", Binding: []byte("b"), Data: "d", CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
	must(t, s.CreateAccountToken(ctx, tok))
	wantErr(t, s.CreateAccountToken(ctx, tok), storage.ErrAlreadyExists)
	got, err := s.GetAccountToken(ctx, []byte("h1"), "recover", now)
	must(t, err)
	if got.Subject != "ann" || !bytes.Equal(got.Binding, []byte("b")) || got.Data != "d" || !got.ExpiresAt.Equal(tok.ExpiresAt) || !got.UsedAt.IsZero() {
		t.Fatalf("GetAccountToken = %+v", got)
	}
	_, err = s.GetAccountToken(ctx, []byte("h1"), "verify", now)
	wantErr(t, err, storage.ErrNotFound) // another purpose
	_, err = s.UseAccountToken(ctx, []byte("h1"), "recover", now.Add(15*time.Minute))
	wantErr(t, err, storage.ErrNotFound) // expired
	// Racing uses: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.UseAccountToken(ctx, []byte("h1"), "recover", now.Add(time.Minute)); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrConflict) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d uses of a single-use link won", wins.Load())
	}
	_, err = s.GetAccountToken(ctx, []byte("h1"), "recover", now)
	wantErr(t, err, storage.ErrNotFound) // used
	// A new link replaces the old ones of its purpose; others stay.
	must(t, s.CreateAccountToken(ctx, storage.AccountToken{Hash: []byte("h2"), Purpose: "recover", Subject: "ann", Binding: []byte("b"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(t, s.CreateAccountToken(ctx, storage.AccountToken{Hash: []byte("h3"), Purpose: "verify", Subject: "ann", Binding: []byte("b"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(t, s.DeleteAccountTokens(ctx, "ann", "recover"))
	_, err = s.GetAccountToken(ctx, []byte("h2"), "recover", now)
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.GetAccountToken(ctx, []byte("h3"), "verify", now)
	must(t, err)
	// The last token each client got for a subject ("last use").
	must(t, s.CreateClient(ctx, storage.Client{ID: "notes", Name: "Notes", CreatedAt: now, UpdatedAt: now}))
	for i, at := range []time.Time{now, now.Add(time.Hour), now.Add(30 * time.Minute)} {
		must(t, s.CreateToken(ctx, storage.Token{Kind: storage.TokenAccess, Signature: fmt.Sprint("lt", i), RequestID: fmt.Sprint("r", i), ClientID: "notes", Subject: "ann",
			Active: true, ExpiresAt: now.Add(2 * time.Hour), CreatedAt: at, Data: []byte("{}")}))
	}
	last, err := s.LastTokenUse(ctx, "ann")
	must(t, err)
	if len(last) != 1 || !last["notes"].Equal(now.Add(time.Hour)) {
		t.Fatalf("LastTokenUse = %v", last)
	}
	if none, err := s.LastTokenUse(ctx, "nobody"); err != nil || len(none) != 0 {
		t.Fatalf("LastTokenUse of nobody = %v, %v", none, err)
	}
	// Collection takes expired links; deleting the user takes the rest.
	_, err = s.GarbageCollect(ctx, now.Add(2*time.Hour))
	must(t, err)
	_, err = s.GetAccountToken(ctx, []byte("h3"), "verify", now)
	wantErr(t, err, storage.ErrNotFound)
	must(t, s.CreateAccountToken(ctx, storage.AccountToken{Hash: []byte("h4"), Purpose: "verify", Subject: "ann", Binding: []byte("b"), CreatedAt: now, ExpiresAt: now.AddDate(1, 0, 0)}))
	must(t, s.DeleteUser(ctx, "ann"))
	_, err = s.GetAccountToken(ctx, []byte("h4"), "verify", now)
	wantErr(t, err, storage.ErrNotFound)
}
