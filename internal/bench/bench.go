// Package bench is gatehouse's load generator: fixed concurrency, a fixed
// duration with a hard request cap, warm-up excluded, and latency
// percentiles. Its scenarios speak plain OAuth 2.0 / OpenID Connect, so it
// measures any OP given its issuer and a client.
package bench

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Scenario is one kind of load.
type Scenario interface {
	// Name is the scenario's name in reports.
	Name() string
	// Setup prepares shared state (tokens, a session) before the clock runs.
	Setup(ctx context.Context, env *Env, workers int) error
	// Iteration runs one unit of work for a worker and says how many HTTP
	// requests it made; a non-nil error counts as a failed iteration.
	Iteration(ctx context.Context, worker int) (requests int, err error)
}

// Options bound a run.
type Options struct {
	Concurrency int
	Duration    time.Duration
	Warmup      time.Duration
	// MaxIterations stops the run early (a hard cap; 0: 1,000,000).
	MaxIterations int64
	// Counter, if set, is read before and after the measured time; the
	// result reports its growth per iteration (CounterPerIteration).
	Counter *ServerCounter
	// Memory, if set, is sampled while the run is measured; the result
	// reports the peak (PeakRSSMiB).
	Memory *MemoryProbe
}

// Result is a run's measurement.
type Result struct {
	Scenario    string `json:"scenario"`
	Target      string `json:"target,omitempty"`
	Concurrency int    `json:"concurrency"`
	Iterations  int64  `json:"iterations"`
	Requests    int64  `json:"requests"`
	Errors      int64  `json:"errors"`
	// CutOff counts iterations still waiting for an answer when the clock
	// stopped (not in Iterations): a stalled server shows here.
	CutOff  int64   `json:"cut_off,omitempty"`
	Seconds float64 `json:"seconds"`
	// PerSecond is iterations per second (for authcode one iteration is
	// the four requests of a login).
	PerSecond float64 `json:"per_second"`
	// RequestsPerSecond counts HTTP requests.
	RequestsPerSecond float64 `json:"requests_per_second"`
	P50ms             float64 `json:"p50_ms"`
	P90ms             float64 `json:"p90_ms"`
	P99ms             float64 `json:"p99_ms"`
	// CounterPerIteration is how much the server's counter (Options.Counter,
	// e.g. gatehouse_sql_statements_total) grew per iteration measured,
	// those cut off by the clock included.
	CounterPerIteration float64 `json:"counter_per_iteration,omitempty"`
	// Counter names that counter.
	Counter string `json:"counter,omitempty"`
	// PeakRSSMiB is the highest resident memory of the processes under
	// test (Options.Memory) sampled while the run was measured.
	PeakRSSMiB float64 `json:"peak_rss_mib,omitempty"`
	// CPUs is how many cores the load generator's machine has (the
	// servers measured on the same machine share them).
	CPUs int `json:"cpus,omitempty"`
	// FirstErrors are up to five error messages, for diagnosis.
	FirstErrors []string `json:"first_errors,omitempty"`
}

// Run drives s at the given concurrency: warm-up first (not measured), then
// the measured duration or the iteration cap, whichever comes first.
func Run(ctx context.Context, env *Env, s Scenario, o Options) (Result, error) {
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.MaxIterations <= 0 {
		o.MaxIterations = 1_000_000
	}
	if o.Duration <= 0 {
		return Result{}, errors.New("bench: duration must be positive")
	}
	if err := s.Setup(ctx, env, o.Concurrency); err != nil {
		return Result{}, fmt.Errorf("bench: %s setup: %w", s.Name(), err)
	}
	if o.Warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, o.Warmup)
		drive(wctx, s, o.Concurrency, o.MaxIterations, nil)
		cancel()
	}
	mctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var before float64
	if o.Counter != nil {
		v, err := o.Counter.Read(ctx)
		if err != nil {
			return Result{}, err
		}
		before = v
	}
	var peak func() (int64, error)
	if o.Memory != nil {
		peak = o.Memory.watch(mctx)
	}
	rec := &recorder{}
	start := time.Now()
	drive(mctx, s, o.Concurrency, o.MaxIterations, rec)
	elapsed := time.Since(start).Seconds()
	var peakRSS int64
	if peak != nil {
		var err error
		if peakRSS, err = peak(); err != nil {
			return Result{}, err
		}
	}
	r := Result{Scenario: s.Name(), Concurrency: o.Concurrency, CPUs: runtime.NumCPU(), Iterations: rec.iterations.Load(), Requests: rec.requests.Load(),
		Errors: rec.errors.Load(), CutOff: rec.cutOff.Load(), Seconds: elapsed, FirstErrors: rec.firstErrors}
	r.PerSecond = float64(r.Iterations-r.Errors) / elapsed
	r.RequestsPerSecond = float64(r.Requests) / elapsed
	r.P50ms, r.P90ms, r.P99ms = rec.percentile(50), rec.percentile(90), rec.percentile(99)
	r.PeakRSSMiB = float64(peakRSS) / (1 << 20)
	if o.Counter != nil {
		after, err := o.Counter.Read(ctx)
		if err != nil {
			return Result{}, err
		}
		if n := r.Iterations + r.CutOff; n > 0 {
			r.CounterPerIteration = (after - before) / float64(n)
		}
		r.Counter = o.Counter.Metric
	}
	return r, nil
}

