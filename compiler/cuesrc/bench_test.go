//go:build unix

package cuesrc_test

import (
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/cuesrc"
)

// The CUE benchmarks load a generated tree of n objects, the same mix as the
// compiler's HCL benchmark (compiler/bench_test.go): per 200 objects a model
// and a sender, then groups of ten — three segments, two templates, two
// campaigns (one with an A/B test), two workflows, one sequence. "Literal"
// writes every object out; "Definitions" writes one #Group definition and
// instantiates it per group with a comprehension, which is how CUE is meant to
// be used and makes the evaluator do the work. cpu-ns/object is processor
// time (all threads): the figure to read on a machine shared with other work.
//
//	go test ./compiler/cuesrc/ -run '^$' -bench . -benchtime 5x

func BenchmarkLoadCUE1000Literal(b *testing.B)     { benchmarkLoad(b, cueTree(1000, false), 1000) }
func BenchmarkLoadCUE2000Literal(b *testing.B)     { benchmarkLoad(b, cueTree(2000, false), 2000) }
func BenchmarkLoadCUE1000Definitions(b *testing.B) { benchmarkLoad(b, cueTree(1000, true), 1000) }
func BenchmarkLoadCUE2000Definitions(b *testing.B) { benchmarkLoad(b, cueTree(2000, true), 2000) }

// BenchmarkCompileCUE1000 runs the whole compiler (front ends, checker,
// schemas, lowering) on the literal tree.
func BenchmarkCompileCUE1000(b *testing.B) {
	fsys := cueTree(1000, false)
	if p, ds := compiler.Compile(fsys, compiler.Options{}); p == nil {
		b.Fatalf("the generated tree does not compile: %v", ds[:min(len(ds), 5)])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		compiler.Compile(fsys, compiler.Options{})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/object")
}

func benchmarkLoad(b *testing.B, fsys fstest.MapFS, n int) {
	cfg, ds := cuesrc.Load(fsys)
	if len(ds) > 0 {
		b.Fatalf("the generated tree has diagnostics: %v", ds[:min(len(ds), 5)])
	}
	if cfg.Len() != n {
		b.Fatalf("the generated tree has %d objects, want %d", cfg.Len(), n)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cpuBefore := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cuesrc.Load(fsys)
	}
	b.StopTimer()
	cpu := cpuTime() - cpuBefore
	runtime.ReadMemStats(&after)
	objects := float64(b.N) * float64(n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/objects, "ns/object")
	b.ReportMetric(float64(cpu.Nanoseconds())/objects, "cpu-ns/object")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/objects, "allocs/object")
}

// cpuTime is the processor time this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cueTree writes n objects as CUE files.
func cueTree(n int, definitions bool) fstest.MapFS {
	fsys := fstest.MapFS{}
	models := max(1, n/200)
	var crm strings.Builder
	crm.WriteString("package campaigns\n\n")
	for m := 0; m < models; m++ {
		fmt.Fprintf(&crm, `model: lead%[1]d: {
	table:          "crm_lead%[1]d"
	key:            "id"
	email:          "email_from"
	default_filter: "lead%[1]d.active"
	field: {
		name: type:             "string"
		stage: type:            "string"
		lost_reason: type:      "string"
		active: type:           "bool"
		blacklisted: type:      "bool"
		created_at: type:       "timestamp"
		owner: type:            "string"
		score: type:            "int"
		revenue: type:          "float"
		country: type:          "string"
		tags: type:             "list(string)"
		last_purchase_at: type: "timestamp"
	}
}

sender: sender%[1]d: {
	from:     "Acme Shop %[1]d <news%[1]d@acme.example>"
	reply_to: "sales@acme.example"
}

`, m)
	}
	fsys["crm.cue"] = &fstest.MapFile{Data: []byte(crm.String())}
	groups := (n - 2*models) / 10
	if definitions {
		var list strings.Builder
		list.WriteString("package campaigns\n\n_groups: {\n")
		for g := 0; g < groups; g++ {
			fmt.Fprintf(&list, "\t\"%d\": %d\n", g, g%models)
		}
		list.WriteString("}\n\nfor g, m in _groups {\n\t(#Group & {_g: g, _m: m}).out\n}\n")
		fsys["groups.cue"] = &fstest.MapFile{Data: []byte(list.String())}
		fsys["group_def.cue"] = &fstest.MapFile{Data: []byte("package campaigns\n\n" + groupDefinition)}
		return fsys
	}
	var file strings.Builder
	for g := 0; g < groups; g++ {
		if file.Len() == 0 {
			file.WriteString("package campaigns\n\n")
		}
		body := strings.NewReplacer(`\(_g)`, fmt.Sprint(g), `\(_m)`, fmt.Sprint(g%models)).Replace(groupObjects)
		file.WriteString(body)
		if g%2 == 1 || g == groups-1 {
			fsys[fmt.Sprintf("groups/g%04d.cue", g/2)] = &fstest.MapFile{Data: []byte(file.String())}
			file.Reset()
		}
	}
	return fsys
}

