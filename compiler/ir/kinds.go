package ir

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// Kind is one kind of plan.Kinds as the IR holds it: its IR struct and its
// list in Config, which has the Go name of the kind's list in plan.Plan.
type Kind struct {
	plan.Kind
	// Type is the IR struct of one object (Campaign).
	Type  reflect.Type
	field int // index of the kind's list in Config
}

// Kinds are plan.Kinds, in order, with their IR side.
var Kinds = kinds()

func kinds() []Kind {
	ct, pt := reflect.TypeFor[Config](), reflect.TypeFor[plan.Plan]()
	out := make([]Kind, len(plan.Kinds))
	for i, pk := range plan.Kinds {
		var goName string
		for j := range pt.NumField() {
			if name, _, _ := strings.Cut(pt.Field(j).Tag.Get("json"), ","); name == pk.Plural {
				goName = pt.Field(j).Name
			}
		}
		f, ok := ct.FieldByName(goName)
		if !ok || f.Type.Kind() != reflect.Slice || f.Type.Elem().Kind() != reflect.Pointer {
			panic(fmt.Sprintf("ir: Config has no list %s of kind %s", goName, pk.Name))
		}
		out[i] = Kind{Kind: pk, Type: f.Type.Elem().Elem(), field: f.Index[0]}
	}
	if len(out) != ct.NumField() {
		panic(fmt.Sprintf("ir: Config has %d lists, plan.Kinds %d kinds", ct.NumField(), len(out)))
	}
	return out
}

// LookupKind returns the kind of the given name ("campaign").
func LookupKind(name string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// New returns a new, empty object of the kind (a *Campaign).
func (k Kind) New() reflect.Value { return reflect.New(k.Type) }

// Add appends obj, a pointer to an object of the kind, to c.
func (k Kind) Add(c *Config, obj reflect.Value) {
	f := reflect.ValueOf(c).Elem().Field(k.field)
	f.Set(reflect.Append(f, obj))
}

// Objects returns c's objects of the kind, in order, each a pointer to its
// IR struct.
func (k Kind) Objects(c *Config) []any {
	f := reflect.ValueOf(c).Elem().Field(k.field)
	out := make([]any, f.Len())
	for i := range out {
		out[i] = f.Index(i).Interface()
	}
	return out
}

// StepMembers are the members a workflow step accepts, in the order messages
// list them. A step's IR (Step) is shaped like the plan's, not like its
// syntax: the marker that gives a step its kind (StepMarkers) carries the
// value of another field (wait carries Duration), so the syntax is declared
// apart, by stepSyntax, and read by ReadStep.
func StepMembers() []Member { return Members(reflect.TypeFor[stepSyntax]()) }

// stepSyntax declares the members of a workflow step as they are written.
type stepSyntax struct {
	Wait          *String     `lang:"wait"`
	RelativeTo    *String     `lang:"relative_to"`
	Send          *String     `lang:"send"`
	If            *String     `lang:"if,cel"`
	Engagement    *Engagement `lang:"engagement"`
	Then          *String     `lang:"then"`
	Else          *String     `lang:"else"`
	SetProperty   *String     `lang:"set_property"`
	ClearProperty *String     `lang:"clear_property"`
	Value         *String     `lang:"value"`
	NotifyOwner   *String     `lang:"notify_owner"`
	AssignOwner   *StringList `lang:"assign_owner"`
	Field         *String     `lang:"field"`
	Exit          *Bool       `lang:"exit"`
	Next          *String     `lang:"next"`
	ABTest        *ABTest     `lang:"ab_test"`
}
