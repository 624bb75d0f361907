package celmodel

import (
	"fmt"
	"reflect"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// Object is the CEL value of a model variable: a Record with the model's object
// type. Field selection goes straight to the Record (see provider.GetFrom); the
// methods here serve the rarer paths where CEL handles the record as a whole value.
type Object struct {
	typ    ref.Type
	fields map[string]int
	rec    Record
}

// ConvertToNative implements ref.Val.
func (o *Object) ConvertToNative(typeDesc reflect.Type) (any, error) {
	if reflect.TypeOf(o).AssignableTo(typeDesc) {
		return o, nil
	}
	return nil, fmt.Errorf("type conversion error from %s to %v", o.typ.TypeName(), typeDesc)
}

// ConvertToType implements ref.Val.
func (o *Object) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return o.typ.(ref.Val)
	}
	if t.TypeName() == o.typ.TypeName() {
		return o
	}
	return types.NewErr("type conversion error from '%s' to '%s'", o.typ.TypeName(), t.TypeName())
}

// Equal implements ref.Val: two records are equal when every field is equal and
// set alike.
func (o *Object) Equal(other ref.Val) ref.Val {
	oo, ok := other.(*Object)
	if !ok || oo.typ.TypeName() != o.typ.TypeName() {
		return types.False
	}
	for _, i := range o.fields {
		if o.rec.IsSet(i) != oo.rec.IsSet(i) {
			return types.False
		}
		if eq := o.rec.Field(i).Equal(oo.rec.Field(i)); eq != types.True {
			return eq
		}
	}
	return types.True
}

// Type implements ref.Val.
func (o *Object) Type() ref.Type { return o.typ }

// Value implements ref.Val. It returns the Object itself, which the field getters
// of the model's type accept.
func (o *Object) Value() any { return o }

// Get implements traits.Indexer for dynamic field access.
func (o *Object) Get(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.ValOrErr(index, "no such overload")
	}
	i, ok := o.fields[string(name)]
	if !ok {
		return types.NewErr("no such field '%s'", name)
	}
	return o.rec.Field(i)
}

// IsSet implements traits.FieldTester.
func (o *Object) IsSet(field ref.Val) ref.Val {
	name, ok := field.(types.String)
	if !ok {
		return types.ValOrErr(field, "no such overload")
	}
	i, ok := o.fields[string(name)]
	if !ok {
		return types.NewErr("no such field '%s'", name)
	}
	return types.Bool(o.rec.IsSet(i))
}
