// Package storagetest is the one behavioural suite every storage backend
// must pass: CRUD with not-found and duplicate errors for every store,
// expiry, garbage collection, transactions and rollback, and concurrent
// compare-and-swap updates.
package storagetest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

// PostgresURL creates an empty database on the server named by
// GATEHOUSE_TEST_DATABASE_URL and returns its URL. Without that variable the
// test is skipped with a message, or fails when GATEHOUSE_REQUIRE_POSTGRES=1.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("GATEHOUSE_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("GATEHOUSE_REQUIRE_POSTGRES") == "1" {
			t.Fatal("GATEHOUSE_REQUIRE_POSTGRES=1 but GATEHOUSE_TEST_DATABASE_URL is empty")
		}
		t.Skip("PostgreSQL SKIPPED: GATEHOUSE_TEST_DATABASE_URL is not set (make test sets it)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	for i := range b {
		b[i] = byte(rand.IntN(256))
	}
	name := "gh_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Run runs the suite; newStore returns a fresh, migrated, empty store.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"clients", testClients},
		{"users", testUsers},
		{"concurrent user updates", testConcurrentUserUpdates},
		{"sessions and consent", testSessions},
		{"flows", testFlows},
		{"concurrent flow transitions", testConcurrentFlows},
		{"tokens", testTokens},
		{"concurrent token deactivation", testConcurrentDeactivate},
		{"concurrent refresh rotation", testConcurrentRotation},
		{"redemption: all or nothing, once", testRedeem},
		{"redemption: of concurrent ones exactly one writes", testConcurrentRedeem},
		{"client assertion jtis", testJTIs},
		{"keys and secrets", testKeys},
		{"transactions", testTransactions},
		{"garbage collection", testGC},
		{"time zones", testTimeZones},
		{"refresh grace", testRefreshGrace},
		{"audit log", testAudit},
		{"credentials", testCredentials},
		{"admin keys", testAdminKeys},
		{"concurrent credential counter", testConcurrentCredentialCounter},
		{"federated identities", testFederatedIdentities},
		{"token families in one statement", testTokenFamilies},
		{"a user's second factor, read with the user", testUserSecondFactor},
		{"attempts: reserve, lock, back-off, release", testAttempts},
		{"a user's standard claims", testUserProfile},
		{"attempts: concurrent reservations never exceed the policy", testConcurrentAttempts},
		{"revoking a subject ends its sessions and tokens", testRevokeSubject},
		{"mail outbox: claim, lease, deliver, retry, give up, collect", testMailOutbox},
		{"mail outbox: concurrent senders claim each message once", testConcurrentMailClaims},
		{"account tokens: single use, purpose, expiry, collection", testAccountTokens},
		{"session clients: recorded once, in order, gone with the session", testSessionClients},
		{"session tokens: ending a session deletes what is bound to it", testSessionTokens},
		{"a new sign-in of the same user renews the session, keeping its sid", testRenewSession},
		{"token revocations: one read, idempotent, collected after expiry", testTokenRevocations},
		{"logout outbox: claim, lease, deliver, retry, give up, collect", testLogoutOutbox},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

var ctx = context.Background()

// now is a fixed instant with microsecond precision, as stored.
var now = time.Date(2026, 11, 25, 12, 0, 0, 123456000, time.UTC)

func client(id string) storage.Client {
	return storage.Client{ID: id, SecretHash: []byte{1, 2, 3}, Name: "App " + id, RedirectURIs: []string{"https://app.example/cb"},
		PostLogoutRedirectURIs: []string{}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid"}, Audience: []string{}, TokenEndpointAuthMethod: "client_secret_basic", CreatedAt: now, UpdatedAt: now}
}

func user(sub, email string) storage.User {
	return storage.User{Subject: sub, Email: email, EmailVerified: true, Name: "N", PasswordHash: "$argon2id$x", CreatedAt: now, UpdatedAt: now}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testClients(t *testing.T, s storage.Store) {
	c := client("c1")
	c.Owner, c.RequireMFA = "team-a", true
	c.Metadata.BackchannelLogoutURI, c.Metadata.BackchannelLogoutSessionRequired = "https://app.example/bcl", true
	must(t, s.CreateClient(ctx, c))
	wantErr(t, s.CreateClient(ctx, c), storage.ErrAlreadyExists)
	got, err := s.GetClient(ctx, "c1")
	must(t, err)
	if got.Name != c.Name || len(got.RedirectURIs) != 1 || got.RedirectURIs[0] != "https://app.example/cb" || !bytes.Equal(got.SecretHash, c.SecretHash) || !got.CreatedAt.Equal(now) ||
		got.Owner != "team-a" || !got.RequireMFA || got.Metadata.BackchannelLogoutURI != "https://app.example/bcl" || !got.Metadata.BackchannelLogoutSessionRequired {
		t.Fatalf("GetClient = %+v", got)
	}
	_, err = s.GetClient(ctx, "nope")
	wantErr(t, err, storage.ErrNotFound)
	must(t, s.CreateClient(ctx, client("c0")))
	list, err := s.ListClients(ctx)
	must(t, err)
	if len(list) != 2 || list[0].ID != "c0" {
		t.Fatalf("ListClients = %v", list)
	}
	c.Metadata = storage.ClientMetadata{LogoURI: "https://app.example/logo.png", Contacts: []string{"ops@app.example"}}
	up, err := s.UpdateClient(ctx, "c1", func(old storage.Client) (storage.Client, error) {
		old.Name, old.Metadata, old.RedirectURIs, old.RegistrationTokenHash = "Renamed", c.Metadata, []string{"https://app.example/cb2"}, "abc"
		old.ID, old.CreatedAt = "moved", now.Add(time.Hour) // neither may change
		return old, nil
	})
	must(t, err)
	got, err = s.GetClient(ctx, "c1")
	must(t, err)
	if got.Name != "Renamed" || got.Metadata.LogoURI == "" || len(got.Metadata.Contacts) != 1 || got.RedirectURIs[0] != "https://app.example/cb2" ||
		got.RegistrationTokenHash != "abc" || !got.CreatedAt.Equal(now) || !got.UpdatedAt.Equal(up.UpdatedAt) {
		t.Fatalf("after UpdateClient: %+v", got)
	}
	_, err = s.UpdateClient(ctx, "nope", func(c storage.Client) (storage.Client, error) { return c, nil })
	wantErr(t, err, storage.ErrNotFound)
	must(t, s.CreateToken(ctx, storage.Token{Kind: storage.TokenAccess, Signature: "sig", RequestID: "r", ClientID: "c1", Active: true, ExpiresAt: now.Add(time.Hour), CreatedAt: now, Data: []byte("{}")}))
	must(t, s.DeleteClient(ctx, "c1"))
	_, err = s.GetToken(ctx, storage.TokenAccess, "sig")
	wantErr(t, err, storage.ErrNotFound) // deleting a client revokes its tokens
	wantErr(t, s.DeleteClient(ctx, "c1"), storage.ErrNotFound)
}

func testUsers(t *testing.T, s storage.Store) {
	must(t, s.CreateUser(ctx, user("u1", "Alice@Example.com")))
	wantErr(t, s.CreateUser(ctx, user("u2", "alice@example.COM")), storage.ErrAlreadyExists)
	wantErr(t, s.CreateUser(ctx, user("u1", "other@example.com")), storage.ErrAlreadyExists)
	u, err := s.GetUserByEmail(ctx, " ALICE@example.com ")
	must(t, err)
	if u.Subject != "u1" || u.Email != "alice@example.com" {
		t.Fatalf("GetUserByEmail = %+v", u)
	}
	_, err = s.GetUser(ctx, "nope")
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.UpdateUser(ctx, "nope", func(u storage.User) (storage.User, error) { return u, nil })
	wantErr(t, err, storage.ErrNotFound)
	boom := errors.New("boom")
	_, err = s.UpdateUser(ctx, "u1", func(u storage.User) (storage.User, error) { u.Name = "changed"; return u, boom })
	wantErr(t, err, boom)
	if u, _ := s.GetUser(ctx, "u1"); u.Name != "N" {
		t.Fatal("a failed update wrote")
	}
	nu, err := s.UpdateUser(ctx, "u1", func(u storage.User) (storage.User, error) { u.Disabled = true; return u, nil })
	must(t, err)
	if got, _ := s.GetUser(ctx, "u1"); !got.Disabled || !got.UpdatedAt.Equal(nu.UpdatedAt) {
		t.Fatalf("update lost: %+v", got)
	}
	list, err := s.ListUsers(ctx)
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("ListUsers = %v", list)
	}
}

// testConcurrentUserUpdates: CAS updates with retry lose no increment.
func testConcurrentUserUpdates(t *testing.T, s storage.Store) {
	must(t, s.CreateUser(ctx, user("u1", "a@example.com")))
	const n = 16
	var wg sync.WaitGroup
	var conflicts atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := s.UpdateUser(ctx, "u1", func(u storage.User) (storage.User, error) {
					u.Name += "x"
					u.UpdatedAt = time.Now().UTC()
					return u, nil
				})
				if errors.Is(err, storage.ErrConflict) {
					conflicts.Add(1)
					continue
				}
				if err != nil {
					t.Error(err)
				}
				return
			}
		}()
	}
	wg.Wait()
	u, err := s.GetUser(ctx, "u1")
	must(t, err)
	if len(u.Name) != 1+n {
		t.Fatalf("name %q: lost updates (%d conflicts retried)", u.Name, conflicts.Load())
	}
}

