package check

import (
	"fmt"
	"sort"

	"github.com/google/cel-go/cel"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
)

// This file builds the CEL environments a filter, condition or goal is
// checked in: a model's fields, the event variable of a workflow trigger, the
// scopes that decide which names an expression may use.

// modelEnv is what CEL may see of one model.
type modelEnv struct {
	model  *ir.Model
	fields []plan.Field // the fields that checked out, in source order
	// skip holds fields that exist but were reported invalid; references to them
	// are not reported a second time.
	skip map[string]bool
	// segments are the segments over this model, which a filter may reference.
	segments []string
	// withSegments is the environment of segment filters and sequence goals;
	// plain, of the model's default_filter, which may not reference segments.
	// Nil if they could not be built (then filters are only parsed).
	withSegments, plain *cel.Env
	// withEvent adds the enrolling event to withSegments, for workflow
	// conditions. Built on first use: most models have no workflow.
	withEvent     *cel.Env
	withEventDone bool
	// typedEvents are the environments of workflows whose trigger declares
	// its event's properties, by the declared properties.
	typedEvents map[string]*cel.Env
}

// eventVar is the variable that holds the enrolling event in a workflow's
// conditions; celmodel declares it for the checker and the runtime alike.
const eventVar = celmodel.EventVar

// eventEnv returns the environment of workflow conditions, or nil.
func (me *modelEnv) eventEnv(c *checker) *cel.Env {
	if me.withEventDone {
		return me.withEvent
	}
	me.withEventDone = true
	if me.withSegments == nil {
		return nil
	}
	env, err := me.withSegments.Extend(celmodel.WithEvent())
	if err != nil {
		c.errorf(me.model.DeclRange, "model %q cannot be declared to CEL with an event: %v", me.model.Name.Value, err)
		return nil
	}
	me.withEvent = env
	return env
}

func (me *modelEnv) build(c *checker) {
	name := me.model.Name.Value
	seen := map[string]bool{}
	for _, s := range c.cfg.Segments {
		if s.Model != nil && s.Model.Value == name && nameRE.MatchString(s.Name.Value) && !seen[s.Name.Value] {
			seen[s.Name.Value] = true
			me.segments = append(me.segments, s.Name.Value)
		}
	}
	sort.Strings(me.segments)
	if !nameRE.MatchString(name) || celmodel.Reserved(name) {
		return // reported by the name checks; filters over it are only parsed
	}
	pm := &plan.Model{Name: name, Fields: me.fields}
	var err error
	if me.plain, err = celmodel.Env(pm, nil); err != nil {
		c.errorf(me.model.DeclRange, "model %q cannot be declared to CEL: %v", name, err)
		return
	}
	if me.withSegments, err = celmodel.Env(pm, me.segments); err != nil {
		c.errorf(me.model.DeclRange, "model %q cannot be declared to CEL: %v", name, err)
		me.plain = nil
	}
}

func (me *modelEnv) fieldNames() []string {
	names := make([]string, len(me.fields))
	for i, f := range me.fields {
		names[i] = f.Name
	}
	return names
}

// names lists everything an expression in scope may name, for suggestions:
// model.field for each field, segment.<name> for each segment (if allowed), now
// and event (if allowed).
func (me *modelEnv) names(scope celScope) []string {
	names := []string{celmodel.NowVar}
	if scope == scopeEvent {
		names = append(names, eventVar)
	}
	for _, f := range me.fields {
		names = append(names, me.model.Name.Value+"."+f.Name)
	}
	if scope != scopeDefault {
		for _, s := range me.segments {
			names = append(names, celmodel.SegmentVar(s))
		}
	}
	return names
}

func (me *modelEnv) hasField(name string) bool {
	for _, f := range me.fields {
		if f.Name == name {
			return true
		}
	}
	return false
}

// celScope says what an expression may name besides the model's fields and now.
type celScope int

const (
	// scopeDefault: a model's default_filter; nothing else.
	scopeDefault celScope = iota
	// scopeSegment: a segment filter or a sequence goal; other segments too.
	scopeSegment
	// scopeEvent: a workflow's trigger filter, goal or branch condition; other
	// segments and the enrolling event.
	scopeEvent
)

var parseOnlyEnv *cel.Env

func init() {
	var err error
	if parseOnlyEnv, err = cel.NewEnv(); err != nil {
		panic(fmt.Sprintf("check: building the empty CEL environment: %v", err))
	}
}
