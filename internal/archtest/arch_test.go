// Package archtest keeps the shape of the module: which packages may
// import which (DESIGN.md's dependency rules).
package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/gatehouse-id/gatehouse"

type pkg struct {
	ImportPath string
	Imports    []string // direct, non-test imports
}

func packages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var list []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		list = append(list, p)
	}
	return list
}

// rule forbids packages under from to import what matches any of deny.
type rule struct {
	why  string
	from []string // import path prefixes, relative to the module ("" is the whole module)
	deny []string // import path prefixes (absolute for other modules, "./x" within this one)
	// except are imports allowed in spite of deny.
	except []string
}

func (r rule) applies(path string) bool {
	for _, f := range r.from {
		p := module
		if f != "" {
			p += "/" + f
		}
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

func (r rule) denies(imp string) bool {
	for _, e := range r.except {
		if imp == expand(e) {
			return false
		}
	}
	for _, d := range r.deny {
		d = expand(d)
		if imp == d || strings.HasPrefix(imp, d+"/") {
			return true
		}
	}
	return false
}

func expand(p string) string {
	if rest, ok := strings.CutPrefix(p, "./"); ok {
		return module + "/" + rest
	}
	return p
}

var rules = []rule{
	{why: "storage knows no protocol: no fosite, no HTTP", from: []string{"storage"}, deny: []string{"github.com/ory/fosite", "net/http"}},
	{why: "sign-in and account pages never reach into the protocol (only the provider/interaction seam)", from: []string{"consent", "account", "authn"},
		deny: []string{"./provider"}, except: []string{"./provider/interaction"}},
	{why: "federation and keys render no HTML and send no SQL", from: []string{"federation", "keys"},
		deny: []string{"html/template", "./templates", "database/sql", "./storage/sqlstore"}},
	{why: "the operator service and the admin API run operations, not the protocol or the sign-in pages", from: []string{"internal/ops", "admin"},
		deny: []string{"github.com/ory/fosite", "github.com/go-webauthn", "./provider", "./consent", "./storage/sqlstore"}},
	{why: "client registration rules and password hashing stand alone (the CLI, the admin API and the pages share them)",
		from: []string{"internal/clientspec", "authn/password"}, deny: []string{"github.com/ory/fosite", "github.com/go-webauthn", "./provider", "./consent"}},
	{why: "a sign-in step knows nothing of the flow engine that drives it, nor of the pages", from: []string{"authn"},
		deny: []string{"./consent", "./account", "./internal/ops", "html/template", "net/http", "./templates"}},
	{why: "nothing imports a command", from: []string{""}, deny: []string{"./cmd"}},
	{why: "the account pages reach the sign-in flow only through its SignIn (no import of the engine)", from: []string{"account"}, deny: []string{"./consent"}},
	{why: "the protocol, the pages and the stores do not assemble the server", from: []string{"provider", "consent", "account", "authn", "storage", "keys", "federation",
		"templates", "internal/web", "internal/ops", "internal/clientspec"},
		deny: []string{"./internal/app", "./admin"}},
}

// TestDependencyRules fails when a package imports what DESIGN.md's rules
// forbid. Test files are not checked (they may wire anything).
func TestDependencyRules(t *testing.T) {
	list := packages(t)
	if len(list) < 10 {
		t.Fatalf("go list found %d packages", len(list))
	}
	for _, p := range list {
		for _, r := range rules {
			if !r.applies(p.ImportPath) {
				continue
			}
			for _, imp := range p.Imports {
				if r.denies(imp) {
					t.Errorf("%s imports %s: %s", strings.TrimPrefix(p.ImportPath, module+"/"), imp, r.why)
				}
			}
		}
	}
}

// TestRulesBite: each rule catches the import it is about.
func TestRulesBite(t *testing.T) {
	for _, c := range []struct {
		from, imp string
		want      bool
	}{
		{module + "/storage/sqlstore", "github.com/ory/fosite", true},
		{module + "/storage", "net/http", true},
		{module + "/consent", module + "/provider", true},
		{module + "/consent", module + "/provider/interaction", false},
		{module + "/keys", "database/sql", true},
		{module + "/federation/oidc", "html/template", true},
		{module + "/provider", module + "/cmd/gatehouse", true},
		{module + "/provider", module + "/internal/app", true},
		{module + "/internal/app", module + "/provider", false},
		{module + "/internal/ops", module + "/provider", true},
		{module + "/admin", "github.com/ory/fosite", true},
		{module + "/internal/clientspec", "github.com/ory/fosite", true},
		{module + "/authn/password", "github.com/go-webauthn/webauthn/webauthn", true},
		{module + "/authn/password", module + "/provider", true},
		{module + "/authn/totp", module + "/consent", true},
		{module + "/authn/backup", "net/http", true},
		{module + "/account", module + "/consent", true},
		{module + "/internal/ops", module + "/internal/app", true},
		{module + "/internal/web", module + "/admin", true},
	} {
		got := false
		for _, r := range rules {
			if r.applies(c.from) && r.denies(c.imp) {
				got = true
			}
		}
		if got != c.want {
			t.Errorf("%s importing %s: denied %v, want %v", c.from, c.imp, got, c.want)
		}
	}
}
