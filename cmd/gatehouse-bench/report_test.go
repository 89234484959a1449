package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/bench"
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
}
