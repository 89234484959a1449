package sqlstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestPostgresCancelledRequestsLeaveNoDeadConnections is the end of a load
// test or a deploy in small: requests whose clients go away mid-statement
// (their connections closed by pgx) beside requests that must all succeed,
// on a pool smaller than the number of callers so that connections are
// handed from one caller to the next. A dead connection put back in the pool
// reached a live caller as "driver: bad connection".
func TestPostgresCancelledRequestsLeaveNoDeadConnections(t *testing.T) {
	url := storagetest.PostgresURL(t)
	st, err := sqlstore.Open(context.Background(), url, sqlstore.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db := st.DB()

	const rounds = 40
	var wg sync.WaitGroup
	errs := make(chan error, 4*rounds)
	for w := 0; w < 3; w++ { // callers that go away, in and out of transactions
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
				if w == 0 {
					db.ExecContext(ctx, "SELECT pg_sleep(0.05)")
				} else if tx, err := db.BeginTx(ctx, nil); err == nil {
					tx.ExecContext(ctx, "SELECT pg_sleep(0.05)")
					tx.Rollback()
				}
				cancel()
			}
		}(w)
	}
	for w := 0; w < 3; w++ { // callers that stay
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				var one int
				if err := db.QueryRowContext(context.Background(), "SELECT 1").Scan(&one); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a request that stayed failed: %v ", err)
	}
}