func testSessions(t *testing.T, s storage.Store) {
	must(t, s.CreateUser(ctx, user("u1", "a@example.com")))
	must(t, s.CreateClient(ctx, client("c1")))
	bs := storage.BrowserSession{IDHash: []byte("hash-1"), SID: "sid-1", Subject: "u1", AuthTime: now, AMR: []string{"pwd"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	must(t, s.CreateSession(ctx, bs))
	wantErr(t, s.CreateSession(ctx, bs), storage.ErrAlreadyExists)
	got, err := s.GetSession(ctx, []byte("hash-1"), now)
	must(t, err)
	if got.SID != "sid-1" || !got.AuthTime.Equal(now) || len(got.AMR) != 1 {
		t.Fatalf("GetSession = %+v", got)
	}
	_, err = s.GetSession(ctx, []byte("hash-1"), now.Add(time.Hour))
	wantErr(t, err, storage.ErrNotFound) // expired
	must(t, s.StepUpSession(ctx, []byte("hash-1"), []string{"pwd", "otp"}, now.Add(time.Minute)))
	if got, err := s.GetSession(ctx, []byte("hash-1"), now); err != nil || got.SID != "sid-1" || len(got.AMR) != 2 || !got.AuthTime.Equal(now.Add(time.Minute)) {
		t.Fatalf("after StepUpSession = %+v, %v", got, err)
	}
	wantErr(t, s.StepUpSession(ctx, []byte("no-such"), []string{"pwd"}, now), storage.ErrNotFound)
	must(t, s.CreateSession(ctx, storage.BrowserSession{IDHash: []byte("hash-2"), SID: "sid-2", Subject: "u1", AuthTime: now, AMR: []string{}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	if list, err := s.ListSessions(ctx, "u1", now); err != nil || len(list) != 2 {
		t.Fatalf("ListSessions = %v, %v", list, err)
	}
	if n, err := s.DeleteSessions(ctx, "u1"); err != nil || n != 2 {
		t.Fatalf("DeleteSessions = %d, %v", n, err)
	}
	must(t, s.CreateSession(ctx, bs))
	must(t, s.DeleteSession(ctx, []byte("hash-1")))
	_, err = s.GetSession(ctx, []byte("hash-1"), now)
	wantErr(t, err, storage.ErrNotFound)
	must(t, s.DeleteSession(ctx, []byte("hash-1"))) // idempotent

	c := storage.Consent{Subject: "u1", ClientID: "c1", Scopes: []string{"openid"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	must(t, s.PutConsent(ctx, c))
	c.Scopes = []string{"openid", "email"}
	must(t, s.PutConsent(ctx, c)) // upsert
	got2, err := s.GetConsent(ctx, "u1", "c1", now)
	must(t, err)
	if len(got2.Scopes) != 2 {
		t.Fatalf("consent scopes = %v", got2.Scopes)
	}
	_, err = s.GetConsent(ctx, "u1", "c1", now.Add(2*time.Hour))
	wantErr(t, err, storage.ErrNotFound)
	if list, err := s.ListConsents(ctx, "u1", now); err != nil || len(list) != 1 || list[0].ClientID != "c1" || len(list[0].Scopes) != 2 {
		t.Fatalf("ListConsents = %+v, %v", list, err)
	}
	must(t, s.CreateToken(ctx, storage.Token{Kind: storage.TokenRefresh, Signature: "g1", RequestID: "r", ClientID: "c1", Subject: "u1", Active: true, ExpiresAt: now.Add(time.Hour), CreatedAt: now, Data: []byte("{}")}))
	must(t, s.CreateToken(ctx, storage.Token{Kind: storage.TokenAccess, Signature: "g2", RequestID: "r", ClientID: "c2", Subject: "u1", Active: true, ExpiresAt: now.Add(time.Hour), CreatedAt: now, Data: []byte("{}")}))
	if n, err := s.DeleteTokensOf(ctx, "u1", "c1"); err != nil || n != 1 {
		t.Fatalf("DeleteTokensOf = %d, %v", n, err)
	}
	if _, err := s.GetToken(ctx, storage.TokenAccess, "g2"); err != nil {
		t.Fatal("another client's token was revoked")
	}
	must(t, s.DeleteConsent(ctx, "u1", "c1"))
	_, err = s.GetConsent(ctx, "u1", "c1", now)
	wantErr(t, err, storage.ErrNotFound)
}

func testFlows(t *testing.T, s storage.Store) {
	f := storage.Flow{ID: "f1", State: "login", Data: []byte(`{"a":1}`), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	must(t, s.CreateFlow(ctx, f))
	wantErr(t, s.CreateFlow(ctx, f), storage.ErrAlreadyExists)
	got, err := s.GetFlow(ctx, "f1", now)
	must(t, err)
	if got.State != "login" || string(got.Data) != `{"a":1}` {
		t.Fatalf("GetFlow = %+v", got)
	}
	_, err = s.GetFlow(ctx, "f1", now.Add(time.Minute))
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.UpdateFlow(ctx, "f1", now.Add(2*time.Minute), func(f storage.Flow) (storage.Flow, error) { return f, nil })
	wantErr(t, err, storage.ErrNotFound) // expired flows cannot move
	nf, err := s.UpdateFlow(ctx, "f1", now, func(f storage.Flow) (storage.Flow, error) {
		f.State, f.Data = "consent", []byte(`{"a":2}`)
		return f, nil
	})
	must(t, err)
	if nf.State != "consent" {
		t.Fatal(nf)
	}
	if got, _ := s.GetFlow(ctx, "f1", now); got.State != "consent" || string(got.Data) != `{"a":2}` {
		t.Fatalf("after update: %+v", got)
	}
}

// testConcurrentFlows: of many concurrent transitions out of one state,
// exactly one wins.
func testConcurrentFlows(t *testing.T, s storage.Store) {
	must(t, s.CreateFlow(ctx, storage.Flow{ID: "f1", State: "granted", Data: []byte(`{}`), CreatedAt: now, ExpiresAt: time.Now().Add(time.Hour)}))
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateFlow(ctx, "f1", time.Now(), func(f storage.Flow) (storage.Flow, error) {
				if f.State != "granted" {
					return f, errors.New("already redeemed")
				}
				f.State = "redeemed"
				return f, nil
			})
			if err == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent redemptions succeeded, want exactly 1", wins.Load())
	}
}

func token(kind storage.TokenKind, sig, req string, exp time.Time) storage.Token {
	return storage.Token{Kind: kind, Signature: sig, RequestID: req, ClientID: "c1", Subject: "u1", Active: true, ExpiresAt: exp, CreatedAt: now, Data: []byte(`{"x":1}`)}
}

func testTokens(t *testing.T, s storage.Store) {
	tk := token(storage.TokenRefresh, "s1", "r1", now.Add(time.Hour))
	must(t, s.CreateToken(ctx, tk))
	wantErr(t, s.CreateToken(ctx, tk), storage.ErrAlreadyExists)
	must(t, s.CreateToken(ctx, token(storage.TokenAccess, "s1", "r1", now.Add(time.Hour)))) // same signature, other kind
	got, err := s.GetToken(ctx, storage.TokenRefresh, "s1")
	must(t, err)
	if !got.Active || got.RequestID != "r1" || string(got.Data) != `{"x":1}` || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("GetToken = %+v", got)
	}
	must(t, s.DeactivateToken(ctx, storage.TokenRefresh, "s1"))
	wantErr(t, s.DeactivateToken(ctx, storage.TokenRefresh, "s1"), storage.ErrConflict)
	wantErr(t, s.DeactivateToken(ctx, storage.TokenRefresh, "nope"), storage.ErrNotFound)
	if got, _ := s.GetToken(ctx, storage.TokenRefresh, "s1"); got.Active {
		t.Fatal("still active")
	}
	must(t, s.CreateToken(ctx, token(storage.TokenRefresh, "s2", "r1", now.Add(time.Hour))))
	must(t, s.CreateToken(ctx, token(storage.TokenRefresh, "s3", "r2", now.Add(time.Hour))))
	n, err := s.DeleteTokensByRequestID(ctx, storage.TokenRefresh, "r1")
	must(t, err)
	if n != 2 {
		t.Fatalf("deleted %d, want 2", n)
	}
	if _, err := s.GetToken(ctx, storage.TokenRefresh, "s3"); err != nil {
		t.Fatal("other family touched")
	}
	if _, err := s.GetToken(ctx, storage.TokenAccess, "s1"); err != nil {
		t.Fatal("other kind touched")
	}
	must(t, s.DeleteToken(ctx, storage.TokenAccess, "s1"))
	must(t, s.DeleteToken(ctx, storage.TokenAccess, "s1"))
	_, err = s.GetToken(ctx, storage.TokenAccess, "s1")
	wantErr(t, err, storage.ErrNotFound)
}

// testConcurrentDeactivate: of concurrent rotations of one refresh token,
// exactly one succeeds.
func testConcurrentDeactivate(t *testing.T, s storage.Store) {
	must(t, s.CreateToken(ctx, token(storage.TokenRefresh, "rt", "r", now.Add(time.Hour))))
	oneWins(t, 16, func(int) error { return s.DeactivateToken(ctx, storage.TokenRefresh, "rt") })
}

// oneWins runs n calls of fn at once and fails unless exactly one returns
// nil and every other one ErrConflict.
func oneWins(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var ok, conflict atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := fn(i); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, storage.ErrConflict):
				conflict.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || conflict.Load() != int64(n-1) {
		t.Fatalf("%d succeeded and %d conflicted, want 1 and %d", ok.Load(), conflict.Load(), n-1)
	}
}

// present says which of the keys name a stored record.
func present(t *testing.T, s storage.Store, keys ...storage.TokenKey) []bool {
	t.Helper()
	out := make([]bool, len(keys))
	for i, k := range keys {
		_, err := s.GetToken(ctx, k.Kind, k.Signature)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
		out[i] = err == nil
	}
	return out
}

func key(kind storage.TokenKind, sig string) storage.TokenKey {
	return storage.TokenKey{Kind: kind, Signature: sig}
}

// testRedeem: a redemption flips its token and makes every change, or,
// when the token is used, unknown or a change fails, makes none.
func testRedeem(t *testing.T, s storage.Store) {
	exp := now.Add(time.Hour)
	code, pkce, oidc := key(storage.TokenAuthorizeCode, "rc"), key(storage.TokenPKCE, "rc-pkce"), key(storage.TokenOIDC, "rc-oidc")
	oldAT, otherAT := key(storage.TokenAccess, "rc-old"), key(storage.TokenAccess, "other-family")
	for _, k := range []storage.TokenKey{code, pkce, oidc, oldAT} {
		must(t, s.CreateToken(ctx, token(k.Kind, k.Signature, "rq", exp)))
	}
	must(t, s.CreateToken(ctx, token(otherAT.Kind, otherAT.Signature, "rq-other", exp)))
	at, rt := token(storage.TokenAccess, "rc-at", "rq", exp), token(storage.TokenRefresh, "rc-rt", "rq", exp)
	red := storage.Redemption{Used: code, Revoke: []storage.TokenFamily{{Kind: storage.TokenAccess, RequestID: "rq"}},
		Create: []storage.Token{at, rt}, Delete: []storage.TokenKey{pkce, oidc, code}}
	must(t, s.Redeem(ctx, red))
	got, err := s.GetToken(ctx, code.Kind, code.Signature)
	must(t, err)
	if got.Active {
		t.Fatal("redeemed code still active")
	}
	newAT, newRT := key(at.Kind, at.Signature), key(rt.Kind, rt.Signature)
	if p := present(t, s, pkce, oidc, oldAT, otherAT, newAT, newRT); fmt.Sprint(p) != "[false false false true true true]" {
		t.Fatalf("after redemption pkce, oidc, old access, other family's access, new access, new refresh present = %v, "+
			"want [false false false true true true] (the family revoked before the new tokens were stored)", p)
	}

	// Used again, unknown, or a create that fails: nothing changes.
	spare := key(storage.TokenPKCE, "spare")
	must(t, s.CreateToken(ctx, token(spare.Kind, spare.Signature, "rq", exp)))
	again := storage.Redemption{Used: code, Revoke: red.Revoke, Create: []storage.Token{token(storage.TokenAccess, "rc-at2", "rq", exp)}, Delete: []storage.TokenKey{spare}}
	wantErr(t, s.Redeem(ctx, again), storage.ErrConflict)
	unknown := again
	unknown.Used = key(storage.TokenAuthorizeCode, "nope")
	wantErr(t, s.Redeem(ctx, unknown), storage.ErrNotFound)
	if p := present(t, s, spare, newAT, newRT, key(storage.TokenAccess, "rc-at2")); fmt.Sprint(p) != "[true true true false]" {
		t.Fatalf("after refused redemptions spare, access, refresh, second access present = %v, want [true true true false]", p)
	}
	code2 := key(storage.TokenAuthorizeCode, "rc2")
	must(t, s.CreateToken(ctx, token(code2.Kind, code2.Signature, "rq2", exp)))
	dup := storage.Redemption{Used: code2, Create: []storage.Token{token(storage.TokenAccess, "rc2-at", "rq2", exp), at}, Delete: []storage.TokenKey{spare}}
	if err := s.Redeem(ctx, dup); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("redemption creating an existing record: %v, want ErrAlreadyExists", err)
	}
	if got, err := s.GetToken(ctx, code2.Kind, code2.Signature); err != nil || !got.Active {
		t.Fatalf("code after a failed redemption: %+v %v, want it still active", got, err)
	}
	if p := present(t, s, spare, key(storage.TokenAccess, "rc2-at")); fmt.Sprint(p) != "[true false]" {
		t.Fatalf("after a failed redemption spare, its access token present = %v, want [true false]", p)
	}
	// Inside a caller's transaction it takes part in it.
	tctx, err := s.BeginTx(ctx)
	must(t, err)
	must(t, s.Redeem(tctx, storage.Redemption{Used: code2, Create: []storage.Token{token(storage.TokenAccess, "rc2-at", "rq2", exp)}}))
	must(t, s.Rollback(tctx))
	if got, err := s.GetToken(ctx, code2.Kind, code2.Signature); err != nil || !got.Active {
		t.Fatalf("code after a rolled-back redemption: %+v %v, want it still active", got, err)
	}
}

// testConcurrentRedeem: of 16 concurrent redemptions of one code, each
// creating its own access token, exactly one succeeds and only its token
// exists.
func testConcurrentRedeem(t *testing.T, s storage.Store) {
	exp := now.Add(time.Hour)
	must(t, s.CreateToken(ctx, token(storage.TokenAuthorizeCode, "race", "race-rq", exp)))
	created := make([]storage.TokenKey, 16)
	for i := range created {
		created[i] = key(storage.TokenAccess, fmt.Sprintf("race-at-%d", i))
	}
	oneWins(t, len(created), func(i int) error {
		return s.Redeem(ctx, storage.Redemption{Used: key(storage.TokenAuthorizeCode, "race"),
			Create: []storage.Token{token(storage.TokenAccess, created[i].Signature, "race-rq", exp)}})
	})
	n := 0
	for _, p := range present(t, s, created...) {
		if p {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d access tokens written, want only the winner's", n)
	}
}

func testJTIs(t *testing.T, s storage.Store) {
	live := time.Now().Add(time.Hour)
	must(t, s.MarkJTIUsed(ctx, "j1", live, time.Now()))
	wantErr(t, s.MarkJTIUsed(ctx, "j1", live, time.Now()), storage.ErrAlreadyExists)
	used, err := s.JTIUsed(ctx, "j1", time.Now())
	must(t, err)
	if !used {
		t.Fatal("jti not recorded")
	}
	if used, _ := s.JTIUsed(ctx, "j2", time.Now()); used {
		t.Fatal("unknown jti reported used")
	}
	must(t, s.MarkJTIUsed(ctx, "old", time.Now().Add(-time.Minute), time.Now()))
	must(t, s.MarkJTIUsed(ctx, "old", live, time.Now())) // an expired jti may be recorded again
}

func testKeys(t *testing.T, s storage.Store) {
	k := storage.SigningKey{ID: "k1", Alg: "RS256", Generation: 1, Private: []byte("sealed"), Public: []byte(`{"kid":"k1"}`), CreatedAt: now, ActivateAt: now}
	must(t, s.CreateKey(ctx, k))
	wantErr(t, s.CreateKey(ctx, k), storage.ErrAlreadyExists)
	// Another replica rotating to the same generation loses.
	wantErr(t, s.CreateKey(ctx, storage.SigningKey{ID: "k1b", Alg: "RS256", Generation: 1, Private: []byte("x"), Public: []byte("{}"), CreatedAt: now, ActivateAt: now}), storage.ErrAlreadyExists)
	must(t, s.CreateKey(ctx, storage.SigningKey{ID: "k2", Alg: "RS256", Generation: 2, Private: []byte("x"), Public: []byte("{}"), CreatedAt: now, ActivateAt: now.Add(time.Hour)}))
	must(t, s.CreateKey(ctx, storage.SigningKey{ID: "e1", Alg: "ES256", Generation: 1, Private: []byte("x"), Public: []byte("{}"), CreatedAt: now, ActivateAt: now}))
	must(t, s.ScheduleKey(ctx, "k1", now.Add(time.Hour), now.Add(3*time.Hour)))
	wantErr(t, s.ScheduleKey(ctx, "nope", now, now), storage.ErrNotFound)
	must(t, s.ResealKey(ctx, "k1", []byte("resealed")))
	keys, err := s.ListKeys(ctx)
	must(t, err)
	if len(keys) != 3 || keys[0].ID != "e1" || keys[1].ID != "k1" || string(keys[1].Private) != "resealed" || !keys[1].RetireAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("ListKeys = %+v", keys)
	}
	k1, k2 := keys[1], keys[2]
	for _, c := range []struct {
		k    storage.SigningKey
		at   time.Time
		want storage.KeyState
	}{
		{k1, now, storage.KeyActive}, {k2, now, storage.KeyNext}, {k1, now.Add(time.Hour), storage.KeyRetired},
		{k2, now.Add(time.Hour), storage.KeyActive}, {k1, now.Add(3 * time.Hour), storage.KeyDeleted},
	} {
		if got := c.k.StateAt(c.at); got != c.want {
			t.Errorf("%s at %v: %s, want %s", c.k.ID, c.at.Sub(now), got, c.want)
		}
	}
	if _, err := s.GarbageCollect(ctx, now.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	keys, _ = s.ListKeys(ctx)
	if len(keys) != 2 {
		t.Fatalf("GC kept %d keys, want the deleted one gone", len(keys))
	}
	_, err = s.GetSecret(ctx, "hmac")
	wantErr(t, err, storage.ErrNotFound)
	// Concurrent first writers all end up with the same secret.
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sec, err := s.PutSecretIfAbsent(ctx, storage.Secret{Name: "hmac", Value: []byte(fmt.Sprint("value-", i)), CreatedAt: now})
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = sec.Value
		}()
	}
	wg.Wait()
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("replicas disagree on the secret: %q vs %q", got[i], got[0])
		}
	}
}

func testTransactions(t *testing.T, s storage.Store) {
	boom := errors.New("boom")
	err := s.InTx(ctx, func(ctx context.Context) error {
		must(t, s.CreateClient(ctx, client("c1")))
		must(t, s.CreateToken(ctx, token(storage.TokenAccess, "a", "r", now.Add(time.Hour))))
		return boom
	})
	wantErr(t, err, boom)
	if _, err := s.GetClient(ctx, "c1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal("rolled-back client is visible")
	}
	if _, err := s.GetToken(ctx, storage.TokenAccess, "a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal("rolled-back token is visible")
	}
	must(t, s.InTx(ctx, func(ctx context.Context) error {
		return s.CreateClient(ctx, client("c1"))
	}))
	if _, err := s.GetClient(ctx, "c1"); err != nil {
		t.Fatal("committed client is missing")
	}
	// The fosite-style API: BeginTx / Rollback.
	tctx, err := s.BeginTx(ctx)
	must(t, err)
	must(t, s.CreateToken(tctx, token(storage.TokenAccess, "b", "r", now.Add(time.Hour))))
	must(t, s.Rollback(tctx))
	if _, err := s.GetToken(ctx, storage.TokenAccess, "b"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal("rolled-back token is visible")
	}
	tctx, err = s.BeginTx(ctx)
	must(t, err)
	must(t, s.CreateToken(tctx, token(storage.TokenAccess, "c", "r", now.Add(time.Hour))))
	must(t, s.Commit(tctx))
	if _, err := s.GetToken(ctx, storage.TokenAccess, "c"); err != nil {
		t.Fatal("committed token is missing")
	}
}

func testGC(t *testing.T, s storage.Store) {
	must(t, s.CreateUser(ctx, user("u1", "a@example.com")))
	must(t, s.CreateClient(ctx, client("c1")))
	for i := 0; i < 1500; i++ { // more than one GC batch
		must(t, s.CreateToken(ctx, token(storage.TokenAccess, fmt.Sprint("old-", i), "r", now.Add(-time.Second))))
	}
	must(t, s.CreateToken(ctx, token(storage.TokenAccess, "live", "r", now.Add(time.Hour))))
	must(t, s.CreateFlow(ctx, storage.Flow{ID: "old", State: "login", Data: []byte("{}"), CreatedAt: now, ExpiresAt: now.Add(-time.Second)}))
	must(t, s.CreateFlow(ctx, storage.Flow{ID: "live", State: "login", Data: []byte("{}"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(t, s.CreateSession(ctx, storage.BrowserSession{IDHash: []byte("old"), SID: "s-old", Subject: "u1", AuthTime: now, AMR: []string{}, CreatedAt: now, ExpiresAt: now.Add(-time.Second)}))
	must(t, s.PutConsent(ctx, storage.Consent{Subject: "u1", ClientID: "c1", Scopes: []string{}, CreatedAt: now, ExpiresAt: now.Add(-time.Second)}))
	must(t, s.MarkJTIUsed(ctx, "j", now.Add(-time.Second), now.Add(-time.Minute)))
	n, err := s.GarbageCollect(ctx, now)
	must(t, err)
	if n != 1500+1+1+1+1 {
		t.Fatalf("GC removed %d rows, want %d", n, 1504)
	}
	if _, err := s.GetToken(ctx, storage.TokenAccess, "live"); err != nil {
		t.Fatal("GC removed a live token")
	}
	if _, err := s.GetFlow(ctx, "live", now); err != nil {
		t.Fatal("GC removed a live flow")
	}
	if n, _ := s.GarbageCollect(ctx, now); n != 0 {
		t.Fatalf("second GC removed %d", n)
	}
}

func testTimeZones(t *testing.T, s storage.Store) {
	loc := time.FixedZone("UTC+13", 13*3600)
	local := now.In(loc)
	must(t, s.CreateFlow(ctx, storage.Flow{ID: "tz", State: "login", Data: []byte("{}"), CreatedAt: local, ExpiresAt: local.Add(time.Minute)}))
	// Expiry compares instants, not wall clocks.
	if _, err := s.GetFlow(ctx, "tz", now.Add(59*time.Second).In(time.FixedZone("UTC-11", -11*3600))); err != nil {
		t.Fatalf("flow expired early across time zones: %v", err)
	}
	f, err := s.GetFlow(ctx, "tz", now)
	must(t, err)
	if !f.CreatedAt.Equal(now) || f.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt = %v, want %v in UTC", f.CreatedAt, now)
	}
}

func testRefreshGrace(t *testing.T, s storage.Store) {
	g := storage.RefreshGrace{Signature: "old", ClientID: "c1", Response: []byte("sealed-1"), ExpiresAt: now.Add(10 * time.Second)}
	must(t, s.PutRefreshGrace(ctx, g))
	g2 := g
	g2.Response = []byte("sealed-2")
	must(t, s.PutRefreshGrace(ctx, g2)) // first writer wins
	got, err := s.GetRefreshGrace(ctx, "old", now)
	must(t, err)
	if string(got.Response) != "sealed-1" || got.ClientID != "c1" {
		t.Fatalf("GetRefreshGrace = %+v", got)
	}
	_, err = s.GetRefreshGrace(ctx, "old", now.Add(10*time.Second))
	wantErr(t, err, storage.ErrNotFound)
	if n, _ := s.GarbageCollect(ctx, now.Add(11*time.Second)); n != 1 {
		t.Fatalf("GC removed %d grace rows, want 1", n)
	}
}

func testAudit(t *testing.T, s storage.Store) {
	for i, sub := range []string{"alice", "bob", "alice"} {
		must(t, s.AppendAudit(ctx, storage.AuditEvent{ID: fmt.Sprint("e", i), At: now.Add(time.Duration(i) * time.Second), Type: "login",
			Actor: sub, Subject: sub, ClientID: "c1", IP: "127.0.0.1", RequestID: "r", Details: map[string]string{"amr": "pwd"}}))
	}
	wantErr(t, s.AppendAudit(ctx, storage.AuditEvent{ID: "e0", At: now, Details: map[string]string{}}), storage.ErrAlreadyExists)
	all, err := s.ListAudit(ctx, "", now.Add(time.Hour), 10)
	must(t, err)
	if len(all) != 3 || all[0].ID != "e2" || all[0].Details["amr"] != "pwd" {
		t.Fatalf("ListAudit = %+v", all)
	}
	alice, err := s.ListAudit(ctx, "alice", now.Add(time.Hour), 10)
	must(t, err)
	if len(alice) != 2 {
		t.Fatalf("alice has %d events", len(alice))
	}
	page, err := s.ListAudit(ctx, "", all[0].At, 1)
	must(t, err)
	if len(page) != 1 || page[0].ID != "e1" {
		t.Fatalf("paging: %+v", page)
	}
	if all[0].Count != 1 {
		t.Fatalf("an appended event has count %d, want 1", all[0].Count)
	}
	// Repeated events: one row with a count and the latest time.
	for i := 0; i < 3; i++ {
		must(t, s.CountAudit(ctx, storage.AuditEvent{ID: "agg", At: now.Add(time.Duration(10+i) * time.Second), Type: "login.failed",
			Subject: "carol", IP: "203.0.113.1", RequestID: fmt.Sprint("r", i), Details: map[string]string{"method": "pwd"}}))
	}
	carol, err := s.ListAudit(ctx, "carol", now.Add(time.Hour), 10)
	must(t, err)
	if len(carol) != 1 || carol[0].Count != 3 || !carol[0].At.Equal(now.Add(12*time.Second)) || carol[0].RequestID != "r2" {
		t.Fatalf("counted events = %+v, want one row with count 3 at the last time", carol)
	}
	// Retention removes what is older than the cut, nothing else.
	n, err := s.DeleteAuditBefore(ctx, now.Add(1500*time.Millisecond))
	must(t, err)
	if n != 2 {
		t.Fatalf("DeleteAuditBefore removed %d, want 2", n)
	}
	if rest, _ := s.ListAudit(ctx, "", now.Add(time.Hour), 10); len(rest) != 2 {
		t.Fatalf("%d events left, want 2", len(rest))
	}
	// Scrubbing keeps what happened to whom, not where from or with what.
	n, err = s.ScrubAudit(ctx, "alice")
	must(t, err)
	if scrubbed, _ := s.ListAudit(ctx, "alice", time.Time{}, 10); n == 0 || len(scrubbed) == 0 || scrubbed[0].IP != "" || len(scrubbed[0].Details) != 0 || scrubbed[0].Type != "login" {
		t.Fatalf("after ScrubAudit (%d): %+v", n, scrubbed)
	}
	// Without a bound nothing is cut: the store reads no clock, so the
	// events of a server on a frozen or a later clock are listed too.
	must(t, s.AppendAudit(ctx, storage.AuditEvent{ID: "future", At: now.AddDate(30, 0, 0), Type: "login", Details: map[string]string{}}))
	if all, err := s.ListAudit(ctx, "", time.Time{}, 10); err != nil || len(all) != 3 || all[0].ID != "future" {
		t.Fatalf("ListAudit without a bound = %+v, %v", all, err)
	}
}

func testCredentials(t *testing.T, s storage.Store) {
	must(t, s.CreateUser(ctx, user("u1", "a@example.com")))
	must(t, s.CreateUser(ctx, user("u2", "b@example.com")))
	pk := storage.Credential{ID: "cred-1", Subject: "u1", Type: storage.CredentialWebAuthn, Name: "Laptop", Secret: []byte("pubkey"), Data: []byte(`{"aaguid":"x"}`), Counter: 5, CreatedAt: now}
	must(t, s.CreateCredential(ctx, pk))
	wantErr(t, s.CreateCredential(ctx, pk), storage.ErrAlreadyExists)
	for i := 0; i < 3; i++ {
		must(t, s.CreateCredential(ctx, storage.Credential{ID: fmt.Sprint("bc-", i), Subject: "u1", Type: storage.CredentialBackupCode, Secret: []byte{byte(i)}, Data: []byte("{}"), CreatedAt: now}))
	}
	got, err := s.GetCredential(ctx, "cred-1")
	must(t, err)
	if got.Name != "Laptop" || got.Counter != 5 || string(got.Secret) != "pubkey" || got.Type != storage.CredentialWebAuthn {
		t.Fatalf("GetCredential = %+v", got)
	}
	_, err = s.GetCredential(ctx, "nope")
	wantErr(t, err, storage.ErrNotFound)
	all, err := s.ListCredentials(ctx, "u1", "")
	must(t, err)
	codes, err := s.ListCredentials(ctx, "u1", storage.CredentialBackupCode)
	must(t, err)
	if len(all) != 4 || len(codes) != 3 {
		t.Fatalf("ListCredentials: %d all, %d codes", len(all), len(codes))
	}
	up, err := s.UpdateCredential(ctx, "cred-1", func(c storage.Credential) (storage.Credential, error) {
		c.Counter, c.LastUsedAt, c.Subject = 6, now, "u2" // the subject cannot be moved
		return c, nil
	})
	must(t, err)
	if up.Counter != 6 || up.Subject != "u1" {
		t.Fatalf("UpdateCredential = %+v", up)
	}
	wantErr(t, s.DeleteCredential(ctx, "u2", "cred-1"), storage.ErrNotFound) // not u2's
	must(t, s.DeleteCredential(ctx, "u1", "cred-1"))
	n, err := s.DeleteCredentials(ctx, "u1", storage.CredentialBackupCode)
	must(t, err)
	if n != 3 {
		t.Fatalf("DeleteCredentials removed %d", n)
	}
	// A deleted user's credentials go with it.
	must(t, s.CreateCredential(ctx, storage.Credential{ID: "totp", Subject: "u2", Type: storage.CredentialTOTP, Secret: []byte("sealed"), Data: []byte("{}"), CreatedAt: now}))
	must(t, s.CreateToken(ctx, storage.Token{Kind: storage.TokenRefresh, Signature: "u2-rt", RequestID: "r", ClientID: "c", Subject: "u2", Active: true, ExpiresAt: now.Add(time.Hour), CreatedAt: now, Data: []byte("{}")}))
	must(t, s.DeleteUser(ctx, "u2"))
	wantErr(t, s.DeleteUser(ctx, "u2"), storage.ErrNotFound)
	_, err = s.GetCredential(ctx, "totp")
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.GetToken(ctx, storage.TokenRefresh, "u2-rt")
	wantErr(t, err, storage.ErrNotFound)
}

// testConcurrentCredentialCounter: a TOTP step or WebAuthn counter moved by
// many concurrent verifications advances exactly once per value.
func testConcurrentCredentialCounter(t *testing.T, s storage.Store) {
	must(t, s.CreateUser(ctx, user("u1", "a@example.com")))
	must(t, s.CreateCredential(ctx, storage.Credential{ID: "totp", Subject: "u1", Type: storage.CredentialTOTP, Secret: []byte("s"), Data: []byte("{}"), Counter: 100, CreatedAt: now}))
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateCredential(ctx, "totp", func(c storage.Credential) (storage.Credential, error) {
				if c.Counter >= 101 {
					return c, errors.New("code already used")
				}
				c.Counter = 101
				return c, nil
			})
			if err == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("the same TOTP step was accepted %d times", wins.Load())
	}
}

// testConcurrentRotation runs whole rotations (retire the old refresh token,
// store a new one, in one transaction) at once: exactly one commits, and the
// losers leave nothing behind.
func testConcurrentRotation(t *testing.T, s storage.Store) {
	must(t, s.CreateToken(ctx, token(storage.TokenRefresh, "rt-0", "fam", now.Add(time.Hour))))
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := 1; i <= 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.InTx(ctx, func(ctx context.Context) error {
				if err := s.DeactivateToken(ctx, storage.TokenRefresh, "rt-0"); err != nil {
					return err
				}
				return s.CreateToken(ctx, token(storage.TokenRefresh, fmt.Sprint("rt-", i), "fam", now.Add(time.Hour)))
			})
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, storage.ErrConflict):
				t.Errorf("loser: %v, want ErrConflict", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d rotations committed, want 1", wins.Load())
	}
	active := 0
	for i := 1; i <= 8; i++ {
		if tk, err := s.GetToken(ctx, storage.TokenRefresh, fmt.Sprint("rt-", i)); err == nil && tk.Active {
			active++
		}
	}
	if active != 1 {
		t.Fatalf("%d new refresh tokens exist, want exactly the winner's", active)
	}
}

func testAdminKeys(t *testing.T, s storage.Store) {
	k := storage.AdminKey{ID: "k1", Hash: []byte("h"), Name: "ops", Roles: []string{"clients:read"}, CreatedAt: now}
	must(t, s.CreateAdminKey(ctx, k))
	wantErr(t, s.CreateAdminKey(ctx, k), storage.ErrAlreadyExists)
	got, err := s.GetAdminKey(ctx, "k1")
	must(t, err)
	if got.Name != "ops" || len(got.Roles) != 1 || !got.RevokedAt.IsZero() {
		t.Fatalf("GetAdminKey = %+v", got)
	}
	_, err = s.GetAdminKey(ctx, "nope")
	wantErr(t, err, storage.ErrNotFound)
	must(t, s.RevokeAdminKey(ctx, "k1", now))
	wantErr(t, s.RevokeAdminKey(ctx, "k1", now), storage.ErrNotFound)
	if got, _ := s.GetAdminKey(ctx, "k1"); got.RevokedAt.IsZero() {
		t.Fatal("not revoked")
	}
	if list, _ := s.ListAdminKeys(ctx); len(list) != 1 {
		t.Fatalf("ListAdminKeys = %v", list)
	}
}

func testFederatedIdentities(t *testing.T, s storage.Store) {
	must(t, s.CreateUser(ctx, user("u1", "a@example.com")))
	must(t, s.CreateUser(ctx, user("u2", "b@example.com")))
	fi := storage.FederatedIdentity{ConnectorID: "github", UpstreamSubject: "4242", Subject: "u1", Email: "a@example.com", Username: "octo", CreatedAt: now, LastUsedAt: now}
	must(t, s.CreateFederatedIdentity(ctx, fi))
	// One upstream account links to one user only.
	fi2 := fi
	fi2.Subject = "u2"
	wantErr(t, s.CreateFederatedIdentity(ctx, fi2), storage.ErrAlreadyExists)
	must(t, s.CreateFederatedIdentity(ctx, storage.FederatedIdentity{ConnectorID: "google", UpstreamSubject: "g-1", Subject: "u1", CreatedAt: now.Add(time.Second), LastUsedAt: now}))
	got, err := s.GetFederatedIdentity(ctx, "github", "4242")
	if err != nil || got.Subject != "u1" || got.Username != "octo" || !got.CreatedAt.Equal(now) || len(got.Token) != 0 {
		t.Fatalf("GetFederatedIdentity = %+v, %v", got, err)
	}
	_, err = s.GetFederatedIdentity(ctx, "github", "nope")
	wantErr(t, err, storage.ErrNotFound)
	must(t, s.TouchFederatedIdentity(ctx, "github", "4242", now.Add(time.Hour), []byte("sealed")))
	must(t, s.TouchFederatedIdentity(ctx, "github", "4242", now.Add(2*time.Hour), nil))
	if got, _ := s.GetFederatedIdentity(ctx, "github", "4242"); string(got.Token) != "sealed" || !got.LastUsedAt.Equal(now.Add(2*time.Hour)) {
		t.Errorf("after touch: %+v", got)
	}
	wantErr(t, s.TouchFederatedIdentity(ctx, "github", "nope", now, nil), storage.ErrNotFound)
	if list, err := s.ListFederatedIdentities(ctx, "u1"); err != nil || len(list) != 2 || list[0].ConnectorID != "github" {
		t.Fatalf("ListFederatedIdentities = %v, %v", list, err)
	}
	wantErr(t, s.DeleteFederatedIdentity(ctx, "u2", "github", "4242"), storage.ErrNotFound) // not u2's
	must(t, s.DeleteFederatedIdentity(ctx, "u1", "github", "4242"))
	must(t, s.DeleteUser(ctx, "u1"))
	if list, _ := s.ListFederatedIdentities(ctx, "u1"); len(list) != 0 {
		t.Errorf("links outlive their user: %v", list)
	}
}

func testTokenFamilies(t *testing.T, s storage.Store) {
	exp := now.Add(time.Hour)
	family := []storage.Token{token(storage.TokenAuthorizeCode, "code-1", "req-1", exp), token(storage.TokenPKCE, "code-1", "req-1", exp),
		token(storage.TokenOIDC, "oidc-1", "req-1", exp)}
	before := s.(interface{ Statements() int64 }).Statements()
	must(t, s.CreateTokens(ctx, family))
	if n := s.(interface{ Statements() int64 }).Statements() - before; n != 1 {
		t.Errorf("CreateTokens sent %d statements, want 1", n)
	}
	must(t, s.CreateTokens(ctx, nil))
	must(t, s.CreateToken(ctx, token(storage.TokenAccess, "at-1", "req-1", exp))) // same family, kind not asked for
	must(t, s.CreateToken(ctx, token(storage.TokenPKCE, "code-2", "req-2", exp))) // another family
	// All or nothing: one duplicate fails the whole insert.
	wantErr(t, s.CreateTokens(ctx, []storage.Token{token(storage.TokenAuthorizeCode, "code-3", "req-3", exp), family[0]}), storage.ErrAlreadyExists)
	_, err := s.GetToken(ctx, storage.TokenAuthorizeCode, "code-3")
	wantErr(t, err, storage.ErrNotFound)

	got, err := s.GetTokenFamily(ctx, storage.TokenAuthorizeCode, "code-1", []storage.TokenKind{storage.TokenPKCE, storage.TokenOIDC})
	must(t, err)
	kinds := map[storage.TokenKind]string{}
	for _, tk := range got {
		kinds[tk.Kind] = tk.Signature
	}
	if len(got) != 3 || kinds[storage.TokenPKCE] != "code-1" || kinds[storage.TokenOIDC] != "oidc-1" || string(got[0].Data) != `{"x":1}` {
		t.Fatalf("GetTokenFamily = %+v", got)
	}
	_, err = s.GetTokenFamily(ctx, storage.TokenAuthorizeCode, "nope", []storage.TokenKind{storage.TokenPKCE})
	wantErr(t, err, storage.ErrNotFound)
	must(t, s.DeleteTokenKeys(ctx, []storage.TokenKey{{Kind: storage.TokenPKCE, Signature: "code-1"}, {Kind: storage.TokenOIDC, Signature: "oidc-1"}, {Kind: storage.TokenOIDC, Signature: "missing"}}))
	if got, err := s.GetTokenFamily(ctx, storage.TokenAuthorizeCode, "code-1", []storage.TokenKind{storage.TokenPKCE, storage.TokenOIDC}); err != nil || len(got) != 1 {
		t.Errorf("after DeleteTokenKeys: %+v %v", got, err)
	}
	if _, err := s.GetToken(ctx, storage.TokenPKCE, "code-2"); err != nil {
		t.Errorf("another family's record was deleted: %v", err)
	}
	must(t, s.DeleteTokenKeys(ctx, nil))
}

func testUserSecondFactor(t *testing.T, s storage.Store) {
	must(t, s.CreateUser(ctx, user("u1", "a@example.com")))
	cred := func(id string, typ storage.CredentialType) storage.Credential {
		return storage.Credential{ID: id, Subject: "u1", Type: typ, Name: "n", Secret: []byte("s"), Data: []byte("{}"), CreatedAt: now, LastUsedAt: now}
	}
	has := func() bool {
		u, err := s.GetUser(ctx, "u1")
		must(t, err)
		byEmail, err := s.GetUserByEmail(ctx, "A@example.com")
		must(t, err)
		if u.SecondFactor != byEmail.SecondFactor {
			t.Fatal("GetUser and GetUserByEmail disagree")
		}
		return u.SecondFactor
	}
	if has() {
		t.Fatal("a new user has a second factor")
	}
	must(t, s.CreateCredential(ctx, cred("b1", storage.CredentialBackupCode)))
	if has() {
		t.Error("backup codes alone count as a second factor")
	}
	must(t, s.CreateCredential(ctx, cred("t1", storage.CredentialTOTP)))
	if !has() {
		t.Error("an authenticator app does not count")
	}
	must(t, s.DeleteCredential(ctx, "u1", "t1"))
	must(t, s.CreateCredential(ctx, cred("w1", storage.CredentialWebAuthn)))
	if !has() {
		t.Error("a passkey does not count")
	}
	if list, err := s.ListUsers(ctx); err != nil || len(list) != 1 || !list[0].SecondFactor {
		t.Errorf("ListUsers = %+v, %v", list, err)
	}
}

var attemptPolicy = storage.AttemptPolicy{Free: 3, Base: 10 * time.Second, Max: 40 * time.Second, Window: time.Hour}

func reserve(t *testing.T, s storage.Store, key string, at time.Time) (bool, time.Duration) {
	t.Helper()
	ok, wait, err := s.ReserveAttempt(ctx, key, attemptPolicy, at)
	must(t, err)
	return ok, wait
}

func testAttempts(t *testing.T, s storage.Store) {
	for i := 1; i <= 3; i++ {
		if ok, _ := reserve(t, s, "acct:a", now); !ok {
			t.Fatalf("attempt %d refused, want %d free", i, attemptPolicy.Free)
		}
	}
	// The third failure locked the key for Base; nothing is counted while locked.
	for i := 0; i < 3; i++ {
		if ok, wait := reserve(t, s, "acct:a", now.Add(time.Second)); ok || wait != 9*time.Second {
			t.Fatalf("locked key: ok=%v wait=%v, want refused for 9s", ok, wait)
		}
	}
	if ok, _ := reserve(t, s, "acct:b", now); !ok {
		t.Fatal("another key is affected")
	}
	// After the lock: one more attempt, then the lock doubles, up to Max.
	at := now.Add(10 * time.Second)
	for _, want := range []time.Duration{20 * time.Second, 40 * time.Second, 40 * time.Second} {
		if ok, _ := reserve(t, s, "acct:a", at); !ok {
			t.Fatalf("attempt after the lock at %v refused", at.Sub(now))
		}
		if ok, wait := reserve(t, s, "acct:a", at); ok || wait != want {
			t.Fatalf("lock after a further failure: ok=%v wait=%v, want %v", ok, wait, want)
		}
		at = at.Add(want)
	}
	// A success without reset takes back one reservation and lifts the lock
	// when the count falls below Free; with reset the key starts afresh.
	must(t, s.ReleaseAttempt(ctx, "acct:a", attemptPolicy, true))
	for i := 0; i < 3; i++ {
		if ok, _ := reserve(t, s, "acct:a", at); !ok {
			t.Fatal("a reset key is still limited")
		}
	}
	must(t, s.ReleaseAttempt(ctx, "acct:a", attemptPolicy, false))
	if ok, _ := reserve(t, s, "acct:a", at); !ok {
		t.Fatal("a released reservation still counts")
	}
	if ok, _ := reserve(t, s, "acct:a", at); ok {
		t.Fatal("the key should be locked again")
	}
	must(t, s.ReleaseAttempt(ctx, "nobody", attemptPolicy, false)) // no row: nothing to do
	// Failures are forgotten a Window after the last one, and collected.
	later := at.Add(time.Hour + time.Minute)
	if n, err := s.GarbageCollect(ctx, later); err != nil || n < 2 {
		t.Fatalf("GC = %d, %v; want the attempt rows collected", n, err)
	}
	if ok, _ := reserve(t, s, "acct:a", later); !ok {
		t.Fatal("a collected key is still limited")
	}
	if _, _, err := s.ReserveAttempt(ctx, "k", storage.AttemptPolicy{}, now); err == nil {
		t.Fatal("an empty policy was accepted")
	}
}

// testConcurrentAttempts: 40 attempts at once at one key: exactly Free are
// allowed, on every backend and whatever the interleaving.
func testConcurrentAttempts(t *testing.T, s storage.Store) {
	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, _, err := s.ReserveAttempt(ctx, "acct:race", attemptPolicy, now)
			for errors.Is(err, storage.ErrConflict) { // a serialization failure may be retried
				ok, _, err = s.ReserveAttempt(ctx, "acct:race", attemptPolicy, now)
			}
			switch {
			case err != nil:
				t.Error(err)
			case ok:
				allowed.Add(1)
			default:
				refused.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if allowed.Load() != int64(attemptPolicy.Free) || refused.Load() != 40-int64(attemptPolicy.Free) {
		t.Fatalf("%d allowed, %d refused; want %d allowed", allowed.Load(), refused.Load(), attemptPolicy.Free)
	}
}

func testRevokeSubject(t *testing.T, s storage.Store) {
	must(t, s.CreateUser(ctx, user("u1", "a@example.com")))
	must(t, s.CreateUser(ctx, user("u2", "b@example.com")))
	for i, sub := range []string{"u1", "u1", "u2"} {
		must(t, s.CreateSession(ctx, storage.BrowserSession{IDHash: []byte(fmt.Sprint("h", i)), SID: fmt.Sprint("sid", i), Subject: sub, AuthTime: now, AMR: []string{"pwd"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	}
	mk := func(kind storage.TokenKind, sig, sub string) storage.Token {
		return storage.Token{Kind: kind, Signature: sig, RequestID: "r-" + sig, ClientID: "c1", Subject: sub, Active: true, ExpiresAt: now.Add(time.Hour), CreatedAt: now, Data: []byte("{}")}
	}
	must(t, s.CreateTokens(ctx, []storage.Token{mk(storage.TokenAccess, "a1", "u1"), mk(storage.TokenRefresh, "r1", "u1"), mk(storage.TokenAuthorizeCode, "c1", "u1"),
		mk(storage.TokenAccess, "a2", "u2"), mk(storage.TokenAccess, "cc", "")}))
	sessions, tokens, err := s.RevokeSubject(ctx, "u1", []byte("h1"))
	must(t, err)
	if sessions != 1 || tokens != 3 {
		t.Fatalf("RevokeSubject = %d sessions, %d tokens; want 1 and 3", sessions, tokens)
	}
	if _, err := s.GetSession(ctx, []byte("h1"), now); err != nil {
		t.Fatal("the kept session was ended")
	}
	if _, err := s.GetSession(ctx, []byte("h0"), now); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal("another session of the subject survived")
	}
	for _, k := range []storage.TokenKey{{Kind: storage.TokenAccess, Signature: "a2"}, {Kind: storage.TokenAccess, Signature: "cc"}} {
		if _, err := s.GetToken(ctx, k.Kind, k.Signature); err != nil {
			t.Fatalf("token %s of another subject was revoked", k.Signature)
		}
	}
	if _, err := s.GetSession(ctx, []byte("h2"), now); err != nil {
		t.Fatal("another user's session was ended")
	}
	if sessions, _, err := s.RevokeSubject(ctx, "u1", nil); err != nil || sessions != 1 {
		t.Fatalf("RevokeSubject without a kept session = %d, %v", sessions, err)
	}
	if _, _, err := s.RevokeSubject(ctx, "", nil); err == nil {
		t.Fatal("an empty subject was accepted")
	}
}

func testUserProfile(t *testing.T, s storage.Store) {
	u := user("u1", "a@example.com")
	u.Profile = storage.Profile{Nickname: "Al", Locale: "de-CH", PhoneNumber: "+41 44 000 00 00", PhoneNumberVerified: true,
		Address: &storage.Address{StreetAddress: "Bahnhofstrasse 1", Locality: "Zürich", PostalCode: "8001", Country: "CH"}}
	must(t, s.CreateUser(ctx, u))
	got, err := s.GetUser(ctx, "u1")
	must(t, err)
	if got.Profile.Nickname != "Al" || !got.Profile.PhoneNumberVerified || got.Profile.Address == nil || got.Profile.Address.Locality != "Zürich" {
		t.Fatalf("profile = %+v", got.Profile)
	}
	_, err = s.UpdateUser(ctx, "u1", func(u storage.User) (storage.User, error) {
		u.Profile.Address, u.Profile.Website = nil, "https://al.example"
		return u, nil
	})
	must(t, err)
	got, _ = s.GetUserByEmail(ctx, "a@example.com")
	if got.Profile.Address != nil || got.Profile.Website != "https://al.example" || got.Profile.Nickname != "Al" {
		t.Fatalf("after update: %+v", got.Profile)
	}
	must(t, s.CreateUser(ctx, user("u2", "b@example.com")))
	if got, _ := s.GetUser(ctx, "u2"); got.Profile != (storage.Profile{}) {
		t.Fatalf("a user without claims: %+v", got.Profile)
	}
}
