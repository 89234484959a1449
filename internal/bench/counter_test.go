package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSumMetric(t *testing.T) {
	const text = `# HELP gatehouse_sql_statements_total SQL statements sent.
# TYPE gatehouse_sql_statements_total counter
gatehouse_sql_statements_total{database="postgres"} 1200
gatehouse_sql_statements_total_created 17
gatehouse_sql_statements_totalx 5
gatehouse_sql_statements_total{database="sqlite",note="a } in a label"} 34 1700000000000
go_goroutines 12
`
	for _, tc := range []struct {
		name, metric string
		want         float64
		ok           bool
	}{
		{"every series summed, labels with braces, a timestamp", "gatehouse_sql_statements_total", 1234, true},
		{"an unlabelled gauge", "go_goroutines", 12, true},
		{"a missing metric is an error, not zero", "gatehouse_missing", 0, false},
		{"a name that is a prefix of others only", "gatehouse_sql", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sumMetric(bufio.NewScanner(strings.NewReader(text)), tc.metric)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("sumMetric(%s) = %v, %v; want %v (ok %v)", tc.metric, got, err, tc.want, tc.ok)
			}
		})
	}
	if _, err := sumMetric(bufio.NewScanner(strings.NewReader("go_goroutines twelve\n")), "go_goroutines"); err == nil {
		t.Error("a value that is no number was accepted")
	}
}

// countingScenario makes the server's counter grow by three per iteration.
type countingScenario struct{ served *atomic.Int64 }

func (countingScenario) Name() string                           { return "counting" }
func (countingScenario) Setup(context.Context, *Env, int) error { return nil }
func (s countingScenario) Iteration(context.Context, int) (int, error) {
	s.served.Add(3)
	return 1, nil
}

func TestRunReadsTheServerCounterAroundTheMeasuredTime(t *testing.T) {
	var served atomic.Int64
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "# TYPE statements_total counter\nstatements_total{database=\"x\"} %d\n", served.Load())
	}))
	defer metrics.Close()
	ctr := &ServerCounter{URL: metrics.URL, Bearer: "k", Metric: "statements_total"}
	r, err := Run(context.Background(), &Env{}, countingScenario{&served}, Options{Concurrency: 2, Duration: 50 * time.Millisecond,
		Warmup: 20 * time.Millisecond, MaxIterations: 500, Counter: ctr})
	if err != nil {
		t.Fatal(err)
	}
	// The warm-up's iterations are not in the figure: exactly three per iteration measured.
	if r.Counter != "statements_total" || r.CounterPerIteration != 3 || r.Iterations == 0 {
		t.Errorf("counter %q per iteration %v over %d iterations, want 3", r.Counter, r.CounterPerIteration, r.Iterations)
	}
	ctr.Bearer = "wrong"
	if _, err := Run(context.Background(), &Env{}, countingScenario{&served}, Options{Duration: 10 * time.Millisecond, Counter: ctr}); err == nil {
		t.Error("a counter that cannot be read did not fail the run")
	}
}
