package sqlstore

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// dialectTypes are the only words in which the two migration sets may
// differ: PostgreSQL's type on the left, SQLite's on the right.
var dialectTypes = map[string]string{"BYTEA": "BLOB"}

var word = regexp.MustCompile(`\b[A-Z]+\b`)

// TestMigrationsOneSource: the SQLite migrations are the PostgreSQL ones
// with the dialect's types swapped, file for file and line for line, so a
// schema change cannot reach one database and miss the other.
func TestMigrationsOneSource(t *testing.T) {
	pg, err := fs.ReadDir(migrations, "migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	lite, err := fs.ReadDir(migrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) != len(lite) || len(pg) == 0 {
		t.Fatalf("%d PostgreSQL migrations, %d SQLite ones", len(pg), len(lite))
	}
	for i, e := range pg {
		if lite[i].Name() != e.Name() {
			t.Fatalf("migration %d: %s for PostgreSQL, %s for SQLite", i+1, e.Name(), lite[i].Name())
		}
		p, _ := fs.ReadFile(migrations, "migrations/postgres/"+e.Name())
		s, _ := fs.ReadFile(migrations, "migrations/sqlite/"+e.Name())
		want := word.ReplaceAllStringFunc(string(p), func(w string) string {
			if v, ok := dialectTypes[w]; ok {
				return v
			}
			return w
		})
		if want != string(s) {
			wl, sl := strings.Split(want, "\n"), strings.Split(string(s), "\n")
			for j := 0; j < len(wl) || j < len(sl); j++ {
				var a, b string
				if j < len(wl) {
					a = wl[j]
				}
				if j < len(sl) {
					b = sl[j]
				}
				if a != b {
					t.Errorf("%s line %d:\n  PostgreSQL (as SQLite): %s\n  SQLite:                  %s", e.Name(), j+1, a, b)
					break
				}
			}
		}
	}
}
