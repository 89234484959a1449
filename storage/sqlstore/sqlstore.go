// Package sqlstore is gatehouse's one SQL implementation of the storage
// interfaces, for PostgreSQL (pgx) and embedded SQLite (modernc.org/sqlite).
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/gatehouse-id/gatehouse/storage"
)

//go:embed migrations
var migrations embed.FS

// Options tunes the connection pool.
type Options struct {
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
}

// Store implements storage.Store over database/sql.
type Store struct {
	db *sql.DB
	d  dialect
	// statements counts SQL statements sent (queries, execs, BEGIN and
	// COMMIT/ROLLBACK), so tests and benchmarks can hold flows to a budget.
	statements atomic.Int64
	// stmts caches prepared statements by query text (dialect.prepare).
	stmts sync.Map
	// tracer, if set, sees every statement's text (tests, diagnosis).
	tracer atomic.Pointer[func(string)]
	// groups send concurrent token inserts and reads together (groupcommit.go).
	groups groups
}

var _ storage.Store = (*Store)(nil)

// Open connects to the database named by a gatehouse database URL and checks
// that it answers. It does not migrate.
func Open(ctx context.Context, databaseURL string, opt Options) (*Store, error) {
	d, dsn, err := parseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	var db *sql.DB
	if d.name == "sqlite" {
		db, err = sql.Open(d.driver, dsn)
	} else {
		db, err = openPostgres(dsn)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database at %s: %w", d.name, Host(databaseURL), err)
	}
	if d.name == "sqlite" {
		// SQLite allows one writer; a single connection serializes writes so
		// concurrent requests never see SQLITE_BUSY.
		db.SetMaxOpenConns(1)
	} else {
		if opt.MaxOpenConns <= 0 {
			opt.MaxOpenConns = 20
		}
		db.SetMaxOpenConns(opt.MaxOpenConns)
		if opt.MaxIdleConns <= 0 {
			opt.MaxIdleConns = opt.MaxOpenConns
		}
		db.SetMaxIdleConns(opt.MaxIdleConns)
		if opt.ConnMaxLifetime > 0 {
			db.SetConnMaxLifetime(opt.ConnMaxLifetime)
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot reach the %s database at %s: %w", d.name, Host(databaseURL), err)
	}
	st := &Store{db: db, d: d}
	st.initGroups()
	return st, nil
}

// Dialect names the database: "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.name }

// DB exposes the pool for tests and tools.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the pool.
func (s *Store) Close() error {
	s.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		s.stmts.Delete(k)
		return true
	})
	return s.db.Close()
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.wrap(s.db.PingContext(ctx))
}

func (s *Store) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, s.d.migrationsDir)
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.Dialect(s.d.gooseDialect), s.db, sub)
}

// Migrate applies every pending migration.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	return nil
}

// MigrateDownTo rolls back to the given version.
func (s *Store) MigrateDownTo(ctx context.Context, version int64) error {
	p, err := s.provider()
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.DownTo(ctx, version); err != nil {
		return fmt.Errorf("migrate down-to %d: %w", version, err)
	}
	return nil
}

// SchemaStatus reports the applied and the latest known schema versions.
func (s *Store) SchemaStatus(ctx context.Context) (current, latest int64, err error) {
	p, err := s.provider()
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: %w", err)
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	return current, latest, nil
}

// ErrSchemaOutdated means the database schema is older than this binary.
var ErrSchemaOutdated = errors.New("database schema is older than this binary")

// CheckSchema fails with ErrSchemaOutdated unless every migration is applied.
func (s *Store) CheckSchema(ctx context.Context) error {
	cur, latest, err := s.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	if cur < latest {
		return fmt.Errorf("%w (database at version %d, binary needs %d): run `gatehouse migrate up`", ErrSchemaOutdated, cur, latest)
	}
	return nil
}

type txKey struct{ s *Store }

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// q returns the transaction carried by ctx, or the pool, counting each
// statement sent through it.
func (s *Store) q(ctx context.Context) querier {
	if tx, ok := ctx.Value(txKey{s}).(*sql.Tx); ok {
		return counting{q: tx, tx: tx, s: s}
	}
	return counting{q: s.db, s: s}
}

