package archtest

import (
	"go/types"
	"strings"
	"testing"

	gopackages "golang.org/x/tools/go/packages"
)

// Size limits (issue 16): outside storage, no exported type with more than
// maxMethods methods and no interface with more than maxInterface (consumers
// take the small interfaces they use). storage declares the interfaces by
// aggregate and their union, and sqlstore.Store implements all of them.
const (
	maxMethods   = 25
	maxInterface = 12
)

// TestSizes fails when a type grows into a room of its own again.
func TestSizes(t *testing.T) {
	pkgs, err := gopackages.Load(&gopackages.Config{Mode: gopackages.NeedName | gopackages.NeedTypes}, module+"/...")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range pkgs {
		for _, e := range p.Errors {
			t.Fatalf("%s: %v", p.PkgPath, e)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.PkgPath, module), "/")
		if strings.HasSuffix(rel, "test") { // test helpers (storagetest, federationtest, apptest)
			continue
		}
		scope := p.Types.Scope()
		for _, name := range scope.Names() {
			tn, ok := scope.Lookup(name).(*types.TypeName)
			if !ok || tn.IsAlias() {
				continue
			}
			checked++
			if rel == "storage" || strings.HasPrefix(rel, "storage/") {
				continue
			}
			if it, ok := tn.Type().Underlying().(*types.Interface); ok {
				if n := it.NumMethods(); n > maxInterface {
					t.Errorf("interface %s.%s has %d methods (at most %d outside storage): take the narrow interfaces it is made of", rel, name, n, maxInterface)
				}
				continue
			}
			if n := types.NewMethodSet(types.NewPointer(tn.Type())).Len(); tn.Exported() && n > maxMethods {
				t.Errorf("type %s.%s has %d methods (at most %d): split it by what its parts do", rel, name, n, maxMethods)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d types checked", checked)
	}
}
