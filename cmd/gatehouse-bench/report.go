package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"os"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/bench"
)

// report turns JSON-lines results into a Markdown table and an SVG chart of
// throughput against concurrency (one panel per scenario, one line per
// target).
func report(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	in := fs.String("in", "", "JSON lines written by run --json")
	out := fs.String("out", "", "Markdown file to write")
	svg := fs.String("svg", "", "SVG chart to write (linked from the Markdown)")
	title := fs.String("title", "gatehouse benchmarks", "document title")
	notes := fs.String("notes", "", "Markdown file whose text goes under the title (machine, commands)")
	var growth []growthPair
	fs.Func("growth", "BASE=GROWN[,GROWN...]: compare targets measured on a grown database with BASE (the same server on an empty one); repeat it for a baseline per grown database", func(v string) error {
		base, grown, ok := strings.Cut(v, "=")
		if !ok || base == "" || grown == "" {
			return fmt.Errorf("want BASE=GROWN[,GROWN...], not %q", v)
		}
		growth = append(growth, growthPair{base: base, grown: strings.Split(grown, ",")})
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return errors.New("--in and --out are required")
	}
	results, err := readResults(*in)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", *title)
	if *notes != "" {
		n, err := os.ReadFile(*notes)
		if err != nil {
			return err
		}
		b.Write(n)
		b.WriteString("\n")
	}
	if *svg != "" {
		if err := os.WriteFile(*svg, []byte(chart(results)), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&b, "![throughput against concurrency](%s)\n\n", baseName(*svg))
	}
	b.WriteString(table(results))
	b.WriteString(perCore(results))
	if len(growth) > 0 {
		b.WriteString(growthTable(results, growth))
	}
	return os.WriteFile(*out, []byte(b.String()), 0o644)
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func readResults(path string) ([]bench.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []bench.Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r bench.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// table is one Markdown table of every result, grouped by scenario.
func table(rs []bench.Result) string {
	var b strings.Builder
	// A column for the server counter when some run read one (SQL
	// statements per iteration, from gatehouse's /metrics).
	counter := ""
	for _, r := range rs {
		if r.Counter != "" {
			counter = r.Counter
		}
	}
	// A column for the server's peak resident memory when some run
	// sampled it (gatehouse-bench run --pid).
	rss := slices.ContainsFunc(rs, func(r bench.Result) bool { return r.PeakRSSMiB > 0 })
	b.WriteString("| scenario | target | concurrency | per second | requests/s | p50 ms | p90 ms | p99 ms | errors |")
	if counter != "" {
		fmt.Fprintf(&b, " %s per iteration |", counter)
	}
	if rss {
		b.WriteString(" peak RSS MiB |")
	}
	b.WriteString("\n|---|---|--:|--:|--:|--:|--:|--:|--:|")
	if counter != "" {
		b.WriteString("--:|")
	}
	if rss {
		b.WriteString("--:|")
	}
	b.WriteString("\n")
	rs = slices.Clone(rs)
	slices.SortStableFunc(rs, func(a, b bench.Result) int { return a.Concurrency - b.Concurrency })
	targets := order(rs, func(r bench.Result) string { return r.Target }, nil)
	slices.SortStableFunc(rs, func(a, b bench.Result) int { return slices.Index(targets, a.Target) - slices.Index(targets, b.Target) })
	for _, s := range order(rs, func(r bench.Result) string { return r.Scenario }, bench.ScenarioNames) {
		for _, r := range rs {
			if r.Scenario == s {
				fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %.0f | %.2f | %.2f | %.2f | %d |", r.Scenario, r.Target, r.Concurrency, r.PerSecond, r.RequestsPerSecond, r.P50ms, r.P90ms, r.P99ms, r.Errors)
				switch {
				case counter == "":
				case r.Counter == counter:
					fmt.Fprintf(&b, " %.2f |", r.CounterPerIteration)
				default:
					b.WriteString(" — |")
				}
				switch {
				case !rss:
				case r.PeakRSSMiB > 0:
					fmt.Fprintf(&b, " %.0f |", r.PeakRSSMiB)
				default:
					b.WriteString(" — |")
				}
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

// perCore says, for each target that ran password-login, its best rate
// of password sign-ins and that rate per core of the machine (argon2id is
// CPU-bound: this is the figure to size a deployment by).
func perCore(rs []bench.Result) string {
	var b strings.Builder
	for _, tg := range order(rs, func(r bench.Result) string { return r.Target }, nil) {
		var best *bench.Result
		for i, r := range rs {
			if r.Target == tg && r.Scenario == "password-login" && r.CPUs > 0 && (best == nil || r.PerSecond > best.PerSecond) {
				best = &rs[i]
			}
		}
		if best == nil {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\n**Password sign-ins per core** (`password-login`, a real argon2id check each, the load generator on the same cores):\n\n")
		}
		fmt.Fprintf(&b, "- %s: %.0f sign-ins/s at best (concurrency %d) on %d cores, **%.0f per core**\n", tg, best.PerSecond, best.Concurrency, best.CPUs, best.PerSecond/float64(best.CPUs))
	}
	return b.String()
}

// growthLimit is how much slower a grown database may make a scenario:
// the figure must stay within 20 % of the empty database's.
const growthLimit = 0.8

// growthPair names the targets measured on grown databases (grown) and the
// target measured on an empty one they are compared with (base).
type growthPair struct {
	base  string
	grown []string
}

// growthTable compares each scenario measured on a grown database with
// the same scenario and concurrency on its pair's empty one (base).
func growthTable(rs []bench.Result, pairs []growthPair) string {
	find := func(target, scenario string, conc int) *bench.Result {
		for i, r := range rs {
			if r.Target == target && r.Scenario == scenario && r.Concurrency == conc {
				return &rs[i]
			}
		}
		return nil
	}
	var b strings.Builder
	b.WriteString("\n## Cost as data grows\n\nThe same scenarios on the database grown by `scripts/bench-prefill.sql` (token rows copied from those the server wrote, with users, sessions and consents in proportion), against the figure of the empty database named beside it (measured right before the grown one, so the machine's drift between runs does not count as growth): each must stay within 20 %.\n\n")
	b.WriteString("| scenario | concurrency | database | per second | empty database | empty per second | ratio | p99 ms | empty p99 ms | within 20 % |\n|---|--:|---|--:|---|--:|--:|--:|--:|---|\n")
	rows := 0
	var names []string
	for _, p := range pairs {
		names = append(names, p.base+"="+strings.Join(p.grown, ","))
		for _, g := range p.grown {
			for _, r := range rs {
				if r.Target != g {
					continue
				}
				e := find(p.base, r.Scenario, r.Concurrency)
				if e == nil || e.PerSecond <= 0 {
					continue
				}
				ratio := r.PerSecond / e.PerSecond
				mark := "✓"
				if ratio < growthLimit || r.Errors > 0 {
					mark = "✗"
				}
				fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %s | %.0f | %.2f | %.2f | %.2f | %s |\n", r.Scenario, r.Concurrency, g, r.PerSecond, p.base, e.PerSecond, ratio, r.P99ms, e.P99ms, mark)
				rows++
			}
		}
	}
	if rows == 0 {
		return "\n## Cost as data grows\n\nNot measured: no grown result matches its empty database's (" + strings.Join(names, "; ") + ").\n"
	}
	return b.String()
}

// order lists the distinct keys of rs, known ones first in their order.
func order(rs []bench.Result, key func(bench.Result) string, known []string) []string {
	var out []string
	for _, k := range known {
		if slices.ContainsFunc(rs, func(r bench.Result) bool { return key(r) == k }) {
			out = append(out, k)
		}
	}
	for _, r := range rs {
		if k := key(r); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

var palette = []string{"#0b5cad", "#d1495b", "#2a9d8f", "#e9a23b", "#6a4c93", "#5c677d"}

// chart draws small multiples: a panel per scenario, x = concurrency
// levels (evenly spaced), y = iterations per second from zero.
func chart(rs []bench.Result) string {
	scenarios := order(rs, func(r bench.Result) string { return r.Scenario }, bench.ScenarioNames)
	targets := order(rs, func(r bench.Result) string { return r.Target }, nil)
	var levels []int
	for _, r := range rs {
		if !slices.Contains(levels, r.Concurrency) {
			levels = append(levels, r.Concurrency)
		}
	}
	slices.Sort(levels)
	const pw, ph, pad, cols = 300, 190, 45, 3
	rows := (len(scenarios) + cols - 1) / cols
	w, h := cols*(pw+pad)+pad, rows*(ph+pad+20)+pad+20*len(targets)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif" font-size="11">`, w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`, w, h)
	for i, s := range scenarios {
		x0, y0 := pad+(i%cols)*(pw+pad), pad+(i/cols)*(ph+pad+20)
		max := 0.0
		for _, r := range rs {
			if r.Scenario == s && r.PerSecond > max {
				max = r.PerSecond
			}
		}
		if max == 0 {
			max = 1
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s (per second)</text>`, x0, y0-8, html.EscapeString(s))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#ccc"/>`, x0, y0, pw, ph)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%.0f</text><text x="%d" y="%d" text-anchor="end">0</text>`, x0-4, y0+10, max, x0-4, y0+ph)
		xs := func(c int) float64 {
			if len(levels) == 1 {
				return float64(x0 + pw/2)
			}
			return float64(x0) + 15 + float64(slices.Index(levels, c))*float64(pw-30)/float64(len(levels)-1)
		}
		for _, c := range levels {
			fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">%d</text>`, xs(c), y0+ph+14, c)
		}
		for ti, tg := range targets {
			var pts []string
			for _, c := range levels {
				for _, r := range rs {
					if r.Scenario == s && r.Target == tg && r.Concurrency == c {
						pts = append(pts, fmt.Sprintf("%.1f,%.1f", xs(c), float64(y0+ph)-r.PerSecond/max*float64(ph-10)))
					}
				}
			}
			if len(pts) > 0 {
				color := palette[ti%len(palette)]
				fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.Join(pts, " "), color)
				for _, p := range pts {
					xy := strings.Split(p, ",")
					fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`, xy[0], xy[1], color)
				}
			}
		}
	}
	ly := rows*(ph+pad+20) + pad
	for ti, tg := range targets {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`, pad, ly+ti*20, palette[ti%len(palette)], pad+18, ly+ti*20+10, html.EscapeString(tg))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">x: concurrency · y: iterations per second</text></svg>`, w/2, h-6)
	return b.String()
}
