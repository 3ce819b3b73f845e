package money_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// moneyPackages are the packages on a money path: amounts flow through
// them from a price to an invoice, a payment and its JSON.
var moneyPackages = []string{"money", "invoice", "rates", "gateway", "api", "store"}

// floatNames are the identifiers that would bring a float into a money path.
var floatNames = map[string]bool{
	"float32": true, "float64": true, "ParseFloat": true, "NewFromFloat": true,
	"NewFromFloat32": true, "Float64": true, "InexactFloat64": true, "NewFromFloatWithExponent": true,
}

// TestNoFloatOnMoneyPaths proves that no non-test source file of a money
// package mentions a float type or a float conversion.
func TestNoFloatOnMoneyPaths(t *testing.T) {
	for _, pkg := range moneyPackages {
		dir := filepath.Join("..", pkg)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("read %s: %v", dir, err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			path := filepath.Join(dir, name)
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatalf("parse %s: %v", path, err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && floatNames[id.Name] {
					t.Errorf("%s: %s on a money path", fset.Position(id.Pos()), id.Name)
				}
				return true
			})
		}
	}
}

// TestNoFloatCheckCatchesFloats makes sure the check above can fail.
func TestNoFloatCheckCatchesFloats(t *testing.T) {
	src := "package p\nfunc f(x float64) float64 { return x }\n"
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	ast.Inspect(f, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && floatNames[id.Name] {
			found++
		}
		return true
	})
	if found != 2 {
		t.Fatalf("want 2 floats found, have %d", found)
	}
}
