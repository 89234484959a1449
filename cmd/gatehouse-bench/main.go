// Command gatehouse-bench load-tests an OpenID Connect provider (gatehouse
// or any other): client_credentials, introspection, refresh rotation, the
// full authorization-code flow, discovery and JWKS, at fixed concurrency
// for a fixed time with a hard cap, warm-up excluded. It prints a table and
// writes JSON; `report` turns JSON results into Markdown and an SVG chart.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/bench"
)

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "run":
		err = run(ctx, os.Args[2:], os.Stdout)
	case "report":
		err = report(os.Args[2:])
	case "compare":
		err = compare(os.Args[2:])
	case "hydra-login":
		err = hydraLogin(os.Args[2:])
	case "-h", "--help", "help":
		usage(os.Stdout)
	default:
		usage(os.Stderr)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-bench:", err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `usage:
  gatehouse-bench run --issuer URL --client-id ID --client-secret SECRET [--scenario %s]
                      [--concurrency 1,8,32] [--duration 10s] [--warmup 2s] [--max-iterations N]
                      [--redirect-uri URI (--email E --password P | --cookie NAME=VALUE)] [--scope S]
                      [--target LABEL] [--json FILE] [--cpuprofile FILE]
                      [--metrics-url URL [--metrics-key KEY] [--counter gatehouse_sql_statements_total]] [--pid PID[,PID]]
  gatehouse-bench report --in FILE.jsonl --out benchmarks.md [--svg benchmarks.svg] [--title T] [--notes FILE]
  gatehouse-bench compare --in FILE.jsonl [--base gatehouse] [--out FILE.md]   (targets named SYSTEM/VARIANT)
  gatehouse-bench hydra-login --admin URL [--listen 127.0.0.1:3000]          (auto-accepting login/consent app for Ory Hydra)
`, strings.Join(bench.ScenarioNames, ","))
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var e bench.Env
	fs.StringVar(&e.Issuer, "issuer", "", "the OP's issuer URL")
	fs.StringVar(&e.ClientID, "client-id", "", "client id (client_secret_basic)")
	fs.StringVar(&e.ClientSecret, "client-secret", os.Getenv("GATEHOUSE_BENCH_CLIENT_SECRET"), "client secret (or GATEHOUSE_BENCH_CLIENT_SECRET)")
	fs.StringVar(&e.RedirectURI, "redirect-uri", "", "redirect URI registered for the client (authcode, refresh)")
	fs.StringVar(&e.Scope, "scope", "", "scope to ask for")
	fs.StringVar(&e.Email, "email", "", "sign in through gatehouse's login form (authcode, refresh)")
	fs.StringVar(&e.Password, "password", os.Getenv("GATEHOUSE_BENCH_PASSWORD"), "password for --email (or GATEHOUSE_BENCH_PASSWORD)")
	fs.StringVar(&e.Cookie, "cookie", "", "an existing browser session of the OP: NAME=VALUE")
	fs.StringVar(&e.IntrospectionEndpoint, "introspection-endpoint", "", "introspection URL when discovery has none (Ory Hydra: its admin URL + /admin/oauth2/introspect)")
	scenarios := fs.String("scenario", "client-credentials", "comma-separated scenarios")
	conc := fs.String("concurrency", "1,8,32", "comma-separated concurrency levels")
	duration := fs.Duration("duration", 10*time.Second, "measured time per run")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured warm-up per run")
	maxIt := fs.Int64("max-iterations", 1_000_000, "hard cap of iterations per run")
	target := fs.String("target", "", "label for the results (e.g. gatehouse-postgres)")
	jsonOut := fs.String("json", "", "append results as JSON lines to this file")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
	metricsURL := fs.String("metrics-url", "", "the server's Prometheus metrics (gatehouse: its admin listener + /metrics), read around each run")
	metricsKey := fs.String("metrics-key", os.Getenv("GATEHOUSE_BENCH_METRICS_KEY"), "bearer token for --metrics-url (gatehouse: an admin key with metrics:read; or GATEHOUSE_BENCH_METRICS_KEY)")
	counter := fs.String("counter", "gatehouse_sql_statements_total", "the counter of --metrics-url reported per iteration")
	pids := fs.String("pid", "", "comma-separated process ids of the server under test: their resident memory (Linux /proc) is sampled during each run and its peak reported")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if e.Issuer == "" || e.ClientID == "" {
		return errors.New("--issuer and --client-id are required")
	}
	var mem *bench.MemoryProbe
	if *pids != "" {
		mem = &bench.MemoryProbe{}
		for _, p := range strings.Split(*pids, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || pid <= 0 {
				return fmt.Errorf("--pid: %q is not a process id", p)
			}
			mem.PIDs = append(mem.PIDs, pid)
		}
		if _, err := mem.RSS(); err != nil {
			return err
		}
	}
	var ctr *bench.ServerCounter
	if *metricsURL != "" {
		ctr = &bench.ServerCounter{URL: *metricsURL, Bearer: *metricsKey, Metric: *counter}
		if _, err := ctr.Read(ctx); err != nil {
			return err
		}
	}
	var levels []int
	for _, c := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 || n > 1024 {
			return fmt.Errorf("--concurrency: %q is not a number from 1 to 1024", c)
		}
		levels = append(levels, n)
	}
	var sink io.Writer
	if *jsonOut != "" {
		f, err := os.OpenFile(*jsonOut, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		sink = f
	}
	const row = "%-20s %-19s %5v %9v %9v %8v %8v %8v %7v\n"
	fmt.Fprintf(out, row, "target", "scenario", "conc", "iter/s", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors")
	for _, name := range strings.Split(*scenarios, ",") {
		mk, ok := bench.Scenarios()[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("unknown scenario %q (have %s)", name, strings.Join(bench.ScenarioNames, ", "))
		}
		for _, c := range levels {
			env, err := bench.NewEnv(ctx, e, c)
			if err != nil {
				return err
			}
			r, err := bench.Run(ctx, env, mk(), bench.Options{Concurrency: c, Duration: *duration, Warmup: *warmup, MaxIterations: *maxIt, Counter: ctr, Memory: mem})
			if err != nil {
				return err
			}
			r.Target = *target
			fmt.Fprintf(out, row, r.Target, r.Scenario, r.Concurrency, fmt.Sprintf("%.0f", r.PerSecond), fmt.Sprintf("%.0f", r.RequestsPerSecond),
				fmt.Sprintf("%.2f", r.P50ms), fmt.Sprintf("%.2f", r.P90ms), fmt.Sprintf("%.2f", r.P99ms), r.Errors)
			if r.Counter != "" {
				fmt.Fprintf(out, "%-20s %s per iteration: %.2f\n", "", r.Counter, r.CounterPerIteration)
			}
			if r.PeakRSSMiB > 0 {
				fmt.Fprintf(out, "%-20s peak RSS: %.0f MiB\n", "", r.PeakRSSMiB)
			}
			for _, msg := range r.FirstErrors {
				fmt.Fprintln(os.Stderr, "  error:", msg)
			}
			if sink != nil {
				b, _ := json.Marshal(r)
				fmt.Fprintln(sink, string(b))
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}
