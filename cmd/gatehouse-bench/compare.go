package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/bench"
)

// compare reads results of several systems measured in alternating rounds
// (targets named SYSTEM/VARIANT, e.g. gatehouse/jwt, hydra/jwt) and prints,
// for each scenario, variant and concurrency, the median per-second figure
// of each system, its p99, errors, and the base system's ratio to each peer.
func compare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	in := fs.String("in", "", "JSON lines of the alternating runs")
	base := fs.String("base", "gatehouse", "the system the ratios are of")
	out := fs.String("out", "", "also write the table to this Markdown file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("--in is required")
	}
	rs, err := readResults(*in)
	if err != nil {
		return err
	}
	text := compareTable(rs, *base) + "\n" + targetsTable(rs, *base, goals)
	fmt.Print(text)
	if *out != "" {
		return os.WriteFile(*out, []byte(text), 0o644)
	}
	return nil
}

type cell struct {
	perSecond, p50, p99 []float64
	errors, cutOff      int64
	// counter is the server counter read around the runs, perIteration its
	// growth per iteration in each run.
	counter      string
	perIteration []float64
	// rss is each run's peak resident memory in MiB (run --pid).
	rss []float64
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type cellKey struct {
	scenario, variant string
	conc              int
}

// measurements groups runs by scenario, variant and concurrency, then by
// system; keys come sorted, systems in the order first seen.
type measurements struct {
	cells   map[cellKey]map[string]*cell
	keys    []cellKey
	systems []string
}

func collect(rs []bench.Result) measurements {
	m := measurements{cells: map[cellKey]map[string]*cell{}}
	for _, r := range rs {
		system, variant, _ := strings.Cut(r.Target, "/")
		k := cellKey{r.Scenario, variant, r.Concurrency}
		if m.cells[k] == nil {
			m.cells[k] = map[string]*cell{}
			m.keys = append(m.keys, k)
		}
		c := m.cells[k][system]
		if c == nil {
			c = &cell{}
			m.cells[k][system] = c
		}
		c.perSecond = append(c.perSecond, r.PerSecond)
		c.p99 = append(c.p99, r.P99ms)
		if r.P50ms > 0 {
			c.p50 = append(c.p50, r.P50ms)
		}
		c.errors += r.Errors
		c.cutOff += r.CutOff
		if r.Counter != "" {
			c.counter = r.Counter
			c.perIteration = append(c.perIteration, r.CounterPerIteration)
		}
		if r.PeakRSSMiB > 0 {
			c.rss = append(c.rss, r.PeakRSSMiB)
		}
		if !slices.Contains(m.systems, system) {
			m.systems = append(m.systems, system)
		}
	}
	slices.SortStableFunc(m.keys, func(a, b cellKey) int {
		if a.scenario != b.scenario {
			return slices.Index(bench.ScenarioNames, a.scenario) - slices.Index(bench.ScenarioNames, b.scenario)
		}
		if a.variant != b.variant {
			return strings.Compare(a.variant, b.variant)
		}
		return a.conc - b.conc
	})
	return m
}

// stalled: no iteration finished while some were waiting.
func (c *cell) stalled() bool { return median(c.perSecond) < 1 && c.cutOff > 0 }

func compareTable(rs []bench.Result, base string) string {
	m := collect(rs)
	cells, keys, systems := m.cells, m.keys, m.systems
	peers := slices.DeleteFunc(slices.Clone(systems), func(s string) bool { return s == base })
	// The base system's server counter per iteration, when its runs read one.
	counter := ""
	for _, k := range keys {
		if c := cells[k][base]; c != nil && c.counter != "" {
			counter = c.counter
		}
	}
	// A column per system for its peak memory when some run sampled it:
	// the highest of the rounds.
	rss := false
	for _, k := range keys {
		for _, c := range cells[k] {
			rss = rss || len(c.rss) > 0
		}
	}
	var b strings.Builder
	b.WriteString("| scenario | variant | concurrency |")
	for _, s := range systems {
		fmt.Fprintf(&b, " %s /s (median) | %s p99 ms | %s runs, errors |", s, s, s)
	}
	if rss {
		for _, s := range systems {
			fmt.Fprintf(&b, " %s peak RSS MiB |", s)
		}
	}
	if counter != "" {
		fmt.Fprintf(&b, " %s per iteration (%s) |", counter, base)
	}
	for _, p := range peers {
		fmt.Fprintf(&b, " %s ÷ %s |", base, p)
	}
	b.WriteString("\n|---|---|--:|")
	b.WriteString(strings.Repeat("--:|--:|--:|", len(systems)))
	if rss {
		b.WriteString(strings.Repeat("--:|", len(systems)))
	}
	if counter != "" {
		b.WriteString("--:|")
	}
	b.WriteString(strings.Repeat("--:|", len(peers)))
	b.WriteString("\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "| %s | %s | %d |", k.scenario, k.variant, k.conc)
		for _, s := range systems {
			if c := cells[k][s]; c != nil {
				p99 := "—"
				if m := median(c.p99); m > 0 {
					p99 = fmt.Sprintf("%.1f", m)
				}
				rate := fmt.Sprintf("%.0f", median(c.perSecond))
				if c.stalled() {
					rate = "0 (stalled)"
				}
				fmt.Fprintf(&b, " %s | %s | %d, %d |", rate, p99, len(c.perSecond), c.errors)
			} else {
				b.WriteString(" — | — | — |")
			}
		}
		if rss {
			for _, s := range systems {
				if c := cells[k][s]; c != nil && len(c.rss) > 0 {
					fmt.Fprintf(&b, " %.0f |", slices.Max(c.rss))
				} else {
					b.WriteString(" — |")
				}
			}
		}
		if counter != "" {
			if c := cells[k][base]; c != nil && c.counter == counter && len(c.perIteration) > 0 {
				fmt.Fprintf(&b, " %.2f |", median(c.perIteration))
			} else {
				b.WriteString(" — |")
			}
		}
		for _, p := range peers {
			bc, pc := cells[k][base], cells[k][p]
			if bc == nil || pc == nil || median(pc.perSecond) < 1 {
				b.WriteString(" — |")
				continue
			}
			fmt.Fprintf(&b, " %.1f× |", median(bc.perSecond)/median(pc.perSecond))
		}
		b.WriteString("\n")
	}
	return b.String()
}
