package yaegitest

import (
	"sort"
	"testing"
)

// TestYaegiPackageTests is `yaegi test` of package plugin: Yaegi interprets
// the package together with its _test.go files (stdlib symbols only, as in
// Traefik) and each interpreted Test function runs as a subtest here. It
// catches code that compiles but that Yaegi runs differently.
func TestYaegiPackageTests(t *testing.T) {
	goPath, err := sharedGoPath()
	if err != nil {
		t.Fatalf("building gopath: %v", err)
	}
	i, err := newInterpreter(goPath)
	if err != nil {
		t.Fatal(err)
	}
	const pkg = moduleName + "/plugin"
	if err := i.EvalTest(pkg); err != nil {
		t.Fatalf("yaegi: evaluating %s with its tests: %v", pkg, err)
	}
	syms := i.Symbols(pkg)[pkg]
	var names []string
	for name, v := range syms {
		if _, ok := v.Interface().(func(*testing.T)); ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatalf("yaegi found no tests in %s (symbols: %d)", pkg, len(syms))
	}
	for _, name := range names {
		fn := syms[name].Interface().(func(*testing.T))
		t.Run(name, fn)
	}
}
