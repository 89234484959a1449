package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// ErrBackupUnsupported: online backups are SQLite's; PostgreSQL has pg_dump.
var ErrBackupUnsupported = errors.New("backup: the database is PostgreSQL; use pg_dump (e.g. pg_dump --format=custom --file=gatehouse.dump \"$GATEHOUSE_DATABASE_URL\")")

// Backup writes a consistent copy of a SQLite database to path while it
// serves (VACUUM INTO: one read transaction, compacted, no WAL to carry).
// The file must not exist; it is created with mode 0600 (it holds sealed
// keys, password hashes and token hashes).
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.d.name != "sqlite" {
		return ErrBackupUnsupported
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	// VACUUM INTO wants an empty or absent file: the placeholder only
	// reserves the name and its mode.
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		os.Remove(path)
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return nil
}
