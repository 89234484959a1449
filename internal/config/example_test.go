package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestExample: the example configuration loads strictly and says the
// defaults (its values are Default()'s); uncommenting every key gives a
// file that still loads strictly and names every key of Config.
func TestExample(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "example.yaml")
	if err := os.WriteFile(path, []byte(Example()), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	if want := Default(); !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Errorf("the example's values are not the defaults:\n got %+v\nwant %+v", got, want)
	}

	// Uncomment the commented-out keys (lines "# key: …" or "#   - …" in a
	// block), dropping the empty stand-ins they replace.
	commented := regexp.MustCompile(`^(\s*)# ((?:[a-z_]+:(?: |$)|- |  ).*)$`)
	var full []string
	for _, line := range strings.Split(Example(), "\n") {
		if m := commented.FindStringSubmatch(line); m != nil && !strings.HasPrefix(strings.TrimSpace(m[2]), "A ") {
			full = append(full, m[1]+m[2])
			continue
		}
		full = append(full, line)
	}
	text := strings.Replace(strings.Join(full, "\n"), "  connectors: []\n", "", 1)
	var tree map[string]any
	if err := yaml.Unmarshal([]byte(text), &tree); err != nil {
		t.Fatalf("the example with every key uncommented is not YAML: %v\n%s", err, text)
	}
	full2 := filepath.Join(dir, "full.yaml")
	if err := os.WriteFile(full2, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(full2, func(string) string { return "" }); err != nil {
		t.Fatalf("the example with every key uncommented does not load: %v", err)
	}
	for _, p := range keyPaths(reflect.TypeOf(Config{}), "") {
		if !hasPath(tree, strings.Split(p, ".")) {
			t.Errorf("the example does not mention %s", p)
		}
	}
}

// normalize makes nil and empty slices alike.
func normalize(c Config) Config {
	for _, s := range []*[]string{&c.Secrets, &c.TrustedProxies, &c.Registration.AllowedScopes, &c.Registration.AllowedGrantTypes, &c.Authn.WebAuthnOrigins} {
		if len(*s) == 0 {
			*s = nil
		}
	}
	if len(c.Federation.Connectors) == 0 {
		c.Federation.Connectors = nil
	}
	return c
}

// keyPaths lists the YAML paths of a struct type's fields ("lifetimes.id_token").
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		p := prefix + name
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Duration{}) && ft != reflect.TypeOf(yaml.Node{}) {
			out = append(out, keyPaths(ft, p+".")...)
			continue
		}
		out = append(out, p)
	}
	return out
}

func hasPath(tree any, path []string) bool {
	if len(path) == 0 {
		return true
	}
	switch v := tree.(type) {
	case map[string]any:
		next, ok := v[path[0]]
		return ok && hasPath(next, path[1:])
	case []any:
		return len(v) > 0 && hasPath(v[0], path)
	}
	return false
}
