package cuesrc

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/ir"
)

// Ext is the file name extension this front end reads.
const Ext = ".cue"

// Files returns the paths of the *.cue files under fsys's root, sorted,
// skipping directories and files whose names start with "." and cue.mod
// directories (a CUE module's metadata, not campaigns).
func Files(fsys fs.FS) ([]string, error) {
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && (strings.HasPrefix(d.Name(), ".") || d.IsDir() && d.Name() == "cue.mod") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(p, Ext) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s files: %w", Ext, err)
	}
	sort.Strings(files)
	return files, nil
}

// Load reads every *.cue file of fsys as one CUE package, evaluates it and
// returns the objects it declares. As long as the files parse and evaluate it
// goes on past errors, so one run reports every object's problems; the Config
// then holds what could be read.
func Load(fsys fs.FS) (cfg *ir.Config, ds diag.Diagnostics) {
	l := &loader{fsys: fsys, src: newSources(), cfg: &ir.Config{}, reported: map[string]bool{}}
	defer func() {
		// The CUE evaluator is a large dependency; if it panics on some input,
		// the user gets a diagnostic instead of a crash. The fuzz target treats
		// this diagnostic as a failure, so such inputs are found and reported.
		if r := recover(); r != nil {
			cfg = l.cfg
			ds = append(l.diags, diag.Errorf(l.src.fileStart(), "%s: %v", internalError, r))
		}
	}()
	l.load()
	return l.cfg, l.diags
}

// internalError starts the summary of the diagnostic that replaces a panic.
const internalError = "internal error while evaluating the CUE files"

type loader struct {
	fsys  fs.FS
	src   *sources
	cfg   *ir.Config
	diags diag.Diagnostics
	// reported holds the place and text of every diagnostic made from a CUE
	// error: the same conflict surfaces in validation and again when the value
	// is read.
	reported map[string]bool
}

func (l *loader) load() {
	names, err := Files(l.fsys)
	if err != nil {
		l.diags = append(l.diags, diag.Diagnostic{Severity: diag.Error, Summary: err.Error()})
		return
	}
	if len(names) == 0 {
		return
	}
	files := l.parse(names)
	if files == nil || l.diags.HasErrors() {
		// Evaluating the files that did parse would report every reference into
		// a broken file as a second, misleading error.
		return
	}
	inst := l.instance(files)
	if inst == nil {
		return
	}
	v := cuecontext.New().BuildInstance(inst)
	// Err of the package reports errors anywhere in it, such as a conflict in
	// one object; Validate finds the rest. Neither stops the walk: the other
	// objects are still worth checking, and reading an attribute that holds an
	// error reports nothing new (errors are reported once).
	if err := v.Err(); err != nil {
		l.cueError(err, nil)
	}
	if err := v.Validate(); err != nil {
		l.cueError(err, nil)
	}
	l.walk(v)
}

// parse reads and parses every file, reporting every syntax error of every file.
func (l *loader) parse(names []string) []*ast.File {
	var files []*ast.File
	for _, name := range names {
		data, err := fs.ReadFile(l.fsys, name)
		if err != nil {
			l.diags = append(l.diags, diag.Diagnostic{Severity: diag.Error, Summary: fmt.Sprintf("cannot read %s: %v", name, err)})
			continue
		}
		sf := l.src.add(name, data)
		if !utf8.Valid(data) {
			l.errorAt(sf.lines.Range(name, 0, 0), "%s is not UTF-8 text", name)
			continue
		}
		f, err := parser.ParseFile(name, data, parser.ParseComments)
		if err != nil {
			// A file that does not parse stops the compiler after loading
			// (diag.Syntax): checking the others would report references
			// to what it declares as unknown.
			before := len(l.diags)
			l.cueError(err, nil)
			for i := before; i < len(l.diags); i++ {
				l.diags[i].Syntax = true
			}
			continue
		}
		l.src.index(f.Decls, nil, nil)
		files = append(files, f)
	}
	return files
}

