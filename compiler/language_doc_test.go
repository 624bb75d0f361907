package compiler_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// The language manual, docs/language.md, shows every kind in HCL and in CUE
// side by side. Its fenced blocks are tagged with the project they belong to
// (```hcl project=shop, ```cue project=shop): all blocks of one project and
// language, each as a file of its own, make one campaigns tree. Each tree must
// compile without an error or a warning, and a project's HCL and CUE trees
// must give byte-identical plans, so the manual cannot drift from the
// compiler nor its two columns from each other. A block that is only a
// fragment says so (```hcl fragment) and is not compiled; every other hcl or
// cue block must name its project.

const languageDoc = "../docs/language.md"

type docBlock struct {
	lang, project string
	line          int
	text          string
}

func docBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out  []docBlock
		cur  *docBlock
		text strings.Builder
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if cur == nil {
			info, ok := strings.CutPrefix(line, "```")
			if !ok {
				continue
			}
			words := strings.Fields(info)
			if len(words) == 0 || (words[0] != "hcl" && words[0] != "cue") {
				cur = &docBlock{line: n} // another language: skipped, but its fence must close
				continue
			}
			cur = &docBlock{lang: words[0], line: n}
			for _, w := range words[1:] {
				switch {
				case w == "fragment":
					cur.project = "-"
				case strings.HasPrefix(w, "project="):
					cur.project = strings.TrimPrefix(w, "project=")
				default:
					t.Errorf("%s:%d: unknown word %q in the info string (want project=NAME or fragment)", path, n, w)
				}
			}
			if cur.project == "" {
				t.Errorf("%s:%d: a ```%s block must say project=NAME (compiled) or fragment (not compiled)", path, n, cur.lang)
			}
			text.Reset()
			continue
		}
		if strings.HasPrefix(line, "```") {
			if cur.lang != "" {
				cur.text = text.String()
				out = append(out, *cur)
			}
			cur = nil
			continue
		}
		text.WriteString(line)
		text.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: the code block is not closed", path, cur.line)
	}
	return out
}

func TestLanguageManualCompiles(t *testing.T) {
	blocks := docBlocks(t, languageDoc)
	trees := map[string]fstest.MapFS{} // project/lang → files
	for _, b := range blocks {
		if b.project == "" || b.project == "-" {
			continue
		}
		key := b.project + "/" + b.lang
		if trees[key] == nil {
			trees[key] = fstest.MapFS{}
		}
		// The file is named after the block's line, so a diagnostic points
		// into the manual: language.md-120.hcl:3:5 is line 123 of the manual.
		name := fmt.Sprintf("language.md-%d.%s", b.line+1, b.lang)
		trees[key][name] = &fstest.MapFile{Data: []byte(b.text)}
	}
	projects := map[string]bool{}
	for key := range trees {
		projects[strings.Split(key, "/")[0]] = true
	}
	if len(projects) == 0 {
		t.Fatalf("%s has no compiled code blocks", languageDoc)
	}
	names := make([]string, 0, len(projects))
	for p := range projects {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, project := range names {
		t.Run(project, func(t *testing.T) {
			encoded := map[string][]byte{}
			for _, lang := range []string{"hcl", "cue"} {
				fsys, ok := trees[project+"/"+lang]
				if !ok {
					t.Errorf("project %s has no %s blocks: the manual shows every example in both languages", project, lang)
					continue
				}
				p, ds := compiler.Compile(fsys, compiler.Options{})
				if len(ds) > 0 || p == nil {
					var text bytes.Buffer
					_ = diag.WriteText(&text, ds, diag.ReadSources(fsys, ds))
					t.Fatalf("the %s blocks of project %s do not compile cleanly (a file language.md-N is the block whose first line is line N of %s):\n%s", lang, project, languageDoc, text.String())
				}
				b, err := plan.Encode(p)
				if err != nil {
					t.Fatal(err)
				}
				encoded[lang] = b
			}
			if h, c := encoded["hcl"], encoded["cue"]; h != nil && c != nil && !bytes.Equal(h, c) {
				t.Errorf("project %s: the HCL and CUE blocks give different plans\n--- HCL:\n%s\n--- CUE:\n%s", project, h, c)
			}
		})
	}
}
