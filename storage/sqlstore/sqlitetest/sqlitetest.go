// Package sqlitetest opens a migrated SQLite store in a test's temporary
// directory, closed when the test ends: the real database, for tests of
// the packages above storage.
package sqlitetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
)

// Open returns a new, migrated store.
func Open(t testing.TB) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}
