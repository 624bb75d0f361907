package cuesrc_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/cuesrc"
	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/hclsrc"
	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

const twinDir = "../../testdata/cue/twin"

// TestTwinPlansIdentical compiles the same campaigns written in HCL
// (twin/hcl) and in CUE (twin/cue): the plans must be byte-identical.
func TestTwinPlansIdentical(t *testing.T) {
	encode := func(dir string) []byte {
		t.Helper()
		fsys := os.DirFS(filepath.Join(twinDir, dir))
		p, ds := compiler.Compile(fsys, compiler.Options{})
		if len(ds) > 0 || p == nil {
			var text bytes.Buffer
			_ = diag.WriteText(&text, ds, diag.ReadSources(fsys, ds))
			t.Fatalf("twin/%s does not compile cleanly:\n%s", dir, text.String())
		}
		b, err := plan.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	fromHCL, fromCUE := encode("hcl"), encode("cue")
	if !bytes.Equal(fromHCL, fromCUE) {
		t.Fatalf("plans differ\n--- from HCL:\n%s\n--- from CUE:\n%s", fromHCL, fromCUE)
	}
	// The twin must exercise the kinds, or equality proves little.
	p, err := plan.Decode(fromCUE)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Models) == 0 || len(p.Segments) == 0 || len(p.Templates) == 0 || len(p.Campaigns) == 0 {
		t.Errorf("the twin plan is missing kinds: %d models, %d segments, %d templates, %d campaigns",
			len(p.Models), len(p.Segments), len(p.Templates), len(p.Campaigns))
	}
}

// TestTwinIRValues compares the two front ends one step earlier: every value
// of the IR, ranges aside, is the same. A difference here names the attribute,
// where a plan difference may have been hidden by the checker's defaults. CEL
// expressions are compared without surrounding space, which lowering trims: a
// heredoc ends with a newline and a CUE """ string does not.
func TestTwinIRValues(t *testing.T) {
	hclCfg, ds := hclsrc.Load(os.DirFS(filepath.Join(twinDir, "hcl")))
	if len(ds) > 0 {
		t.Fatalf("hcl: %v", ds)
	}
	cueCfg, ds := cuesrc.Load(os.DirFS(filepath.Join(twinDir, "cue")))
	if len(ds) > 0 {
		t.Fatalf("cue: %v", ds)
	}
	a, b := irValues(reflect.ValueOf(hclCfg)), irValues(reflect.ValueOf(cueCfg))
	if !reflect.DeepEqual(a, b) {
		ja, _ := json.MarshalIndent(a, "", " ")
		jb, _ := json.MarshalIndent(b, "", " ")
		t.Fatalf("IR values differ\n--- HCL:\n%s\n--- CUE:\n%s", ja, jb)
	}
}

// celAttrs are the IR fields that hold CEL.
var celAttrs = map[string]bool{"Filter": true, "DefaultFilter": true, "Goal": true, "Condition": true}

var (
	rangeType = reflect.TypeOf(ir.Range{})
	spansType = reflect.TypeOf([]ir.Span(nil))
)

// irValues turns an IR value into maps, slices and scalars, leaving out every
// source range, so two front ends' output can be compared.
func irValues(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return irValues(v.Elem())
	case reflect.Struct:
		out := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Type == rangeType || f.Type == spansType {
				continue
			}
			fv := irValues(v.Field(i))
			if celAttrs[f.Name] {
				if m, ok := fv.(map[string]any); ok {
					m["Value"] = strings.TrimSpace(m["Value"].(string))
				}
			}
			out[f.Name] = fv
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = irValues(v.Index(i))
		}
		return out
	}
	return v.Interface()
}

// TestTwinPaused checks that paused reaches the plan from both front ends, on
// every kind that has it, and that paused = false is written as nothing: a plan
// without paused stays byte-identical to one from before the attribute existed.
func TestTwinPaused(t *testing.T) {
	for _, dir := range []string{"hcl", "cue"} {
		t.Run(dir, func(t *testing.T) {
			p, ds := compiler.Compile(os.DirFS(filepath.Join(twinDir, dir)), compiler.Options{})
			if len(ds) > 0 || p == nil {
				t.Fatalf("diagnostics: %v", ds)
			}
			got := map[string]bool{}
			for _, c := range p.Campaigns {
				got["campaign "+c.Name] = c.Paused
			}
			for _, w := range p.Workflows {
				got["workflow "+w.Name] = w.Paused
			}
			for _, s := range p.Sequences {
				got["sequence "+s.Name] = s.Paused
			}
			for _, a := range p.Autoresponders {
				got["autoresponder "+a.Name] = a.Paused
			}
			want := map[string]bool{
				"campaign lost_leads_reactivation": false, "campaign spring_offer": true,
				"workflow cart_rescue": true, "sequence restock": true,
				"autoresponder trial": false, "autoresponder weekly": true,
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("paused: got %v, want %v", got, want)
			}
			b, err := plan.Encode(p)
			if err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(b, []byte(`"paused": true`)); n != 4 || bytes.Contains(b, []byte(`"paused": false`)) {
				t.Errorf("want four \"paused\": true and no \"paused\": false in the plan, got %d true:\n%s", n, b)
			}
		})
	}
}
