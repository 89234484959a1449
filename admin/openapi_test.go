package admin

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"
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

func TestNewKey(t *testing.T) {
	if _, _, err := NewKey("", []string{RoleAdmin}, timeZero); err == nil {
		t.Error("nameless key")
	}
	if _, _, err := NewKey("x", nil, timeZero); err == nil {
		t.Error("key without roles")
	}
	if _, _, err := NewKey("x", []string{"root"}, timeZero); err == nil {
		t.Error("unknown role accepted")
	}
	plain, k, err := NewKey("x", []string{RoleUsersRead}, timeZero)
	if err != nil || !strings.HasPrefix(plain, KeyPrefix+k.ID+"_") || len(plain) < 50 || len(k.Hash) != 32 || strings.Contains(string(k.Hash), plain) {
		t.Fatalf("NewKey = %q %+v %v", plain, k, err)
	}
	for _, c := range []struct {
		roles []string
		need  string
		want  bool
	}{
		{[]string{RoleAdmin}, RoleUsersWrite, true},
		{[]string{RoleUsersWrite}, RoleUsersRead, true},
		{[]string{RoleUsersRead}, RoleUsersWrite, false},
		{[]string{RoleClientsWrite}, RoleUsersRead, false},
		{[]string{RoleClientsRead}, RoleAdmin, false},
	} {
		if got := allows(c.roles, c.need); got != c.want {
			t.Errorf("allows(%v, %s) = %v", c.roles, c.need, got)
		}
	}
}

var timeZero = time.Time{}
