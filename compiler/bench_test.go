//go:build unix

package compiler_test

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diag"
)

// The compile benchmarks compile a generated campaigns tree of n objects, a mix
// close to a real one: per 200 objects a model of 12 fields and a sender (in
// crm.hcl), the rest in groups of ten — three segments (CEL over the model,
// one referencing another segment), two templates, two campaigns (one with an
// A/B test), two workflows (one with an engagement branch), one sequence —
// twenty objects to a file. They report ns/object and allocs/object, so the
// two sizes can be compared for linearity, and cpu-ns/object, the processor
// time (user and system, all threads) per object, which is the figure to read
// on a machine shared with other work: wall time there measures the
// neighbours too.
//
//	go test ./compiler/ -run '^$' -bench Compile -benchtime 5x

func BenchmarkCompile1000(b *testing.B) { benchmarkCompile(b, 1000) }
func BenchmarkCompile2000(b *testing.B) { benchmarkCompile(b, 2000) }

func benchmarkCompile(b *testing.B, n int) {
	fsys := generateTree(n)
	p, ds := compiler.Compile(fsys, compiler.Options{})
	if ds.HasErrors() || p == nil {
		var text bytes.Buffer
		_ = diag.WriteText(&text, ds, diag.ReadSources(fsys, ds))
		b.Fatalf("the generated tree does not compile:\n%.4000s", text.String())
	}
	if got := len(p.Models) + len(p.Segments) + len(p.Senders) + len(p.Templates) + len(p.Campaigns) +
		len(p.Workflows) + len(p.Sequences); got != n {
		b.Fatalf("the generated tree has %d objects, want %d", got, n)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cpuBefore := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		compiler.Compile(fsys, compiler.Options{})
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

// generateTree writes n objects as HCL files.
func generateTree(n int) fstest.MapFS {
	fsys := fstest.MapFS{}
	models := max(1, n/200)
	var crm strings.Builder
	for m := 0; m < models; m++ {
		fmt.Fprintf(&crm, `model "lead%d" {
  table          = "crm_lead%d"
  key            = "id"
  email          = "email_from"
  default_filter = "lead%d.active"

  field "name" { type = "string" }
  field "stage" { type = "string" }
  field "lost_reason" { type = "string" }
  field "active" { type = "bool" }
  field "blacklisted" { type = "bool" }
  field "created_at" { type = "timestamp" }
  field "owner" { type = "string" }
  field "score" { type = "int" }
  field "revenue" { type = "float" }
  field "country" { type = "string" }
  field "tags" { type = "list(string)" }
  field "last_purchase_at" { type = "timestamp" }
}

sender "sender%d" {
  from     = "Acme Shop %d <news%d@acme.example>"
  reply_to = "sales@acme.example"
}

`, m, m, m, m, m, m)
	}
	fsys["crm.hcl"] = &fstest.MapFile{Data: []byte(crm.String())}

	groups := (n - 2*models) / 10
	var file strings.Builder
	for g := 0; g < groups; g++ {
		m := g % models
		writeGroup(&file, g, m)
		if g%2 == 1 || g == groups-1 {
			fsys[fmt.Sprintf("groups/g%04d.hcl", g/2)] = &fstest.MapFile{Data: []byte(file.String())}
			file.Reset()
		}
	}
	return fsys
}

// writeGroup writes ten objects that refer to each other and to model m.
func writeGroup(w *strings.Builder, g, m int) {
	fmt.Fprintf(w, `segment "g%[1]d_lost" {
  model            = "lead%[2]d"
  include_archived = true
  filter           = <<-CEL
    !lead%[2]d.blacklisted
    && lead%[2]d.created_at >= timestamp("2024-01-01T00:00:01Z")
    && !(lead%[2]d.stage in ["New", "Qualified", "Won"])
    && lead%[2]d.lost_reason == "Reason %[1]d"
  CEL
}

segment "g%[1]d_valuable" {
  model  = "lead%[2]d"
  filter = "lead%[2]d.score > %[1]d && lead%[2]d.revenue >= 100.0 && \"vip\" in lead%[2]d.tags"
}

segment "g%[1]d_valuable_lost" {
  model  = "lead%[2]d"
  filter = "segment.g%[1]d_lost && segment.g%[1]d_valuable && lead%[2]d.country != \"\""
}

template "g%[1]d_offer" {
  subject = "An offer for you, {{ .lead%[2]d.name | default \"friend\" }}"
  html    = <<-EOT
    <p>Hello {{ .lead%[2]d.name | default "there" }},</p>
    <p>Offer %[1]d is waiting for you. Ask {{ .lead%[2]d.owner | default "our team" }}.</p>
    <p><a href="{{ .unsubscribe_url }}">Unsubscribe</a></p>
  EOT
  text    = <<-EOT
    Hello {{ .lead%[2]d.name | default "there" }},
    Offer %[1]d is waiting for you.
    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "g%[1]d_reminder" {
  subject = "Still interested?"
  text    = <<-EOT
    Hello {{ .lead%[2]d.name | default "there" }}, your cart is waiting.
    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

campaign "g%[1]d_winback" {
  segment  = "g%[1]d_lost"
  template = "g%[1]d_offer"
  sender   = "sender%[2]d"
  send_at  = "2027-01-01T09:00:00Z"
}

campaign "g%[1]d_vip" {
  segment  = "g%[1]d_valuable_lost"
  template = "g%[1]d_offer"
  sender   = "sender%[2]d"

  ab_test {
    test_percent = 20
    metric       = "click_rate"

    variant "short" {
      subject = "Offer %[1]d"
    }
    variant "named" {
      subject = "{{ .lead%[2]d.name | default \"Hello\" }}, offer %[1]d"
    }
  }
}

workflow "g%[1]d_cart" {
  type   = "abandoned_cart"
  model  = "lead%[2]d"
  sender = "sender%[2]d"
  goal   = "lead%[2]d.last_purchase_at > lead%[2]d.created_at"

  trigger {
    event = "cart_abandoned"
  }

  step "pause" {
    wait = "1h"
  }
  step "remind" {
    send = "g%[1]d_reminder"
  }
  step "opened" {
    engagement {
      step  = "remind"
      event = "opened"
    }
    then = "offer"
    else = "done"
  }
  step "offer" {
    send = "g%[1]d_offer"
  }
  step "done" {
    exit = true
  }
}

workflow "g%[1]d_onboarding" {
  type   = "customer_onboarding"
  model  = "lead%[2]d"
  sender = "sender%[2]d"

  trigger {
    event  = "lifecycle_change"
    filter = "event.to == \"customer\""
  }

  step "welcome" {
    send = "g%[1]d_offer"
  }
  step "pause" {
    wait = "2d"
  }
  step "mark" {
    set_property = "lead%[2]d.stage"
    value        = "Onboarded"
  }
}

sequence "g%[1]d_nurture" {
  model   = "lead%[2]d"
  segment = "g%[1]d_lost"
  sender  = "sender%[2]d"
  goal    = "lead%[2]d.stage == \"Won\""

  step "week1" {
    offset   = "0d"
    template = "g%[1]d_offer"
  }
  step "week2" {
    offset   = "7d"
    template = "g%[1]d_reminder"
    when {
      step  = "week1"
      event = "ignored"
    }
  }
}

`, g, m)
}
