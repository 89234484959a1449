// Package metrics builds the registry behind the admin listener's /metrics:
// the public listener's requests by route and status, the SQL statements
// the store has sent, the database pool, the Go runtime and the process.
// Store and pool figures are read when scraped; a request pays two atomic
// additions and a histogram bucket.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-id/gatehouse/internal/buildinfo"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
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

// Metrics is one server's registry.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
}

// New registers the runtime, the process and, if st is not nil, the store's
// counters and pool.
func New(st Store) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gatehouse_http_request_duration_seconds",
		Help: "Requests of the public listener by route (the pattern that matched, e.g. \"POST /oauth2/token\") and status, and how long they took.",
		// From a cached discovery document to a slow password hash.
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
	}, []string{"route", "code"})
	m.reg.MustRegister(m.requests)
	bi := buildinfo.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "gatehouse_build_info", Help: "The running build: always 1, with its version, commit, build date and Go version.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "commit": bi.Commit, "date": bi.Date, "goversion": bi.GoVersion}})
	build.Set(1)
	m.reg.MustRegister(build)
	if st != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        StatementsMetric,
			Help:        "SQL statements sent to the database, BEGIN and COMMIT/ROLLBACK included; a grouped statement counts once.",
			ConstLabels: prometheus.Labels{"database": st.Dialect()},
		}, func() float64 { return float64(st.Statements()) }))
		m.reg.MustRegister(collectors.NewDBStatsCollector(st.DB(), "gatehouse"))
	}
	return m
}

// CounterFunc registers a counter read from fn when scraped.
func (m *Metrics) CounterFunc(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}

// GaugeFunc registers a gauge read at scrape time.
func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Instrument counts and times the requests mux serves. It must wrap the
// ServeMux itself: the route is the pattern the mux matched, which it
// records on the request it is given (bounded by the routes registered,
// never the raw path). A handler that panics is counted as a 500.
func (m *Metrics) Instrument(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &httpx.StatusWriter{ResponseWriter: w}
		finished := false
		defer func() {
			code := sw.Status
			switch {
			case !finished:
				code = http.StatusInternalServerError // panicked
			case code == 0:
				code = http.StatusOK // wrote nothing: net/http answers 200
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			m.requests.WithLabelValues(route, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
		}()
		mux.ServeHTTP(sw, r)
		finished = true
	})
}
