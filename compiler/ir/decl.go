package ir

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Each attribute and nested block of the language is declared once, by the
// `lang` tag of its field in the IR struct:
//
//	Filter   *String    `lang:"filter,cel"`
//	Trigger  *Trigger   `lang:"trigger"`
//	Steps    []*Step    `lang:"step,custom"`
//
// The tag's first part is the member's name: the HCL attribute or block type
// and the CUE field. The field's Go type gives its form (see Form). From these
// declarations the HCL front end builds its body schemas and reads values, the
// CUE front end builds its tables of allowed members and reads values, and the
// checker lowers each member to the plan field of the same Go name (under that
// field's JSON name). The order of the fields is the order messages list the
// members in, and the order HCL's and CUE's "did you mean" suggestions try
// them.
//
// Options after the name:
//
//	cel     the value is a CEL expression: HCL may read it with file(), and
//	        lowering trims the blank lines around it
//	file    HCL may read the value with file() (long texts)
//	custom  the front ends and the lowering read this member by hand (a
//	        policy's bypass, a workflow's steps); it is still part of the
//	        schemas and tables
//
// A field without a lang tag is not a member (Name, DeclRange, a step's Kind).

// Form is the shape of a member's value, given by its IR field's type.
type Form int

const (
	FormString     Form = iota // *String
	FormBool                   // *Bool
	FormInt                    // *Int
	FormFloat                  // *Float
	FormStringList             // *StringList
	FormBlock                  // *T: a nested block written at most once (trigger { ... })
	FormBlocks                 // []*T: named nested blocks (step "welcome" { ... })
)

// Member is one declared attribute or nested block.
type Member struct {
	Name string
	// Field is the IR struct field that holds the member's value.
	Field  reflect.StructField
	Form   Form
	CEL    bool
	File   bool
	Custom bool
}

// IsBlock reports whether the member is a nested block rather than an
// attribute.
func (m Member) IsBlock() bool { return m.Form == FormBlock || m.Form == FormBlocks }

// Elem is the IR struct type of a nested block's value (Trigger for
// *Trigger, Step for []*Step).
func (m Member) Elem() reflect.Type {
	switch m.Form {
	case FormBlock:
		return m.Field.Type.Elem()
	case FormBlocks:
		return m.Field.Type.Elem().Elem()
	}
	return nil
}

var (
	nameType     = reflect.TypeFor[Name]()
	rangeType    = reflect.TypeFor[Range]()
	valueForms   = map[reflect.Type]Form{reflect.TypeFor[*String](): FormString, reflect.TypeFor[*Bool](): FormBool, reflect.TypeFor[*Int](): FormInt, reflect.TypeFor[*Float](): FormFloat, reflect.TypeFor[*StringList](): FormStringList}
	membersCache sync.Map // reflect.Type → []Member
)

// Members returns the members the IR struct type t declares, in field order.
// It panics on a malformed declaration, which TestDeclarations catches.
func Members(t reflect.Type) []Member {
	if ms, ok := membersCache.Load(t); ok {
		return ms.([]Member)
	}
	ms, err := parseMembers(t)
	if err != nil {
		panic(err)
	}
	membersCache.Store(t, ms)
	return ms
}

// MembersOf is Members of the struct obj points to.
func MembersOf(obj any) []Member { return Members(reflect.TypeOf(obj).Elem()) }

// MemberNames lists the names of t's members, in order.
func MemberNames(t reflect.Type) []string {
	ms := Members(t)
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

func parseMembers(t reflect.Type) ([]Member, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("ir: %v is not a struct", t)
	}
	var out []Member
	seen := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("lang")
		if !ok {
			continue
		}
		parts := strings.Split(tag, ",")
		m := Member{Name: parts[0], Field: f}
		if m.Name == "" || seen[m.Name] {
			return nil, fmt.Errorf("ir: %v.%s: empty or repeated member name %q", t, f.Name, m.Name)
		}
		seen[m.Name] = true
		for _, opt := range parts[1:] {
			switch opt {
			case "cel":
				m.CEL, m.File = true, true
			case "file":
				m.File = true
			case "custom":
				m.Custom = true
			default:
				return nil, fmt.Errorf("ir: %v.%s: unknown lang option %q", t, f.Name, opt)
			}
		}
		if form, ok := valueForms[f.Type]; ok {
			m.Form = form
		} else if f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct {
			m.Form = FormBlock
		} else if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Pointer && f.Type.Elem().Elem().Kind() == reflect.Struct {
			m.Form = FormBlocks
		} else {
			return nil, fmt.Errorf("ir: %v.%s: a member must be *String, *Bool, *Int, *Float, *StringList, a pointer to a block struct or a slice of them, not %v", t, f.Name, f.Type)
		}
		if m.IsBlock() {
			if err := checkBlock(m.Elem(), m.Form == FormBlocks); err != nil {
				return nil, fmt.Errorf("ir: %v.%s: %w", t, f.Name, err)
			}
		}
		if (m.CEL || m.File) && m.Form != FormString {
			return nil, fmt.Errorf("ir: %v.%s: cel and file apply to strings only", t, f.Name)
		}
		out = append(out, m)
	}
	return out, nil
}

// checkBlock checks that a nested block's struct carries where it is
// declared, and its name when it is one of named blocks.
func checkBlock(t reflect.Type, named bool) error {
	if f, ok := t.FieldByName("DeclRange"); !ok || f.Type != rangeType {
		return fmt.Errorf("block %v has no DeclRange Range field", t)
	}
	if f, ok := t.FieldByName("Name"); named && (!ok || f.Type != nameType) {
		return fmt.Errorf("named block %v has no Name Name field", t)
	}
	return nil
}

// SetHeader sets the Name (when it has one) and DeclRange of the IR struct
// obj points to.
func SetHeader(obj reflect.Value, name Name, decl Range) {
	s := obj.Elem()
	if f := s.FieldByName("Name"); f.IsValid() && f.Type() == nameType {
		*f.Addr().Interface().(*Name) = name
	}
	*s.FieldByName("DeclRange").Addr().Interface().(*Range) = decl
}

// Header returns the Name and DeclRange of the object obj points to (a
// *Campaign).
func Header(obj any) (Name, Range) {
	s := reflect.ValueOf(obj).Elem()
	return *s.FieldByName("Name").Addr().Interface().(*Name), *s.FieldByName("DeclRange").Addr().Interface().(*Range)
}
