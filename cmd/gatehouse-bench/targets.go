package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/bench"
)

// A goal is one of the targets gatehouse set itself against its peers: the
// base system's median rate at least min times a peer's, or, with a
// counter, the base's median server counter per iteration at most max. A
// goal holds at every concurrency measured.
type goal struct {
	what              string
	scenario, variant string
	peer              string
	min               float64
	counter           string
	max               float64
}

// goals are gatehouse's targets (the benchmark issue's), read against one
// make bench-compare run; they live here, in the output, never as timed
// assertions in tests.
var goals = []goal{
	{what: "client_credentials, opaque: ≥ 10× Hydra", scenario: "client-credentials", variant: "opaque", peer: "hydra", min: 10},
	{what: "client_credentials, opaque: ahead of node-oidc-provider (in memory)", scenario: "client-credentials", variant: "opaque", peer: "node-oidc-provider", min: 1},
	{what: "client_credentials, opaque: ≥ 75 % of pgbench's insert+select", scenario: "client-credentials", variant: "opaque", peer: "pgbench-insert-select", min: 0.75},
	{what: "client_credentials, JWT: ≥ 30× Hydra", scenario: "client-credentials", variant: "jwt", peer: "hydra", min: 30},
	{what: "client_credentials, JWT: ≥ 3× node-oidc-provider", scenario: "client-credentials", variant: "jwt", peer: "node-oidc-provider", min: 3},
	{what: "introspection: ≥ 3× Hydra", scenario: "introspect", variant: "opaque", peer: "hydra", min: 3},
	{what: "introspection: ≥ 1.5× node-oidc-provider", scenario: "introspect", variant: "opaque", peer: "node-oidc-provider", min: 1.5},
	{what: "authorization-code flow: ≥ 5× Hydra", scenario: "authcode", variant: "opaque", peer: "hydra", min: 5},
	{what: "authorization-code flow: ≤ 12 SQL statements per login", scenario: "authcode", variant: "opaque", counter: "gatehouse_sql_statements_total", max: 12},
}

// targetsTable reads each goal at every concurrency measured, then the
// errors of the base system, and says which goals are met.
func targetsTable(rs []bench.Result, base string, gs []goal) string {
	m := collect(rs)
	var levels []int
	for _, k := range m.keys {
		if !slices.Contains(levels, k.conc) {
			levels = append(levels, k.conc)
		}
	}
	slices.Sort(levels)
	var b strings.Builder
	b.WriteString("## Targets\n\nEach goal at every concurrency of the run (✓ met, ✗ missed); a peer that stalled counts as beaten.\n\n| target |")
	for _, l := range levels {
		fmt.Fprintf(&b, " concurrency %d |", l)
	}
	b.WriteString(" met |\n|---|" + strings.Repeat("--:|", len(levels)) + "---|\n")
	row := func(what string, read func(level int) (text string, measured, ok bool)) {
		fmt.Fprintf(&b, "| %s |", what)
		var missed []string
		measured := 0
		for _, l := range levels {
			text, has, ok := read(l)
			switch {
			case !has:
				b.WriteString(" — |")
				continue
			case ok:
				fmt.Fprintf(&b, " %s ✓ |", text)
			default:
				fmt.Fprintf(&b, " %s ✗ |", text)
				missed = append(missed, fmt.Sprint(l))
			}
			measured++
		}
		switch {
		case measured == 0:
			b.WriteString(" not measured |\n")
		case len(missed) == 0:
			b.WriteString(" yes |\n")
		default:
			fmt.Fprintf(&b, " no (concurrency %s) |\n", strings.Join(missed, ", "))
		}
	}
	for _, g := range gs {
		row(g.what, func(l int) (string, bool, bool) {
			cs := m.cells[cellKey{g.scenario, g.variant, l}]
			bc := cs[base]
			if bc == nil {
				return "", false, false
			}
			if g.counter != "" {
				if bc.counter != g.counter || len(bc.perIteration) == 0 {
					return "", false, false
				}
				v := median(bc.perIteration)
				return fmt.Sprintf("%.1f", v), true, v <= g.max
			}
			pc := cs[g.peer]
			switch {
			case pc == nil:
				return "", false, false
			case pc.stalled() && !bc.stalled():
				return "∞ (peer stalled)", true, true
			case median(pc.perSecond) < 1:
				return "", false, false
			}
			r := median(bc.perSecond) / median(pc.perSecond)
			return fmt.Sprintf("%.2f×", r), true, r >= g.min
		})
	}
	row("zero errors in every scenario ("+base+")", func(l int) (string, bool, bool) {
		var errs int64
		has := false
		for k, cs := range m.cells {
			if c := cs[base]; k.conc == l && c != nil {
				errs += c.errors
				has = true
			}
		}
		return fmt.Sprintf("%d errors", errs), has, errs == 0
	})
	return b.String()
}
