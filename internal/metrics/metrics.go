// Package metrics builds the registry behind the admin listener's /metrics:
// the Go runtime, the process, the database pool and the SQL statements the
// store has sent. Every figure is read when scraped, so nothing here costs a
// request anything.
package metrics

import (
	"database/sql"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Store is what the metrics read from the SQL store.
type Store interface {
	// Statements counts the SQL statements sent so far.
	Statements() int64
	// DB is the connection pool.
	DB() *sql.DB
	// Dialect names the database ("sqlite" or "postgres").
	Dialect() string
}

// StatementsMetric is the name of the SQL statement counter.
const StatementsMetric = "gatehouse_sql_statements_total"

// Handler serves the metrics in Prometheus' text format. st may be nil (a
// store without counters): then only the runtime and the process are
// reported.
func Handler(st Store) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if st != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        StatementsMetric,
			Help:        "SQL statements sent to the database, BEGIN and COMMIT/ROLLBACK included; a grouped statement counts once.",
			ConstLabels: prometheus.Labels{"database": st.Dialect()},
		}, func() float64 { return float64(st.Statements()) }))
		reg.MustRegister(collectors.NewDBStatsCollector(st.DB(), "gatehouse"))
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
