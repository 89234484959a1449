package sqlstore_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func open(t testing.TB, url string) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), url, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSQLite(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return open(t, "sqlite://"+filepath.Join(t.TempDir(), "test.db"))
	})
}

func TestPostgres(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return open(t, storagetest.PostgresURL(t))
	})
}

func TestSchemaCheck(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "fresh.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.CheckSchema(ctx)
	if err == nil || !strings.Contains(err.Error(), "gatehouse migrate up") {
		t.Fatalf("CheckSchema on an empty database = %v, want advice to migrate", err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.MigrateDownTo(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckSchema(ctx); err == nil {
		t.Fatal("schema reported current after down-to 0")
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"mysql://x", "unsupported scheme"},
		{"sqlite://", "no file path"},
		{"postgres://gatehouse:hunter2@127.0.0.1:1/db?connect_timeout=2", "127.0.0.1:1"},
	} {
		_, err := sqlstore.Open(context.Background(), tc.url, sqlstore.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want it to mention %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) leaks the password: %v", tc.url, err)
		}
	}
}