// recorder collects per-iteration latencies from all workers.
type recorder struct {
	iterations, requests, errors, cutOff atomic.Int64
	mu                                   sync.Mutex
	latencies                            []time.Duration
	firstErrors                          []string
	sorted                               bool
}

func (r *recorder) add(d time.Duration, requests int, err error) {
	r.iterations.Add(1)
	r.requests.Add(int64(requests))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latencies = append(r.latencies, d)
	if err != nil {
		r.errors.Add(1)
		if len(r.firstErrors) < 5 {
			r.firstErrors = append(r.firstErrors, err.Error())
		}
	}
}

func (r *recorder) percentile(p float64) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.latencies) == 0 {
		return 0
	}
	if !r.sorted {
		slices.Sort(r.latencies)
		r.sorted = true
	}
	i := int(float64(len(r.latencies)-1) * p / 100)
	return float64(r.latencies[i].Microseconds()) / 1000
}

// drive runs workers until ctx ends or the cap is reached; an iteration in
// flight when the clock stops is not counted.
func drive(ctx context.Context, s Scenario, workers int, limit int64, rec *recorder) {
	var started atomic.Int64
	var wg sync.WaitGroup
	// The clock, not only ctx, says when the run is over: a request's
	// deadline can fire before ctx's own timer has marked it done, and
	// that failure belongs to the cut-off, not to the errors.
	deadline, hasDeadline := ctx.Deadline()
	over := func() bool { return ctx.Err() != nil || hasDeadline && !time.Now().Before(deadline) }
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for !over() && started.Add(1) <= limit {
				t0 := time.Now()
				n, err := s.Iteration(ctx, w)
				if over() {
					if rec != nil {
						rec.cutOff.Add(1) // cut off by the clock: not a result
					}
					return
				}
				if rec != nil {
					rec.add(time.Since(t0), n, err)
				}
			}
		}(w)
	}
	wg.Wait()
}

// Env is what scenarios share: the OP's endpoints, the client, an HTTP
// client with keep-alive sized for the concurrency.
type Env struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	RedirectURI  string
	Scope        string
	// Email and Password sign in through gatehouse's login form; Cookie
	// (name=value) is an existing browser session of any OP instead.
	Email, Password, Cookie string
	// IntrospectionEndpoint overrides discovery's (some OPs serve it on an
	// admin port only).
	IntrospectionEndpoint string

	HTTP      *http.Client
	Discovery Discovery

	// wire is the lean client of the measured requests; basic is the
	// client_secret_basic header line.
	wire  *wires
	basic string
}

// NewEnv makes an Env with its own transport (keep-alive, enough idle
// connections for concurrency) and reads the OP's discovery document.
func NewEnv(ctx context.Context, e Env, concurrency int) (*Env, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = concurrency*2, concurrency*2, 0
	e.HTTP = &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	d, err := discover(ctx, e.HTTP, e.Issuer)
	if err != nil {
		return nil, err
	}
	if e.IntrospectionEndpoint != "" {
		d.IntrospectionEndpoint = e.IntrospectionEndpoint
	}
	e.Discovery = d
	e.wire = &wires{}
	e.basic = "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(e.ClientID)+":"+url.QueryEscape(e.ClientSecret)))
	return &e, nil
}
