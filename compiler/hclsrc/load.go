package hclsrc

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/ir"
)

// Ext is the file name extension this front end reads.
const Ext = ".hcl"

// Files returns the paths of the *.hcl files under fsys's root, sorted, skipping
// directories and files whose names start with "." (editor and VCS files).
func Files(fsys fs.FS) ([]string, error) {
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && strings.HasPrefix(d.Name(), ".") {
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

// Load reads every *.hcl file of fsys into one Config. It goes on past errors, so
// the diagnostics cover every file; the Config then holds what could be read.
// Files are parsed in parallel; fsys is only ever used by one goroutine at a
// time, so it need not be safe for concurrent use.
func Load(fsys fs.FS) (*ir.Config, diag.Diagnostics) {
	cfg := &ir.Config{}
	files, err := Files(fsys)
	if err != nil {
		return cfg, diag.Diagnostics{{Severity: diag.Error, Summary: err.Error()}}
	}
	type result struct {
		cfg   *ir.Config
		diags diag.Diagnostics
	}
	results := make([]result, len(files))
	sources := make([][]byte, len(files))
	for i, name := range files {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			results[i].diags = diag.Diagnostics{{Severity: diag.Error, Summary: fmt.Sprintf("cannot read %s: %v", name, err)}}
			continue
		}
		sources[i] = src
	}
	locked := &lockedFS{fsys: fsys}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i].cfg, results[i].diags = Parse(locked, files[i], sources[i])
			}
		}()
	}
	for i := range files {
		if sources[i] != nil {
			next <- i
		}
	}
	close(next)
	wg.Wait()
	// Merged in file order, so the Config does not depend on scheduling.
	var ds diag.Diagnostics
	for _, r := range results {
		cfg.Append(r.cfg)
		ds = append(ds, r.diags...)
	}
	return cfg, ds
}

// lockedFS serializes the reads that file() makes while files are parsed in
// parallel: an fs.FS is not promised to be safe for concurrent use.
type lockedFS struct {
	mu   sync.Mutex
	fsys fs.FS
}

func (l *lockedFS) Open(name string) (fs.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fsys.Open(name)
}

// ReadFile reads the whole file under the lock: reading from a file opened
// through Open would happen outside it.
func (l *lockedFS) ReadFile(name string) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fs.ReadFile(l.fsys, name)
}

// Parse reads one HCL file. filename is its path in fsys, which file() paths are
// relative to and read from.
func Parse(fsys fs.FS, filename string, src []byte) (*ir.Config, diag.Diagnostics) {
	p := &parser{fsys: fsys, filename: filename, src: src, lines: ir.NewLines(src), cfg: &ir.Config{}}
	p.parse()
	return p.cfg, p.diags
}

type parser struct {
	fsys     fs.FS
	filename string
	src      []byte
	lines    *ir.Lines
	cfg      *ir.Config
	diags    diag.Diagnostics
}

func (p *parser) parse() {
	if !utf8.Valid(p.src) {
		p.errorAt(p.lines.Range(p.filename, 0, 0), "%s is not UTF-8 text", p.filename)
		return
	}
	file, hd := hclsyntax.ParseConfig(p.src, p.filename, hcl.InitialPos)
	if hd.HasErrors() {
		// Only the first syntax error: HCL recovers and goes on, but what it
		// reports after an unbalanced quote or brace is mostly echoes of it
		// ("Invalid multi-line string" on every later line), and checking
		// what it recovered would add more (a template cut short, a reference
		// to a block it lost). The compiler stops after the files are read.
		p.syntaxDiag(hd)
		return
	}
	p.hclDiags(hd)
	if file == nil || file.Body == nil {
		return
	}
	content, hd := file.Body.Content(rootSchema)
	p.hclDiags(hd)
	if content == nil {
		return
	}
	for _, b := range content.Blocks {
		if len(b.Labels) != 1 {
			continue // HCL has reported the wrong label count
		}
		if k, ok := ir.LookupKind(b.Type); ok {
			p.object(k, b)
		}
	}
}

// name returns the block's label, its range narrowed to inside the quotes.
func (p *parser) name(b *hcl.Block) ir.Name {
	r := b.LabelRanges[0]
	start, end := r.Start.Byte, r.End.Byte
	if end-start >= 2 && start >= 0 && end <= len(p.src) && p.src[start] == '"' && p.src[end-1] == '"' {
		start, end = start+1, end-1
	}
	return ir.Name{Value: b.Labels[0], Range: p.lines.Range(p.filename, start, end)}
}

