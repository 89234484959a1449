package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/bench"
)

func TestReport(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "r.jsonl")
	lines := `{"scenario":"client-credentials","target":"a","concurrency":8,"iterations":10,"requests":10,"per_second":200,"p50_ms":1,"p90_ms":2,"p99_ms":3}
{"scenario":"client-credentials","target":"a","concurrency":1,"iterations":10,"requests":10,"per_second":100,"p50_ms":1,"p90_ms":2,"p99_ms":3}
{"scenario":"authcode","target":"b<&>","concurrency":1,"iterations":5,"requests":20,"per_second":50,"errors":1}
`
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	out, svg := filepath.Join(dir, "b.md"), filepath.Join(dir, "b.svg")
	if err := report([]string{"--in", in, "--out", out, "--svg", svg}); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(out)
	i1, i8 := strings.Index(string(md), "| client-credentials | a | 1 |"), strings.Index(string(md), "| client-credentials | a | 8 |")
	if i1 < 0 || i8 < i1 || !strings.Contains(string(md), "(b.svg)") || !strings.Contains(string(md), "| 1 |\n") {
		t.Errorf("markdown:\n%s", md)
	}
	b, _ := os.ReadFile(svg)
	if err := xml.Unmarshal(b, new(struct{})); err != nil || !strings.Contains(string(b), "polyline") {
		t.Errorf("SVG is not well-formed (%v):\n%s", err, b)
	}
	withCounter := lines + `{"scenario":"introspect","target":"a","concurrency":8,"iterations":10,"requests":10,"per_second":300,"counter":"gatehouse_sql_statements_total","counter_per_iteration":0.37}
`
	if err := os.WriteFile(in, []byte(withCounter), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := report([]string{"--in", in, "--out", out}); err != nil {
		t.Fatal(err)
	}
	md, _ = os.ReadFile(out)
	for _, want := range []string{"| errors | gatehouse_sql_statements_total per iteration |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n",
		"| introspect | a | 8 | 300 | 0 | 0.00 | 0.00 | 0.00 | 0 | 0.37 |\n", "| client-credentials | a | 1 | 100 | 0 | 1.00 | 2.00 | 3.00 | 0 | — |\n"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// A peak RSS column once some run sampled memory (run --pid).
	withRSS := withCounter + `{"scenario":"introspect","target":"a","concurrency":512,"iterations":10,"requests":10,"per_second":300,"peak_rss_mib":187.4}
`
	if err := os.WriteFile(in, []byte(withRSS), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := report([]string{"--in", in, "--out", out}); err != nil {
		t.Fatal(err)
	}
	md, _ = os.ReadFile(out)
	for _, want := range []string{"| gatehouse_sql_statements_total per iteration | peak RSS MiB |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
		"| introspect | a | 512 | 300 | 0 | 0.00 | 0.00 | 0.00 | 0 | — | 187 |\n", "| introspect | a | 8 | 300 | 0 | 0.00 | 0.00 | 0.00 | 0 | 0.37 | — |\n"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if err := report([]string{"--in", filepath.Join(dir, "missing"), "--out", out}); err == nil {
		t.Error("a missing input file was accepted")
	}
}

func TestCompareTable(t *testing.T) {
	rs := []bench.Result{
		{Scenario: "client-credentials", Target: "gatehouse/opaque", Concurrency: 8, PerSecond: 3000, P99ms: 9},
		{Scenario: "client-credentials", Target: "hydra/opaque", Concurrency: 8, PerSecond: 200, P99ms: 90},
		{Scenario: "client-credentials", Target: "gatehouse/opaque", Concurrency: 8, PerSecond: 1000, P99ms: 7},
		{Scenario: "client-credentials", Target: "hydra/opaque", Concurrency: 8, PerSecond: 100, P99ms: 80},
		{Scenario: "client-credentials", Target: "gatehouse/opaque", Concurrency: 8, PerSecond: 2000, P99ms: 8},
		{Scenario: "client-credentials", Target: "hydra/opaque", Concurrency: 8, PerSecond: 400, P99ms: 70, Errors: 2},
	}
	got := compareTable(rs, "gatehouse")
	// Medians: gatehouse 2000, hydra 200 → 10.0×.
	if !strings.Contains(got, "| client-credentials | opaque | 8 | 2000 | 8.0 | 3, 0 | 200 | 80.0 | 3, 2 | 10.0× |") {
		t.Errorf("compare table:\n%s", got)
	}
	// With memory sampled: each system's highest peak of the rounds.
	rs[0].PeakRSSMiB, rs[2].PeakRSSMiB, rs[1].PeakRSSMiB = 120, 131, 610
	got = compareTable(rs, "gatehouse")
	if !strings.Contains(got, "| gatehouse peak RSS MiB | hydra peak RSS MiB |") ||
		!strings.Contains(got, "| client-credentials | opaque | 8 | 2000 | 8.0 | 3, 0 | 200 | 80.0 | 3, 2 | 131 | 610 | 10.0× |") {
		t.Errorf("compare table with memory:\n%s", got)
	}
}

func TestTargetsTable(t *testing.T) {
	cc := func(target string, conc int, perSecond float64) bench.Result {
		return bench.Result{Scenario: "client-credentials", Target: target, Concurrency: conc, PerSecond: perSecond}
	}
	rs := []bench.Result{
		cc("gatehouse/opaque", 1, 1000), cc("hydra/opaque", 1, 100), cc("pgbench-insert-select/opaque", 1, 1200),
		cc("gatehouse/opaque", 8, 3000), cc("hydra/opaque", 8, 200), cc("pgbench-insert-select/opaque", 8, 8000),
		cc("gatehouse/jwt", 8, 2000), {Scenario: "client-credentials", Target: "hydra/jwt", Concurrency: 8, CutOff: 8},
		{Scenario: "authcode", Target: "gatehouse/opaque", Concurrency: 8, PerSecond: 300, Errors: 2, Counter: "gatehouse_sql_statements_total", CounterPerIteration: 11.2},
		{Scenario: "authcode", Target: "gatehouse/opaque", Concurrency: 1, PerSecond: 100, Counter: "gatehouse_sql_statements_total", CounterPerIteration: 12.4},
	}
	rs = append(rs,
		bench.Result{Scenario: "client-credentials", Target: "gatehouse/opaque", Concurrency: 1, PerSecond: 1000, P50ms: 0.95},
		bench.Result{Scenario: "client-credentials", Target: "pgbench-insert-select/opaque", Concurrency: 1, PerSecond: 1200, P50ms: 0.70},
		bench.Result{Scenario: "client-credentials", Target: "gatehouse/opaque", Concurrency: 8, PerSecond: 3000, P50ms: 1.2, PeakRSSMiB: 190},
		bench.Result{Scenario: "client-credentials", Target: "pgbench-insert-select/opaque", Concurrency: 8, PerSecond: 8000, P50ms: 1.0},
	)
	got := targetsTable(rs, "gatehouse", []goal{
		{what: "opaque ≥ 10× Hydra", scenario: "client-credentials", variant: "opaque", peer: "hydra", min: 10},
		{what: "opaque ≥ 75 % of pgbench", scenario: "client-credentials", variant: "opaque", peer: "pgbench-insert-select", min: 0.75},
		{what: "JWT ≥ 30× Hydra", scenario: "client-credentials", variant: "jwt", peer: "hydra", min: 30},
		{what: "beyond the run", scenario: "introspect", variant: "opaque", peer: "hydra", min: 3},
		{what: "≤ 12 statements", scenario: "authcode", variant: "opaque", counter: "gatehouse_sql_statements_total", max: 12},
		{what: "p50 within 0.3 ms of pgbench, at 1", scenario: "client-credentials", variant: "opaque", peer: "pgbench-insert-select", p50Within: 0.3, levels: []int{1}},
		{what: "RSS ≤ 180 MiB", scenario: "client-credentials", variant: "opaque", rssMiB: 180},
	})
	for _, want := range []string{
		"| target | concurrency 1 | concurrency 8 | met |",
		"| opaque ≥ 10× Hydra | 10.00× ✓ | 15.00× ✓ | yes |",
		"| opaque ≥ 75 % of pgbench | 0.83× ✓ | 0.38× ✗ | no (concurrency 8) |",
		"| JWT ≥ 30× Hydra | — | ∞ (peer stalled) ✓ | yes |",
		"| beyond the run | — | — | not measured |",
		"| ≤ 12 statements | 12.4 ✗ | 11.2 ✓ | no (concurrency 1) |",
		"| p50 within 0.3 ms of pgbench, at 1 | +0.25 ms ✓ | — | yes |",
		"| RSS ≤ 180 MiB | — | 190 MiB ✗ | no (concurrency 8) |",
		"| zero errors in every scenario (gatehouse) | 0 errors ✓ | 2 errors ✗ | no (concurrency 8) |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets table lacks %q:\n%s", want, got)
		}
	}
}

func TestCompareTableCounter(t *testing.T) {
	rs := []bench.Result{
		{Scenario: "authcode", Target: "gatehouse/opaque", Concurrency: 8, PerSecond: 300, Counter: "gatehouse_sql_statements_total", CounterPerIteration: 11},
		{Scenario: "authcode", Target: "gatehouse/opaque", Concurrency: 8, PerSecond: 320, Counter: "gatehouse_sql_statements_total", CounterPerIteration: 10},
		{Scenario: "authcode", Target: "gatehouse/opaque", Concurrency: 8, PerSecond: 310, Counter: "gatehouse_sql_statements_total", CounterPerIteration: 12},
		{Scenario: "authcode", Target: "hydra/opaque", Concurrency: 8, PerSecond: 31},
		{Scenario: "introspect", Target: "gatehouse/opaque", Concurrency: 8, PerSecond: 5000},
	}
	got := compareTable(rs, "gatehouse")
	for _, want := range []string{
		"| gatehouse_sql_statements_total per iteration (gatehouse) | gatehouse ÷ hydra |",
		"| authcode | opaque | 8 | 310 | — | 3, 0 | 31 | — | 1, 0 | 11.00 | 10.0× |",
		"| introspect | opaque | 8 | 5000 | — | 1, 0 | — | — | — | — | — |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("compare table lacks %q:\n%s", want, got)
		}
	}
}

