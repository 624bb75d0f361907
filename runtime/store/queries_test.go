package store

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// TestEveryNamedQueryIsUsedAndExists reads the package's Go files: every
// q("name"), prepare(ctx, "name") and inboundQueries["name"] names a query of
// queries.sql or inbound.sql (a typo would panic on first use, perhaps months
// later on a rare path), and every named query is named by some code (a
// string literal equal to its name: some are passed along before use).
func TestEveryNamedQueryIsUsedAndExists(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	used, named := map[string]bool{}, map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if b, ok := n.(*ast.BasicLit); ok && b.Kind == token.STRING {
				if v, err := strconv.Unquote(b.Value); err == nil {
					named[v] = true
				}
			}
			var lit *ast.BasicLit
			var table map[string]string
			switch x := n.(type) {
			case *ast.CallExpr:
				name := ""
				switch fn := x.Fun.(type) {
				case *ast.Ident:
					name = fn.Name
				case *ast.SelectorExpr:
					name = fn.Sel.Name
				}
				switch {
				case name == "q" && len(x.Args) == 1:
					lit, _ = x.Args[0].(*ast.BasicLit)
				case name == "prepare" && len(x.Args) == 2:
					lit, _ = x.Args[1].(*ast.BasicLit)
				}
				table = queries
			case *ast.IndexExpr:
				if id, ok := x.X.(*ast.Ident); ok && id.Name == "inboundQueries" {
					lit, _ = x.Index.(*ast.BasicLit)
					table = inboundQueries
				}
			}
			if lit == nil || lit.Kind != token.STRING {
				return true
			}
			name, _ := strconv.Unquote(lit.Value)
			if _, ok := table[name]; !ok {
				t.Errorf("%s: no query named %q", fset.Position(lit.Pos()), name)
			}
			used[name] = true
			return true
		})
	}
	for _, set := range []map[string]string{queries, inboundQueries} {
		for name := range set {
			if !named[name] {
				t.Errorf("query %q is never used: remove it, or it rots unnoticed", name)
			}
		}
	}
	if len(used) < 40 {
		t.Fatalf("found only %d uses: the scan no longer sees the call sites", len(used))
	}
}

// TestEveryNamedQueryPrepares has Postgres parse and plan every named query
// against a migrated schema, so a wrong column in a query that only a rare
// path runs fails here, not in production.
func TestEveryNamedQueryPrepares(t *testing.T) {
	db, _ := storetest.Open(t)
	st := &Store{DB: db}
	ctx := t.Context()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// The staging table the COPY path fills exists only inside its
	// transaction.
	if _, err := tx.ExecContext(ctx, queries["create-event-staging"]); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, set := range []map[string]string{queries, inboundQueries} {
		for name := range set {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		text := queries[name]
		if text == "" {
			text = inboundQueries[name]
		}
		if strings.HasPrefix(strings.TrimSpace(stripComments(text)), "COPY") {
			continue // COPY … FROM STDIN is not a statement one can prepare
		}
		if strings.Contains(text, "%s") {
			continue // DDL formatted with the partition's name and bounds: the partition tests run it
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT q"); err != nil {
			t.Fatal(err)
		}
		st, err := tx.PreparexContext(ctx, text)
		if err != nil {
			t.Errorf("query %q does not prepare: %v", name, err)
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT q"); err != nil {
				t.Fatal(err)
			}
			continue
		}
		st.Close()
	}
}

func stripComments(sql string) string {
	var b strings.Builder
	for _, l := range strings.Split(sql, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// release-paused-holds writes HeldWhilePaused as a constant (a parameter
// made Postgres plan it again on every pass): the two must stay the same
// instant.
func TestReleasePausedHoldsNamesHeldWhilePaused(t *testing.T) {
	want := "o.due_at = '" + HeldWhilePaused.UTC().Format("2006-01-02 15:04:05") + "+00'"
	if !strings.Contains(q("release-paused-holds"), want) {
		t.Fatalf("release-paused-holds does not contain %s:\n%s", want, q("release-paused-holds"))
	}
}
