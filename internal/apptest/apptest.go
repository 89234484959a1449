// Package apptest builds an in-process gatehouse on a temporary SQLite
// database, for handler-level tests and fuzzing.
package apptest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/authn/password"
	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore/sqlitetest"
)

// Issuer is the in-process server's issuer.
const Issuer = "http://127.0.0.1:8080"

// Fixed test credentials.
const (
	ClientID     = "test-client"
	ClientSecret = "test-client-secret-0123456789abcdef0123456789"
	RedirectURI  = "https://rp.example.test/cb"
	UserEmail    = "alice@example.test"
	UserPassword = "alice-password"
)

// Server is an assembled gatehouse with a client and a user.
type Server struct {
	App   *app.App
	Store *sqlstore.Store
}

// New builds a Server; everything is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	return NewWith(t, nil)
}

// NewWith builds a Server whose configuration configure may change first
// (nil: the defaults).
func NewWith(t testing.TB, configure func(*config.Config)) *Server {
	t.Helper()
	return NewOn(t, sqlitetest.Open(t), "sqlite://unused", configure)
}

// NewOn builds a Server on st, a migrated, empty store opened from
// databaseURL (a PostgreSQL one, say), configured as NewWith does.
func NewOn(t testing.TB, st *sqlstore.Store, databaseURL string, configure func(*config.Config)) *Server {
	t.Helper()
	ctx := context.Background()
	cfg := config.Default()
	cfg.Issuer, cfg.Dev, cfg.DatabaseURL = Issuer, true, databaseURL
	if configure != nil {
		configure(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(ctx, cfg, app.Deps{Store: st, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := st.CreateClient(ctx, storage.Client{ID: ClientID, SecretHash: clientspec.HashSecret(ClientSecret), Name: "Test RP",
		RedirectURIs: []string{RedirectURI}, PostLogoutRedirectURIs: []string{RedirectURI + "/logout"}, GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"},
		ResponseTypes: []string{"code"}, Scopes: []string{"openid", "profile", "email", "offline_access"}, TokenEndpointAuthMethod: "client_secret_basic",
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	hash, err := password.Hash(UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, storage.User{Subject: "alice", Email: UserEmail, EmailVerified: true, Name: "Alice", PasswordHash: hash, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return &Server{App: a, Store: st}
}

// Do serves one request in process.
func (s *Server) Do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.App.Handler.ServeHTTP(w, r)
	return w
}