// TestGrowthAndPerCore: the grown database's figures against the empty
// one's (within 20 % or marked), and password sign-ins per core.
func TestGrowthAndPerCore(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "r.jsonl"), filepath.Join(dir, "b.md")
	lines := `{"scenario":"client-credentials","target":"pg","concurrency":32,"per_second":1000,"p99_ms":4}
{"scenario":"authcode","target":"pg","concurrency":32,"per_second":500,"p99_ms":9}
{"scenario":"client-credentials","target":"pg-10m","concurrency":32,"per_second":850,"p99_ms":5}
{"scenario":"authcode","target":"pg-10m","concurrency":32,"per_second":390,"p99_ms":12}
{"scenario":"introspect","target":"pg-10m","concurrency":32,"per_second":390}
{"scenario":"client-credentials","target":"pg-empty-1m","concurrency":32,"per_second":900,"p99_ms":4}
{"scenario":"client-credentials","target":"pg-1m","concurrency":32,"per_second":700,"p99_ms":6}
{"scenario":"password-login","target":"pg","concurrency":1,"per_second":20,"cpus":2}
{"scenario":"password-login","target":"pg","concurrency":2,"per_second":36,"cpus":2}
`
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := report([]string{"--in", in, "--out", out, "--growth", "pg=pg-10m", "--growth", "pg-empty-1m=pg-1m"}); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(out)
	for _, want := range []string{
		"| client-credentials | 32 | pg-10m | 850 | pg | 1000 | 0.85 | 5.00 | 4.00 | ✓ |\n",
		"| authcode | 32 | pg-10m | 390 | pg | 500 | 0.78 | 12.00 | 9.00 | ✗ |\n",
		// Each grown database against its own baseline, not the first one.
		"| client-credentials | 32 | pg-1m | 700 | pg-empty-1m | 900 | 0.78 | 6.00 | 4.00 | ✗ |\n",
		"- pg: 36 sign-ins/s at best (concurrency 2) on 2 cores, **18 per core**\n",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(string(md), "| introspect | 32 | pg-10m") {
		t.Errorf("a grown figure without an empty one to compare is listed:\n%s", md)
	}
	for _, bad := range []string{"pg", "pg=", "=pg-10m"} {
		if err := report([]string{"--in", in, "--out", out, "--growth", bad}); err == nil {
			t.Errorf("--growth %q accepted", bad)
		}
	}
}