// counting counts the statements a querier sends and, where the dialect
// asks for it, runs them as cached prepared statements.
type counting struct {
	q  querier
	tx *sql.Tx
	s  *Store
}

// prepared returns the cached prepared statement for query (bound to the
// transaction, if any), or nil to run the query as is. A statement first
// seen inside a transaction is not prepared then: preparing it on the pool
// could wait for the connection the transaction holds.
func (c counting) prepared(ctx context.Context, query string) *sql.Stmt {
	if !c.s.d.prepare {
		return nil
	}
	v, ok := c.s.stmts.Load(query)
	if !ok {
		if c.tx != nil {
			return nil
		}
		st, err := c.s.db.PrepareContext(ctx, query)
		if err != nil {
			return nil // the plain call reports the error
		}
		if v, ok = c.s.stmts.LoadOrStore(query, st); ok {
			st.Close()
		}
	}
	st := v.(*sql.Stmt)
	if c.tx != nil {
		return c.tx.StmtContext(ctx, st)
	}
	return st
}

func (c counting) ExecContext(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	c.s.sent(query)
	ctx, span := c.s.startSpan(ctx, query)
	defer func() { endSpan(span, err) }()
	if st := c.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.q.ExecContext(ctx, query, args...)
}

func (c counting) QueryContext(ctx context.Context, query string, args ...any) (rows *sql.Rows, err error) {
	c.s.sent(query)
	ctx, span := c.s.startSpan(ctx, query)
	defer func() { endSpan(span, err) }()
	if st := c.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.q.QueryContext(ctx, query, args...)
}

func (c counting) QueryRowContext(ctx context.Context, query string, args ...any) (row *sql.Row) {
	c.s.sent(query)
	ctx, span := c.s.startSpan(ctx, query)
	defer func() { endSpan(span, row.Err()) }()
	if st := c.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.q.QueryRowContext(ctx, query, args...)
}

// Statements returns how many SQL statements this store has sent.
func (s *Store) Statements() int64 { return s.statements.Load() }

// Trace makes fn see the text of every statement from now on (nil stops
// it); tests use it to show what a flow's statements are.
func (s *Store) Trace(fn func(query string)) {
	if fn == nil {
		s.tracer.Store(nil)
		return
	}
	s.tracer.Store(&fn)
}

// sent counts a statement and shows it to the tracer.
func (s *Store) sent(query string) {
	s.statements.Add(1)
	if fn := s.tracer.Load(); fn != nil {
		(*fn)(query)
	}
}

// BeginTx starts a transaction and returns a context that carries it.
func (s *Store) BeginTx(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{s}).(*sql.Tx); ok {
		return ctx, errors.New("storage: transaction already open")
	}
	s.sent("BEGIN")
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return ctx, s.wrap(err)
	}
	return context.WithValue(ctx, txKey{s}, tx), nil
}

// Commit commits the transaction carried by ctx.
func (s *Store) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{s}).(*sql.Tx)
	if !ok {
		return errors.New("storage: commit without transaction")
	}
	s.sent("COMMIT")
	return s.wrap(tx.Commit())
}

// Rollback rolls back the transaction carried by ctx.
func (s *Store) Rollback(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{s}).(*sql.Tx)
	if !ok {
		return errors.New("storage: rollback without transaction")
	}
	s.sent("ROLLBACK")
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return s.wrap(err)
	}
	return nil
}

// InTx runs fn in a transaction, committing when it returns nil.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{s}).(*sql.Tx); ok {
		return fn(ctx)
	}
	tctx, err := s.BeginTx(ctx)
	if err != nil {
		return err
	}
	if err := fn(tctx); err != nil {
		_ = s.Rollback(tctx)
		return err
	}
	return s.Commit(tctx)
}

// wrap maps driver errors to the storage sentinel errors.
func (s *Store) wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrNotFound
	case s.d.isUnique(err):
		return fmt.Errorf("%w: %v", storage.ErrAlreadyExists, err)
	case s.d.isSerialization(err):
		return fmt.Errorf("%w: %v", storage.ErrConflict, err)
	case isUnavailable(err):
		return fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
	}
	return err
}

func ts(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromTS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func list(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func unlist(s string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("decode list column: %w", err)
	}
	return v, nil
}

func affected(res sql.Result) int64 {
	n, _ := res.RowsAffected()
	return n
}
