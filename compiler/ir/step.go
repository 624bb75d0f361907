package ir

import (
	"fmt"
	"sort"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// StepMarker is a member of a workflow step that gives the step its kind: a
// step with `wait` is a wait step.
type StepMarker struct{ Name, Kind string }

// StepMarkers are the step markers, in the order the kinds are listed to the
// user. Every front end spells them alike (an attribute, or the engagement
// block), so they are listed here once, with StepMarkerList for messages.
var StepMarkers = []StepMarker{
	{"wait", plan.StepWait},
	{"send", plan.StepSend},
	{"if", plan.StepBranch},
	{"engagement", plan.StepBranch},
	{"set_property", plan.StepSetProperty},
	{"clear_property", plan.StepClearProperty},
	{"notify_owner", plan.StepNotifyOwner},
	{"assign_owner", plan.StepAssignOwner},
	{"exit", plan.StepExit},
}

// StepMarkerList names StepMarkers in order, for messages.
const StepMarkerList = "wait, send, if, engagement, set_property, clear_property, notify_owner, assign_owner or exit"

// StepSource is one workflow step as a front end has read its members (see
// StepMembers): ReadStep asks it for the members it needs, so a member it
// does not use (the value of a second marker) is neither read nor reported.
type StepSource interface {
	// Assign is how the language writes a member: " = " in HCL, ": " in CUE.
	Assign() string
	Has(member string) bool
	// NameRange is where the member's name is written.
	NameRange(member string) Range
	// Str reads a string member; file permits HCL's file("path").
	Str(member string, file bool) *String
	Bool(member string) *Bool
	StrList(member string) *StringList
	// ScalarText reads a member stored as text that may be written as a
	// string, a number or a bool.
	ScalarText(member string) *String
	Engagement() *Engagement
	ABTest() *ABTest
	// Error records an error; detail may be empty.
	Error(at Range, detail, summary string)
}

// ReadStep fills st (whose Name and DeclRange are set) from src. owner names
// the step in messages. The step's kind is the first marker written; a second
// marker is reported and left out of the IR, so the schema does not report
// the same mistake again as a field that does not fit the kind. This is the
// one step resolver of every front end.
func ReadStep(src StepSource, st *Step, owner string) {
	assign := src.Assign()
	type found struct {
		StepMarker
		rng Range
	}
	var markers []found
	for _, m := range StepMarkers {
		if !src.Has(m.Name) {
			continue
		}
		if m.Name == "exit" {
			// exit = false would be a step that does nothing.
			if v := src.Bool("exit"); v.Invalid || !v.Value {
				if !v.Invalid {
					src.Error(v.Range, fmt.Sprintf("Write exit%strue to end the workflow at this step, or remove the step.", assign),
						fmt.Sprintf("%s: exit%sfalse does nothing", owner, assign))
				}
				continue
			}
		}
		markers = append(markers, found{m, src.NameRange(m.Name)})
	}
	sort.SliceStable(markers, func(i, j int) bool {
		a, b := markers[i].rng, markers[j].rng
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
	if len(markers) == 0 {
		if !src.Has("exit") {
			src.Error(st.DeclRange, fmt.Sprintf("Give it exactly one of %s, e.g. wait%[2]s\"1d\" or send%[2]s\"welcome\".", StepMarkerList, assign),
				owner+" does nothing")
		}
		return
	}
	first := markers[0]
	for _, extra := range markers[1:] {
		if first.Kind == plan.StepBranch && extra.Kind == plan.StepBranch {
			src.Error(extra.rng, "A branch tests one of them; split it into two branch steps.",
				owner+" tests both a condition (if) and an engagement")
			continue
		}
		src.Error(extra.rng, fmt.Sprintf("A step does one thing, set by exactly one of %s; split it into two steps.", StepMarkerList),
			fmt.Sprintf("%s has both %s and %s", owner, first.Name, extra.Name))
	}
	st.Kind = &String{Value: first.Kind, Range: first.rng}
	st.Next = src.Str("next", false)
	st.Then = src.Str("then", false)
	st.Else = src.Str("else", false)
	st.RelativeTo = src.Str("relative_to", false)
	st.Value = src.ScalarText("value")
	switch first.Name {
	case "wait":
		st.Duration = src.Str("wait", false)
	case "send":
		st.Template = src.Str("send", false)
	case "notify_owner":
		st.Template = src.Str("notify_owner", false)
	case "if":
		st.Condition = src.Str("if", true)
	case "engagement":
		st.Engagement = src.Engagement()
	case "set_property":
		st.Field = src.Str("set_property", false)
	case "clear_property":
		st.Field = src.Str("clear_property", false)
	case "assign_owner":
		st.Owners = src.StrList("assign_owner")
	}
	if st.Field == nil {
		// field names the property an assign_owner step writes; on any other
		// kind the schema says it does not apply.
		st.Field = src.Str("field", false)
	} else if src.Has("field") {
		src.Error(src.NameRange("field"), "", fmt.Sprintf("%s: field does not apply: %s names the property already", owner, first.Name))
	}
	st.ABTest = src.ABTest()
}
