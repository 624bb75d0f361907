package events_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/events"
)

// cartSchema declares one property of each type on customer cart_abandoned
// events, as a plan's trigger would.
var cartSchema = events.SchemaOf(&plan.Plan{Workflows: []plan.Workflow{{Name: "cart_rescue", Model: "customer", Trigger: plan.Trigger{
	Event: "cart_abandoned", Properties: []plan.EventProperty{
		{Name: "value", Type: plan.TypeFloat}, {Name: "items", Type: plan.TypeInt}, {Name: "gift", Type: plan.TypeBool},
		{Name: "coupon", Type: plan.TypeString}, {Name: "expires", Type: plan.TypeTimestamp}, {Name: "skus", Type: plan.TypeStringList},
	}}}}})

func cartLine(props string) string {
	return `{"type":"cart_abandoned","model":"customer","key":"1","at":"2026-11-20T10:00:00Z","properties":` + props + `}`
}

func TestSchemaChecksEachDeclaredType(t *testing.T) {
	ok := `{"value":25,"items":3,"gift":true,"coupon":"X","expires":"2026-12-01T00:00:00+01:00","skus":["a"],"other":{"any":"thing"}}`
	if _, err := cartSchema.ParseBatch(strings.NewReader(cartLine(ok)), "in", 0); err != nil {
		t.Fatalf("a well-typed event was refused: %v", err)
	}
	if _, err := cartSchema.ParseBatch(strings.NewReader(cartLine(`{"value":null,"items":null}`)), "in", 0); err != nil {
		t.Fatalf("null properties were refused: %v", err)
	}
	for _, c := range []struct{ props, field, want string }{
		{`{"value":"25"}`, "properties.value", `want a JSON number, e.g. 25.5, got a string "25"`},
		{`{"items":2.5}`, "properties.items", `want a JSON integer, e.g. 3, got a number 2.5`},
		{`{"gift":"yes"}`, "properties.gift", `want true or false, got a string "yes"`},
		{`{"coupon":7}`, "properties.coupon", `want a JSON string, got a number 7`},
		{`{"expires":"2026-12-01"}`, "properties.expires", `want an RFC 3339 time in a string`},
		{`{"skus":"a"}`, "properties.skus", `want an array of strings`},
	} {
		_, err := cartSchema.ParseBatch(strings.NewReader(cartLine(c.props)), "in", 0)
		var fe *events.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.HasPrefix(fe.Msg, c.want) {
			t.Errorf("%s: got %v, want field %s: %s…", c.props, err, c.field, c.want)
		}
	}
	// Without a schema, as before a plan declared properties, anything goes.
	if _, err := events.ParseBatch(strings.NewReader(cartLine(`{"value":"thirty"}`)), "in", 0); err != nil {
		t.Errorf("the nil schema refused an event: %v", err)
	}
}

func TestImportRefusesWronglyTypedDeclaredProperty(t *testing.T) {
	st := setup(t)
	input := cartLine(`{"value":25.5}`) + "\n\n" + cartLine(`{"value":"thirty"}`) + "\n"
	_, err := events.Import(context.Background(), st, strings.NewReader(input), "carts.ndjson", events.ImportOptions{Now: now, Schema: cartSchema})
	want := `carts.ndjson:3: field "properties.value": want a JSON number, e.g. 25.5, got a string "thirty" (workflow "cart_rescue" declares event.value as float for cart_abandoned events); nothing was imported`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events`); got != 0 {
		t.Errorf("%d rows stored after a refused import, want 0", got)
	}
}