// file reads file("path") from the campaigns tree, relative to this .hcl file.
func (p *parser) file(attrName string, call *hclsyntax.FunctionCallExpr) *ir.String {
	rng := p.rng(call.Range())
	if len(call.Args) != 1 || call.ExpandFinal {
		p.errorAt(rng, "file() takes one argument, the path of a file relative to %s", p.filename)
		return nil
	}
	argRange := p.rng(call.Args[0].Range())
	v, hd := call.Args[0].Value(nil)
	if hd.HasErrors() {
		p.hclDiags(hd)
		return nil
	}
	if !p.checkType("the argument of file()", argRange, v, cty.String) {
		return nil
	}
	rel := v.AsString()
	target := path.Join(path.Dir(p.filename), rel)
	switch {
	case rel == "":
		p.errorAt(argRange, "file() needs a path, relative to %s", p.filename)
		return nil
	case strings.Contains(rel, `\`):
		p.errorAt(argRange, "file(%q): use forward slashes in paths", rel)
		return nil
	case path.IsAbs(rel) || target == ".." || strings.HasPrefix(target, "../") || !fs.ValidPath(target):
		p.errorAt(argRange, "file(%q) points outside the campaigns directory", rel).detail(
			"Paths are relative to the directory of %s and must stay inside the campaigns directory, so the tree compiles the same anywhere. Move the file into the tree.", p.filename)
		return nil
	}
	data, err := fs.ReadFile(p.fsys, target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.errorAt(argRange, "file(%q): %s does not exist", rel, target).detail(
			"Paths are relative to the directory of %s.", p.filename)
		return nil
	case err != nil:
		p.errorAt(argRange, "file(%q): cannot read %s: %v", rel, target, err)
		return nil
	case !utf8.Valid(data):
		p.errorAt(argRange, "file(%q): %s is not UTF-8 text", rel, target)
		return nil
	}
	fileLines := ir.NewLines(data)
	return &ir.String{
		Value: string(data),
		Range: rng,
		Spans: []ir.Span{{Offset: 0, Len: len(data), Source: fileLines.Range(target, 0, len(data)), Verbatim: true}},
	}
}

// rng converts an HCL range of this file. Line and column are recomputed from the
// byte offsets so every position in the IR counts columns the same way.
func (p *parser) rng(r hcl.Range) ir.Range {
	return p.lines.Range(p.filename, r.Start.Byte, r.End.Byte)
}

// pending lets a caller add a detail to the diagnostic just recorded.
type pending struct{ d *diag.Diagnostic }

func (pd pending) detail(format string, args ...any) { pd.d.Detail = fmt.Sprintf(format, args...) }

func (p *parser) errorAt(r ir.Range, format string, args ...any) pending {
	p.diags = append(p.diags, diag.Errorf(r, format, args...))
	return pending{&p.diags[len(p.diags)-1]}
}

// hclDiags converts HCL's diagnostics. Every one gets a subject, the file's start
// if HCL gave none, so each can be located.
// syntaxDiag reports the first syntax error of hd, saying how many more HCL
// found after it.
func (p *parser) syntaxDiag(hd hcl.Diagnostics) {
	var errs hcl.Diagnostics
	for _, h := range hd {
		if h.Severity == hcl.DiagError {
			errs = append(errs, h)
		}
	}
	first := errs[0]
	for _, h := range errs[1:] {
		if h.Subject != nil && (first.Subject == nil || h.Subject.Start.Byte < first.Subject.Start.Byte) {
			first = h
		}
	}
	p.hclDiags(hcl.Diagnostics{first})
	d := &p.diags[len(p.diags)-1]
	d.Syntax = true
	if n := len(errs) - 1; n > 0 {
		more := fmt.Sprintf("HCL reports %d more syntax errors after this one in %s, which most likely follow from it (an unbalanced quote, brace or heredoc); fix this one and run again.", n, p.filename)
		if d.Detail != "" {
			d.Detail += " " + more
		} else {
			d.Detail = more
		}
	}
}

func (p *parser) hclDiags(hd hcl.Diagnostics) {
	for _, h := range hd {
		d := diag.Diagnostic{Severity: diag.Error, Summary: h.Summary, Detail: h.Detail}
		if h.Severity == hcl.DiagWarning {
			d.Severity = diag.Warning
		}
		r := p.lines.Range(p.filename, 0, 0)
		if h.Subject != nil {
			r = p.rng(*h.Subject)
		}
		d.Subject = &r
		p.diags = append(p.diags, d)
	}
}
