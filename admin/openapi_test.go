package admin

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/ops"
)

// TestOpenAPIMatchesRoutes: every route is documented with its role, and
// every documented operation is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]string{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var op struct {
				Role string `json:"x-gatehouse-role"`
			}
			_ = json.Unmarshal(raw, &op)
			documented[strings.ToUpper(method)+" "+path] = op.Role
		}
	}
	var routes []string
	for _, r := range New(Options{}).Routes() {
		key := r[0] + " " + r[1]
		routes = append(routes, key)
		role, ok := documented[key]
		if !ok {
			t.Errorf("route %s is not in openapi.json", key)
		} else if role != r[2] {
			t.Errorf("route %s needs %s but openapi.json says %s", key, r[2], role)
		}
		delete(documented, key)
	}
	for k := range documented {
		t.Errorf("openapi.json documents %s, which is not a route", k)
	}
	sort.Strings(routes)
	if len(routes) < 10 {
		t.Fatalf("only %d routes", len(routes))
	}
}

func TestAllows(t *testing.T) {
	for _, c := range []struct {
		roles []string
		need  string
		want  bool
	}{
		{[]string{ops.RoleAdmin}, ops.RoleUsersWrite, true},
		{[]string{ops.RoleUsersWrite}, ops.RoleUsersRead, true},
		{[]string{ops.RoleUsersRead}, ops.RoleUsersWrite, false},
		{[]string{ops.RoleClientsWrite}, ops.RoleUsersRead, false},
		{[]string{ops.RoleClientsRead}, ops.RoleAdmin, false},
	} {
		if got := allows(c.roles, c.need); got != c.want {
			t.Errorf("allows(%v, %s) = %v", c.roles, c.need, got)
		}
	}
}
