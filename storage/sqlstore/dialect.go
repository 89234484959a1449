package sqlstore

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect holds the few real differences between the databases. Queries are
// shared: both accept $n placeholders, ON CONFLICT and RETURNING.
type dialect struct {
	name          string // "sqlite" or "postgres"
	driver        string // database/sql driver name
	migrationsDir string
	gooseDialect  string
	// isUnique reports a unique-constraint violation.
	isUnique func(error) bool
	// isSerialization reports a serialization failure or lock conflict that a
	// retry may cure.
	isSerialization func(error) bool
	// prepare caches prepared statements in the store (the driver does not;
	// pgx caches them per connection by itself).
	prepare bool
	// joinSep is the SQL of an aggregate joining expr with the unit
	// separator (0x1f).
	joinSep func(expr string) string
}

var sqliteDialect = dialect{
	name:          "sqlite",
	driver:        "sqlite",
	migrationsDir: "migrations/sqlite",
	gooseDialect:  "sqlite3",
	joinSep:       func(expr string) string { return "group_concat(" + expr + ", char(31))" },
	prepare:       true,
	isUnique: func(err error) bool {
		var e *sqlite.Error
		if errors.As(err, &e) {
			return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
		}
		return false
	},
	isSerialization: func(err error) bool {
		var e *sqlite.Error
		if errors.As(err, &e) {
			return e.Code()&0xff == sqlite3.SQLITE_BUSY || e.Code()&0xff == sqlite3.SQLITE_LOCKED
		}
		return false
	},
}

var postgresDialect = dialect{
	name:          "postgres",
	driver:        "pgx",
	migrationsDir: "migrations/postgres",
	gooseDialect:  "postgres",
	joinSep:       func(expr string) string { return "string_agg(" + expr + ", chr(31))" },
	isUnique: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505"
	},
	isSerialization: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && (e.Code == "40001" || e.Code == "40P01")
	},
}

// isUnavailable reports errors that mean the database cannot be reached.
func isUnavailable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03") {
		return true
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || pgconn.Timeout(err) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "bad connection") || strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection refused")
}

// parseURL turns a gatehouse database URL into a dialect and a driver DSN.
// Accepted: sqlite:///abs/path.db, sqlite://relative.db, postgres://…, postgresql://….
func parseURL(raw string) (dialect, string, error) {
	switch {
	case strings.HasPrefix(raw, "sqlite://"):
		rest := strings.TrimPrefix(raw, "sqlite://")
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return dialect{}, "", fmt.Errorf("database URL %q has no file path (use sqlite:///abs/path.db or sqlite://relative.db)", raw)
		}
		if path != ":memory:" {
			abs, err := filepath.Abs(path)
			if err != nil {
				return dialect{}, "", fmt.Errorf("database URL %q: %w", raw, err)
			}
			path = abs
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return dialect{}, "", fmt.Errorf("database URL %q: %w", raw, err)
		}
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
		return sqliteDialect, "file:" + path + "?" + q.Encode(), nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return postgresDialect, raw, nil
	default:
		return dialect{}, "", fmt.Errorf("database URL %q: unsupported scheme (use sqlite:// or postgres://)", redactURL(raw))
	}
}

// redactURL hides a password in a database URL so it can be logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Host names the database server or file in errors, without secrets.
func Host(raw string) string {
	if strings.HasPrefix(raw, "sqlite://") {
		return strings.TrimPrefix(raw, "sqlite://")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Host
}
