package plan

import (
	"hash"
	"reflect"
	"strings"
)

// Kind is one kind of object a plan holds. Kinds lists every kind once; the
// front ends (block types, top-level fields), the IR (ir.Config), the
// checker and Finalize read it instead of keeping lists of their own.
type Kind struct {
	// Name is the kind's name as the languages write it (the HCL block type,
	// the CUE top-level field) and as the schemas and messages name it.
	Name string
	// Plural is the plan's JSON member holding the kind's objects, and the
	// kind's plural in messages.
	Plural string
	// Type is the plan struct of one object (Campaign).
	Type reflect.Type

	objects func(*Plan) kindObjects
}

// kindObjects are the objects of one kind in one plan.
type kindObjects interface {
	len() int
	add(obj any) bool
	finalize(all hash.Hash, kind string)
}

type objects[T any] struct {
	list *[]T
	key  func(*T) (name string, hash *string)
}

func (o objects[T]) len() int { return len(*o.list) }

func (o objects[T]) add(obj any) bool {
	v, ok := obj.(*T)
	if ok {
		*o.list = append(*o.list, *v)
	}
	return ok
}

func (o objects[T]) finalize(all hash.Hash, kind string) {
	*o.list = finalizeKind(all, kind, *o.list, o.key)
}

func kind[T any](name, plural string, list func(*Plan) *[]T, key func(*T) (string, *string)) Kind {
	return Kind{
		Name:    name,
		Plural:  plural,
		Type:    reflect.TypeFor[T](),
		objects: func(p *Plan) kindObjects { return objects[T]{list(p), key} },
	}
}

// Kinds are the object kinds in the order the plan holds them, the docs list
// them and the plan hash covers them: changing the order changes every plan
// hash.
var Kinds = []Kind{
	kind("model", "models", func(p *Plan) *[]Model { return &p.Models }, func(o *Model) (string, *string) { return o.Name, &o.Hash }),
	kind("segment", "segments", func(p *Plan) *[]Segment { return &p.Segments }, func(o *Segment) (string, *string) { return o.Name, &o.Hash }),
	kind("sender", "senders", func(p *Plan) *[]Sender { return &p.Senders }, func(o *Sender) (string, *string) { return o.Name, &o.Hash }),
	kind("template", "templates", func(p *Plan) *[]Template { return &p.Templates }, func(o *Template) (string, *string) { return o.Name, &o.Hash }),
	kind("policy", "policies", func(p *Plan) *[]Policy { return &p.Policies }, func(o *Policy) (string, *string) { return o.Name, &o.Hash }),
	kind("campaign", "campaigns", func(p *Plan) *[]Campaign { return &p.Campaigns }, func(o *Campaign) (string, *string) { return o.Name, &o.Hash }),
	kind("workflow", "workflows", func(p *Plan) *[]Workflow { return &p.Workflows }, func(o *Workflow) (string, *string) { return o.Name, &o.Hash }),
	kind("sequence", "sequences", func(p *Plan) *[]Sequence { return &p.Sequences }, func(o *Sequence) (string, *string) { return o.Name, &o.Hash }),
	kind("autoresponder", "autoresponders", func(p *Plan) *[]Autoresponder { return &p.Autoresponders }, func(o *Autoresponder) (string, *string) { return o.Name, &o.Hash }),
}

// KindNames are the names of Kinds, in order.
func KindNames() []string {
	out := make([]string, len(Kinds))
	for i, k := range Kinds {
		out[i] = k.Name
	}
	return out
}

// KindList names the kinds for a message: "model, segment, … or
// autoresponder".
func KindList() string {
	names := KindNames()
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// LookupKind returns the kind of the given name.
func LookupKind(name string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// Count is the number of p's objects of this kind.
func (k Kind) Count(p *Plan) int { return k.objects(p).len() }

// Add appends obj, a pointer to a plan struct of any kind (*Campaign), to
// the list of its kind in p. It reports false if obj is of no kind.
func (p *Plan) Add(obj any) bool {
	for _, k := range Kinds {
		if k.objects(p).add(obj) {
			return true
		}
	}
	return false
}
