package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestBackup: a SQLite backup taken while writes go on opens as a current
// database holding what was written before it; it never overwrites a file.
func TestBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := open(t, "sqlite://"+filepath.Join(dir, "live.db"))
	for i := range 50 {
		if err := st.CreateClient(ctx, storage.Client{ID: fmt.Sprintf("c-%d", i), Name: "C", GrantTypes: []string{"client_credentials"}, CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		for i := 50; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := st.CreateClient(ctx, storage.Client{ID: fmt.Sprintf("c-%d", i), Name: "C", GrantTypes: []string{"client_credentials"}, CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
				done <- err
				return
			}
		}
	}()
	path := filepath.Join(dir, "backup.db")
	err := st.Backup(ctx, path)
	close(stop)
	if werr := <-done; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	if err := st.Backup(ctx, path); err == nil {
		t.Error("a second backup overwrote the first")
	}
	b, err := sqlstore.Open(ctx, "sqlite://"+path, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.CheckSchema(ctx); err != nil {
		t.Fatalf("the backup's schema: %v", err)
	}
	for i := range 50 {
		if _, err := b.GetClient(ctx, fmt.Sprintf("c-%d", i)); err != nil {
			t.Fatalf("client c-%d missing from the backup: %v", i, err)
		}
	}
}

// TestBackupPostgres: PostgreSQL backups are pg_dump's; Backup says so.
func TestBackupPostgres(t *testing.T) {
	st := open(t, storagetest.PostgresURL(t))
	err := st.Backup(context.Background(), filepath.Join(t.TempDir(), "x.db"))
	if !errors.Is(err, sqlstore.ErrBackupUnsupported) || !strings.Contains(err.Error(), "pg_dump") {
		t.Fatalf("Backup on PostgreSQL: %v", err)
	}
}