// groupDefinition wraps groupObjects in a definition whose parameters are the
// group and model numbers.
var groupDefinition = "#Group: {\n\t_g: string\n\t_m: int\n\tout: {\n" + indent(groupObjects, "\t\t") + "\t}\n}\n"

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

// groupObjects are the ten objects of a group, written with \(_g) and \(_m)
// for the group and model numbers: replaced in the literal tree, interpolated
// by CUE in the definitions tree.
const groupObjects = `segment: "g\(_g)_lost": {
	model:            "lead\(_m)"
	include_archived: true
	filter: """
		!lead\(_m).blacklisted
		&& lead\(_m).created_at >= timestamp("2024-01-01T00:00:01Z")
		&& !(lead\(_m).stage in ["New", "Qualified", "Won"])
		&& lead\(_m).lost_reason == "Reason \(_g)"
		"""
}
segment: "g\(_g)_valuable": {
	model:  "lead\(_m)"
	filter: "lead\(_m).revenue >= 100.0 && \"vip\" in lead\(_m).tags"
}
segment: "g\(_g)_valuable_lost": {
	model:  "lead\(_m)"
	filter: "segment.g\(_g)_lost && segment.g\(_g)_valuable && lead\(_m).country != \"\""
}
template: "g\(_g)_offer": {
	subject: "An offer for you, {{ .lead\(_m).name | default \"friend\" }}"
	html: """
		<p>Hello {{ .lead\(_m).name | default "there" }},</p>
		<p>Offer \(_g) is waiting for you. Ask {{ .lead\(_m).owner | default "our team" }}.</p>
		<p><a href="{{ .unsubscribe_url }}">Unsubscribe</a></p>
		"""
	text: """
		Hello {{ .lead\(_m).name | default "there" }},
		Offer \(_g) is waiting for you.
		Unsubscribe: {{ .unsubscribe_url }}
		"""
}
template: "g\(_g)_reminder": {
	subject: "Still interested?"
	text: """
		Hello {{ .lead\(_m).name | default "there" }}, your cart is waiting.
		Unsubscribe: {{ .unsubscribe_url }}
		"""
}
campaign: "g\(_g)_winback": {
	segment:  "g\(_g)_lost"
	template: "g\(_g)_offer"
	sender:   "sender\(_m)"
	send_at:  "2027-01-01T09:00:00Z"
}
campaign: "g\(_g)_vip": {
	segment:  "g\(_g)_valuable_lost"
	template: "g\(_g)_offer"
	sender:   "sender\(_m)"
	ab_test: {
		test_percent: 20
		metric:       "click_rate"
		variant: short: subject: "Offer \(_g)"
		variant: named: subject: "{{ .lead\(_m).name | default \"Hello\" }}, offer \(_g)"
	}
}
workflow: "g\(_g)_cart": {
	type:    "abandoned_cart"
	model:   "lead\(_m)"
	sender:  "sender\(_m)"
	goal:    "lead\(_m).last_purchase_at > lead\(_m).created_at"
	trigger: event: "cart_abandoned"
	step: pause: wait:    "1h"
	step: remind: send:   "g\(_g)_reminder"
	step: opened: {
		engagement: {step: "remind", event: "opened"}
		then: "offer"
		else: "done"
	}
	step: offer: send: "g\(_g)_offer"
	step: done: exit:  true
}
workflow: "g\(_g)_onboarding": {
	type:   "customer_onboarding"
	model:  "lead\(_m)"
	sender: "sender\(_m)"
	trigger: {event: "lifecycle_change", filter: "event.to == \"customer\""}
	step: welcome: send: "g\(_g)_offer"
	step: pause: wait:   "2d"
	step: mark: {set_property: "lead\(_m).stage", value: "Onboarded"}
}
sequence: "g\(_g)_nurture": {
	model:   "lead\(_m)"
	segment: "g\(_g)_lost"
	sender:  "sender\(_m)"
	goal:    "lead\(_m).stage == \"Won\""
	step: week1: {offset: "0d", template: "g\(_g)_offer"}
	step: week2: {
		offset:   "7d"
		template: "g\(_g)_reminder"
		when: {step: "week1", event: "ignored"}
	}
}
`
