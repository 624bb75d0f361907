package engine_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// A trigger that declares its event's properties gets them typed in its
// conditions at run time too: the filter compares the JSON number 25.0 with
// 20.0 as a float (no double() needed), and a branch condition reads the
// same property from the event stored with the enrollment.
const typedEventCampaigns = `
model "customer" {
  table = "crm_customer"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
  field "last_order_at" {
    type     = "timestamp"
    nullable = true
  }
}

sender "shop" {
  from = "Shop <shop@acme.example>"
}

template "big_cart" {
  subject = "Your big cart"
  text    = "Hi {{ .customer.name }}. {{ .unsubscribe_url }}"
}

template "small_cart" {
  subject = "Your cart"
  text    = "Hi {{ .customer.name }}. {{ .unsubscribe_url }}"
}

workflow "cart_rescue" {
  type   = "abandoned_cart"
  model  = "customer"
  sender = "shop"
  trigger {
    event  = "cart_abandoned"
    filter = "event.value >= 20.0"
    property "value" { type = "float" }
    property "items" { type = "int" }
  }
  goal = "has(customer.last_order_at) && customer.last_order_at > event.at"
  step "which" {
    if   = "event.value >= 25.0 && event.items == 2"
    then = "big"
  }
  step "small" {
    send = "small_cart"
    next = "done"
  }
  step "big" { send = "big_cart" }
  step "done" { exit = true }
}
`

func TestDeclaredEventPropertyReachesTheTriggerFilter(t *testing.T) {
	t.Parallel()
	p, ds := compiler.Compile(fstest.MapFS{"main.hcl": {Data: []byte(typedEventCampaigns)}}, compiler.Options{})
	if ds.HasErrors() {
		t.Fatalf("compiling: %v", ds)
	}
	nb, eng := workflowRig(t)
	db, st, ctx := nb.st.DB, nb.st, nb.ctx
	for i := 1; i <= 4; i++ {
		db.MustExec(`INSERT INTO crm_customer (id, name, email) VALUES ($1, $2, $3)`,
			i, fmt.Sprintf("Customer %d", i), fmt.Sprintf("customer%d@example.org", i))
	}
	nb.apply(t, p)
	nb.step(t, eng)
	cart := func(key int, props map[string]any) store.Event {
		raw, err := json.Marshal(props)
		if err != nil {
			t.Fatal(err)
		}
		return store.Event{OccurredAt: nb.clock.Now(), Model: "customer", ContactKey: fmt.Sprint(key), Type: "cart_abandoned", Properties: raw}
	}
	if _, err := st.InsertEvents(ctx, []store.Event{
		cart(1, map[string]any{"value": 25.0, "items": 2}),
		cart(2, map[string]any{"value": 5.0, "items": 2}),
		cart(3, map[string]any{"items": 2}), // no value: has() is false, it reads 0.0
		cart(4, map[string]any{"value": 22.5, "items": 2}),
	}); err != nil {
		t.Fatal(err)
	}
	runWorkflows(t, nb, t0.Add(24*time.Hour), nil, eng)
	got := outboxLines(t, nb)
	want := []string{
		"cart_rescue / big → customer1@example.org at 2026-12-01 09:00 sent",
		"cart_rescue / small → customer4@example.org at 2026-12-01 09:00 sent",
	}
	if !slices.Equal(got, want) {
		t.Errorf("outbox:\n  %s\nwant:\n  %s", join(got), join(want))
	}
}

func join(ls []string) string {
	out := ""
	for i, l := range ls {
		if i > 0 {
			out += "\n  "
		}
		out += l
	}
	return out
}