// instance makes one build instance of all files, whatever their directory:
// the campaigns tree is one namespace, as it is for HCL.
func (l *loader) instance(files []*ast.File) *build.Instance {
	inst := build.NewContext().NewInstance("", nil)
	// @embed reads files through the position's FS location, and only inside a
	// module: the tree is presented as the root of a module of its own, so an
	// embedded path cannot leave it. SetFSLoc is what cue/load itself does for
	// a virtual file system; TestEmbed fails if a CUE upgrade changes that.
	inst.Module = "campaigns.local@v0"
	inst.Root = "/"
	var pkg, pkgFile string
	ok := true
	for _, f := range files {
		name := f.Filename
		if p := f.PackageName(); p != "" && p != "_" {
			switch {
			case pkg == "":
				pkg, pkgFile = p, name
			case p != pkg:
				r, _ := l.src.node(packageClause(f))
				l.errorAt(r, "package %s differs from package %s of %s", p, pkg, pkgFile).Detail =
					"All .cue files of a campaigns tree form one package; give them the same package clause, or none."
				ok = false
				continue
			}
		}
		for spec := range f.ImportSpecs() {
			if p, err := strconv.Unquote(spec.Path.Value); err == nil && strings.Contains(strings.Split(p, "/")[0], ".") {
				r, _ := l.src.node(spec.Path)
				l.errorAt(r, "cannot import %s: a campaigns tree may import only CUE's standard library", p).Detail =
					"All .cue files of the tree form one package, without a CUE module around it. Standard packages such as strings, list and math are fine; copy the definitions you need from other modules into the tree."
				ok = false
			}
		}
		f.Pos().File().SetFSLoc(token.FSLoc{FS: l.fsys, Path: name})
		if err := inst.AddSyntax(f); err != nil {
			l.cueError(err, nil)
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return inst
}

func packageClause(f *ast.File) ast.Node {
	for _, d := range f.Decls {
		if p, ok := d.(*ast.Package); ok {
			return p
		}
	}
	return f
}

// errorAt records an error diagnostic and returns it for a Detail.
func (l *loader) errorAt(r ir.Range, format string, args ...any) *diag.Diagnostic {
	l.diags = append(l.diags, diag.Errorf(r, format, args...))
	return &l.diags[len(l.diags)-1]
}

// cueError reports each error of a CUE error list at its position, or at
// fallback (or the first file) when CUE gives none in the tree. Positions that
// contributed to a conflict are listed in the detail.
func (l *loader) cueError(err error, fallback *ir.Range) {
	for _, e := range cueerrors.Errors(err) {
		// Error, unlike Msg, includes the path and any wrapped cause
		// ("@embed: cannot refer to parent directory").
		summary := e.Error()
		var subject ir.Range
		found := false
		if r, ok := l.src.point(e.Position()); ok {
			subject, found = r, true
		}
		var others []string
		for _, p := range e.InputPositions() {
			r, ok := l.src.point(p)
			switch {
			case !ok:
			case !found:
				subject, found = r, true
			case r.Start != subject.Start || r.Filename != subject.Filename:
				others = append(others, r.String())
			}
		}
		if !found {
			if fallback != nil {
				subject = *fallback
			} else {
				subject = l.src.fileStart()
			}
		}
		key := fmt.Sprintf("%s\x00%d\x00%s", subject.Filename, subject.Start.Byte, summary)
		if l.reported[key] {
			continue
		}
		l.reported[key] = true
		d := l.errorAt(subject, "%s", summary)
		if others = dedupe(others); len(others) > 0 {
			d.Detail = "Also involved: " + strings.Join(others, ", ") + "."
		}
	}
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	out := list[:0]
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// located is where an attribute's value is written.
type located struct {
	rng   ir.Range   // the expression, or the best place known
	expr  ast.Expr   // the expression, if known
	field *ast.Field // the field that sets it, if known
}

// locate finds where the value v at path is written, falling back to
// fallback (the enclosing object) when CUE knows nothing.
func (l *loader) locate(path []string, v cue.Value, fallback ir.Range) located {
	var loc located
	switch src := v.Source().(type) {
	case *ast.Field:
		loc.field, loc.expr = src, src.Value
	case ast.Expr:
		loc.expr = src
	}
	if loc.field == nil {
		if e := l.src.lookup(path); e != nil {
			loc.field = e.field
			if loc.expr == nil {
				loc.expr = e.field.Value
			}
		}
	}
	var ok bool
	if loc.rng, ok = l.src.node(loc.expr); ok {
		return loc
	}
	if loc.field != nil {
		if loc.rng, ok = l.src.label(loc.field); ok {
			return loc
		}
	}
	if loc.rng, ok = l.src.point(v.Pos()); ok {
		return loc
	}
	loc.rng = fallback
	return loc
}

// name returns an object's or field's name with the range of its label.
func (l *loader) name(path []string, v cue.Value, fallback ir.Range) (ir.Name, ir.Range) {
	n := ir.Name{Value: path[len(path)-1]}
	var decl ir.Range
	if e := l.src.lookup(path); e != nil {
		if r, ok := l.src.label(e.field); ok {
			n.Range, decl = r, r
			if e.parent != nil {
				if d, ok := l.src.span(e.parent.Label.Pos(), e.field.Label.End()); ok {
					decl = d
				}
			}
			return n, decl
		}
	}
	if f, ok := v.Source().(*ast.Field); ok {
		if r, ok := l.src.label(f); ok {
			return ir.Name{Value: n.Value, Range: r}, r
		}
	}
	if r, ok := l.src.point(v.Pos()); ok {
		return ir.Name{Value: n.Value, Range: r}, r
	}
	n.Range = fallback
	return n, fallback
}

// embedded returns the file an @embed(file=...) attribute of f names, as a path
// in the tree, and the attribute's range.
func (l *loader) embedded(f *ast.Field) (string, ir.Range, bool) {
	if f == nil {
		return "", ir.Range{}, false
	}
	for _, a := range f.Attrs {
		key, body := a.Split()
		if key != "embed" {
			continue
		}
		for _, arg := range strings.Split(body, ",") {
			k, v, found := strings.Cut(strings.TrimSpace(arg), "=")
			if !found || strings.TrimSpace(k) != "file" {
				continue
			}
			v = strings.Trim(strings.TrimSpace(v), `"`)
			r, ok := l.src.node(a)
			if !ok {
				return "", ir.Range{}, false
			}
			return path.Join(path.Dir(r.Filename), v), r, true
		}
	}
	return "", ir.Range{}, false
}
