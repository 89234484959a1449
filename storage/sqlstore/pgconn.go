package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgres opens the pool through pgx's connector, with connections that
// tell database/sql when they are dead.
//
// pgx closes a connection when a statement's context ends while the server
// is still working on it, and when a ROLLBACK fails — which is what happens
// to the transaction of a request whose client went away. pgx's database/sql
// connections do not implement driver.Validator, so database/sql put such a
// dead connection back in the pool. Under load (more callers than
// connections) database/sql hands a returned connection straight to a
// waiting caller, whose statement then failed with "driver: bad connection"
// (seen as temporarily_unavailable at the authorization endpoint after a
// burst of cancelled requests: the end of a load test, a deploy). With
// IsValid, database/sql drops a dead connection when it is returned, before
// anyone draws it (TestPostgresCancelledRequestsLeaveNoDeadConnections).
func openPostgres(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(validatingConnector{stdlib.GetConnector(*cfg)}), nil
}

type validatingConnector struct{ driver.Connector }

func (c validatingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("sqlstore: unexpected pgx connection type %T", conn)
	}
	return validatingConn{sc}, nil
}

// validatingConn is pgx's connection (every optional database/sql
// interface of it promoted) plus driver.Validator.
type validatingConn struct{ *stdlib.Conn }

var _ driver.Validator = validatingConn{}

// IsValid reports whether the connection can still be used.
func (c validatingConn) IsValid() bool { return !c.Conn.Conn().IsClosed() }
