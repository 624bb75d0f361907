package celmodel

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestEngagementCallsOrderRepeatsAndRoundTrip: EngagementCalls lists the calls of a
// filter once each, in order of appearance, and String writes each back as a
// filter would, so it parses to the same call.
func TestEngagementCallsOrderRepeatsAndRoundTrip(t *testing.T) {
	env, err := Env(&testModel, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := `lead.clicked(days(30)) && lead.event_count("page_view", "makeup", duration("36h")) >= 3 ||
		lead.opened("restock_nurture", "") || lead.clicked(days(30)) || lead.inactive_for(days(90)) ||
		lead.event_count("page_view", days(14)) > 0 || lead.opened("restock_nurture", "week1")`
	want := []EngagementCall{
		{Func: FuncClicked, Within: 30 * 24 * time.Hour},
		{Func: FuncEventCount, Type: "page_view", Topic: "makeup", Within: 36 * time.Hour},
		{Func: FuncOpened, Campaign: "restock_nurture"},
		{Func: FuncInactiveFor, Within: 90 * 24 * time.Hour},
		{Func: FuncEventCount, Type: "page_view", Within: 14 * 24 * time.Hour},
		{Func: FuncOpened, Campaign: "restock_nurture", Step: "week1"},
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		t.Fatal(iss.Err())
	}
	got, err := EngagementCalls(ast.NativeRep(), testModel.Name)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("EngagementCalls = %+v, %v\nwant %+v", got, err, want)
	}
	texts := []string{`clicked(days(30))`, `event_count("page_view", "makeup", duration("36h0m0s"))`,
		`opened("restock_nurture", "")`, `inactive_for(days(90))`, `event_count("page_view", days(14))`,
		`opened("restock_nurture", "week1")`}
	for i, c := range want {
		if c.String() != texts[i] {
			t.Errorf("String() = %s, want %s", c.String(), texts[i])
		}
		text := "lead." + c.String()
		ast, iss := env.Compile(text)
		if iss.Err() != nil {
			t.Errorf("%s does not compile: %v", text, iss.Err())
			continue
		}
		back, err := EngagementCalls(ast.NativeRep(), testModel.Name)
		if err != nil || len(back) != 1 || back[0] != c {
			t.Errorf("%s parses to %+v, %v; want %+v", text, back, err, c)
		}
	}
}

// TestEngagementCallsRefuseBadArguments: arguments that are not literals, or are
// out of range, come back as an *ArgError pointing at the argument.
func TestEngagementCallsRefuseBadArguments(t *testing.T) {
	env, err := Env(&testModel, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		`lead.clicked(days(lead.score))`:                          "time window must be written",
		`lead.opened(duration("-5m"))`:                            "must be positive",
		`lead.opened(duration("1ns"))`:                            "whole number of microseconds",
		`lead.clicked(days(100001))`:                              "days(100001)",
		`lead.event_count(lead.stage, days(3)) > 0`:               "event type must be a string literal",
		`lead.event_count("Page View", days(3)) > 0`:              "lower snake case",
		`lead.event_count("page_view", "", days(3)) > 0`:          "topic must not be empty",
		`lead.opened("", "week1")`:                                "campaign name must not be empty",
		`lead.clicked("c", lead.stage)`:                           "step name",
		`lead.clicked(days(1)) && lead.opened(days(1) + days(1))`: "time window must be written",
	}
	for src, msg := range cases {
		ast, iss := env.Compile(src)
		if iss.Err() != nil {
			t.Errorf("%s does not compile: %v", src, iss.Err())
			continue
		}
		_, err := EngagementCalls(ast.NativeRep(), testModel.Name)
		var ae *ArgError
		if !errors.As(err, &ae) || !strings.Contains(ae.Msg, msg) || ae.Expr == nil {
			t.Errorf("%s: error %v, want an *ArgError containing %q", src, err, msg)
		}
	}
}
