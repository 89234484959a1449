package provider

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore/sqlitetest"
)

// TestGatheredTransaction: fosite's token transaction, after the request
// read its code as active, is written at Commit as one redemption (code
// used, tokens stored, the code's PKCE and OIDC records deleted); a code
// used by another request in between makes Commit fail with nothing
// written; a write fosite never makes inside it is refused; without the
// read, BeginTX opens a database transaction.
func TestGatheredTransaction(t *testing.T) {
	st := sqlitetest.Open(t)
	now := time.Now().UTC()
	if err := st.CreateClient(t.Context(), storage.Client{ID: "rp", Name: "RP", RedirectURIs: []string{}, PostLogoutRedirectURIs: []string{},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"openid"}, Audience: []string{},
		TokenEndpointAuthMethod: "none", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	f := &fositeStore{tokens: st, tx: st, now: time.Now, clients: &clientCache{store: st, now: time.Now}}
	c, err := f.GetClient(t.Context(), "rp")
	if err != nil {
		t.Fatal(err)
	}
	// authorize stores a code with its PKCE and OIDC records.
	issue := func(code string) {
		t.Helper()
		sess := newSession()
		sess.Subject = "alice"
		sess.SetExpiresAt(fosite.AuthorizeCode, now.Add(time.Minute))
		r := &fosite.Request{ID: "rq-" + code, RequestedAt: now, Client: c, Session: sess}
		// A refresh token of another grant, which nothing may rotate
		// inside the code's gathered transaction.
		other := &fosite.Request{ID: "other-" + code, RequestedAt: now, Client: c, Session: sess}
		for _, err := range []error{f.CreateAuthorizeCodeSession(t.Context(), code, r), f.CreatePKCERequestSession(t.Context(), code, r),
			f.CreateOpenIDConnectSession(t.Context(), code, r), f.CreateRefreshTokenSession(t.Context(), "rt-"+code, "", other)} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	exists := func(kind storage.TokenKind, sig string) bool {
		t.Helper()
		_, err := st.GetToken(t.Context(), kind, sig)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	// redeem is the token endpoint's part: read the code, then fosite's
	// transaction; between, interfere may act as another request.
	redeem := func(code, access string, interfere func(ctx context.Context) error) (context.Context, error) {
		t.Helper()
		ctx, _ := withBatch(t.Context())
		r, err := f.GetAuthorizeCodeSession(ctx, code, newSession())
		if err != nil {
			t.Fatal(err)
		}
		tctx, err := f.BeginTX(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tctx != ctx {
			t.Fatal("a database transaction was opened for a code read as active")
		}
		if err := f.InvalidateAuthorizeCodeSession(tctx, code); err != nil {
			t.Fatal(err)
		}
		r.GetSession().SetExpiresAt(fosite.AccessToken, now.Add(time.Hour))
		if err := f.CreateAccessTokenSession(tctx, access, r); err != nil {
			t.Fatal(err)
		}
		if interfere != nil {
			if err := interfere(tctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.RevokeRefreshToken(tctx, r.GetID()); err == nil {
			t.Fatal("a revocation inside a gathered transaction was allowed")
		}
		if err := f.RotateRefreshToken(tctx, "other-"+code, "rt-"+code); err == nil {
			t.Fatal("a refresh rotation inside a gathered transaction was allowed")
		}
		if rt, err := st.GetToken(t.Context(), storage.TokenRefresh, "rt-"+code); err != nil || !rt.Active {
			t.Fatalf("refresh token after a refused rotation: %+v %v, want active", rt, err)
		}
		if exists(storage.TokenAccess, access) {
			t.Fatal("the access token was written before Commit")
		}
		err = f.Commit(tctx)
		if err != nil {
			if rerr := f.Rollback(tctx); rerr != nil {
				t.Fatalf("rollback after a failed gathered commit: %v", rerr)
			}
		}
		return ctx, err
	}

	issue("code-1")
	if _, err := redeem("code-1", "at-1", nil); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetToken(t.Context(), storage.TokenAuthorizeCode, "code-1")
	if err != nil || got.Active {
		t.Fatalf("code after redemption: %+v %v, want inactive", got, err)
	}
	if !exists(storage.TokenAccess, "at-1") || exists(storage.TokenPKCE, "code-1") || exists(storage.TokenOIDC, oidcKey("code-1")) {
		t.Fatal("after redemption want the access token stored and the PKCE and OIDC records gone")
	}

	issue("code-2")
	_, err = redeem("code-2", "at-2", func(context.Context) error {
		// Another request uses the code first.
		return st.DeactivateToken(t.Context(), storage.TokenAuthorizeCode, "code-2")
	})
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("commit after the code was used elsewhere: %v, want ErrConflict", err)
	}
	if exists(storage.TokenAccess, "at-2") || !exists(storage.TokenPKCE, "code-2") {
		t.Fatal("a lost redemption wrote or deleted records")
	}

	// Without a code read as active (fosite's own reuse handling), the
	// transaction is the database's.
	ctx, _ := withBatch(t.Context())
	tctx, err := f.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tctx == ctx {
		t.Fatal("no database transaction without a code read as active")
	}
	if err := f.RevokeAccessToken(tctx, "rq-code-2"); err != nil {
		t.Fatal(err)
	}
	if err := f.Rollback(tctx); err != nil {
		t.Fatal(err)
	}
}
