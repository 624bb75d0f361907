package diff

import (
	"sort"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// FormatVersion is the version of the JSON output. It is bumped when a consumer
// of the older shape could misread the newer one; adding a field does not bump it.
const FormatVersion = 1

// Action says what happens to an object or to one of its fields.
type Action string

const (
	// Add: the object or field exists only in the new plan.
	Add Action = "add"
	// Remove: the object or field exists only in the old plan.
	Remove Action = "remove"
	// Change: the object exists on both sides with different content, or the
	// field has a different value.
	Change Action = "change"
	// Rename: an object of the old plan reappears under another name with exactly
	// the same content. Objects only.
	Rename Action = "rename"
	// Reorder: the elements of a named list (workflow steps, …) are the same set in
	// a different order. Fields only.
	Reorder Action = "reorder"
	// NoOp: the object is the same on both sides. Such objects are counted, not
	// listed in Diff.Changes.
	NoOp Action = "no-op"
)

// Diff is the difference between two plans. It is plain data: the JSON output is
// this struct encoded, and the text and Markdown views render the same values.
type Diff struct {
	FormatVersion int            `json:"format_version"`
	OldPlanHash   string         `json:"old_plan_hash"`
	NewPlanHash   string         `json:"new_plan_hash"`
	Summary       Summary        `json:"summary"`
	Changes       []ObjectChange `json:"changes"`
	// Impact is nil unless an ImpactFunc ran (campaignctl diff --db).
	Impact   *Impact   `json:"impact"`
	Warnings []Warning `json:"warnings"`

	// Unchanged counts objects present on both sides with the same content.
	Unchanged int `json:"-"`
	// ImpactSkipped says why Impact is nil ("no --db"); the views print it so a
	// reviewer knows audience counts were not looked at, rather than that nothing
	// changed for anyone.
	ImpactSkipped string `json:"-"`

	old, new *plan.Plan
}

// Summary counts changed objects by action.
type Summary struct {
	Add    int `json:"add"`
	Change int `json:"change"`
	Remove int `json:"remove"`
	Rename int `json:"rename"`
}

// Total is the number of objects that change in any way.
func (s Summary) Total() int { return s.Add + s.Change + s.Remove + s.Rename }

// ObjectChange is what happens to one object.
type ObjectChange struct {
	// Kind is the object kind as the plan hashes it: model, segment, sender,
	// template, policy, campaign, workflow, sequence, autoresponder.
	Kind string `json:"kind"`
	// Name is the object's name in the new plan, or in the old plan when removed.
	Name   string `json:"name"`
	Action Action `json:"action"`
	// OldName is set for renames only.
	OldName string `json:"old_name,omitempty"`
	// OldHash and NewHash are the objects' content hashes (empty on the side
	// where the object does not exist).
	OldHash string `json:"old_hash,omitempty"`
	NewHash string `json:"new_hash,omitempty"`
	// Fields lists the changed fields. For an added or removed object it lists
	// every field the object has, so the object can be reviewed in full; for a
	// rename it is empty (the content is identical).
	Fields []FieldChange `json:"fields"`

	// Old and New point at the plan objects (e.g. *plan.Workflow); nil on the
	// side where the object does not exist.
	Old any `json:"-"`
	New any `json:"-"`
}

// FieldChange is the change of one field, addressed by a path of JSON names:
// "subject", "trigger.event", "steps[week2].template", "bypass.transactional".
// A list whose elements have names is indexed by name in brackets.
type FieldChange struct {
	Path   string `json:"path"`
	Action Action `json:"action"`
	// Old and New are the values as the plan holds them, absent on the side
	// where the field does not exist. A value may be a scalar or a whole
	// sub-object (an added step). For Reorder they are the lists of element
	// names in old and new order.
	Old any `json:"old,omitempty"`
	New any `json:"new,omitempty"`
}

// Warning is a risky consequence of a change that a reviewer should confirm.
type Warning struct {
	// Code is stable, for tools: mail_class_changed, sending_object_removed,
	// sending_object_renamed, sent_step_edited, sent_template_edited,
	// workflow_wait_edited, and whatever an ImpactFunc adds (e.g.
	// audience_growth).
	Code    string `json:"code"`
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

// Plans compares two plans. A nil plan is an empty one (a tree that did not exist
// at the base ref). Changes are ordered by kind, in plan order, then by name.
func Plans(oldPlan, newPlan *plan.Plan) *Diff {
	if oldPlan == nil {
		oldPlan = emptyPlan()
	}
	if newPlan == nil {
		newPlan = emptyPlan()
	}
	d := &Diff{
		FormatVersion: FormatVersion,
		OldPlanHash:   oldPlan.Hash,
		NewPlanHash:   newPlan.Hash,
		Changes:       []ObjectChange{},
		Warnings:      []Warning{},
		old:           oldPlan,
		new:           newPlan,
	}
	for _, k := range planKinds {
		d.diffKind(k, k.objects(oldPlan), k.objects(newPlan))
	}
	for _, c := range d.Changes {
		switch c.Action {
		case Add:
			d.Summary.Add++
		case Change:
			d.Summary.Change++
		case Remove:
			d.Summary.Remove++
		case Rename:
			d.Summary.Rename++
		}
	}
	d.Warnings = append(d.Warnings, warnings(d)...)
	return d
}

// OldPlan and NewPlan return the plans the diff was computed from (empty plans
// for a nil side). They are what an ImpactFunc needs.
func (d *Diff) OldPlan() *plan.Plan { return d.old }
func (d *Diff) NewPlan() *plan.Plan { return d.new }

// HasChanges reports whether any object is added, changed, removed or renamed.
func (d *Diff) HasChanges() bool { return d.Summary.Total() > 0 }

// diffKind compares the objects of one kind and appends the changes, sorted by
// name.
func (d *Diff) diffKind(k kind, olds, news []object) {
	oldByName := make(map[string]object, len(olds))
	for _, o := range olds {
		oldByName[o.name] = o
	}
	newByName := make(map[string]object, len(news))
	for _, o := range news {
		newByName[o.name] = o
	}
	var changes []ObjectChange
	var removed, added []object
	for _, o := range olds {
		n, ok := newByName[o.name]
		if !ok {
			removed = append(removed, o)
			continue
		}
		// The content hash covers every field, so equal hashes are equal objects;
		// only an unfinalized plan (no hashes) needs the field walk to find out.
		if o.hash != "" && o.hash == n.hash {
			d.Unchanged++
			continue
		}
		fields := objectFields(o.v, n.v)
		if len(fields) == 0 {
			d.Unchanged++
			continue
		}
		changes = append(changes, ObjectChange{
			Kind: k.name, Name: o.name, Action: Change,
			OldHash: o.hash, NewHash: n.hash, Fields: fields,
			Old: o.ptr(), New: n.ptr(),
		})
	}
	for _, n := range news {
		if _, ok := oldByName[n.name]; !ok {
			added = append(added, n)
		}
	}

	// A rename is a removed and an added object with the same content apart from
	// the name. Several candidates with the same content pair up in name order,
	// which is deterministic if arbitrary.
	renamedFrom := map[string]object{}
	if len(removed) > 0 && len(added) > 0 {
		byContent := map[string][]object{}
		for _, o := range removed {
			h := namelessHash(o.v)
			byContent[h] = append(byContent[h], o)
		}
		for _, n := range added {
			h := namelessHash(n.v)
			if c := byContent[h]; len(c) > 0 {
				renamedFrom[n.name] = c[0]
				byContent[h] = c[1:]
			}
		}
	}
	gone := map[string]bool{}
	for _, o := range renamedFrom {
		gone[o.name] = true
	}
	for _, n := range added {
		if o, ok := renamedFrom[n.name]; ok {
			changes = append(changes, ObjectChange{
				Kind: k.name, Name: n.name, Action: Rename, OldName: o.name,
				OldHash: o.hash, NewHash: n.hash, Fields: []FieldChange{},
				Old: o.ptr(), New: n.ptr(),
			})
			continue
		}
		changes = append(changes, ObjectChange{
			Kind: k.name, Name: n.name, Action: Add, NewHash: n.hash,
			Fields: wholeObject(Add, n.v), New: n.ptr(),
		})
	}
	for _, o := range removed {
		if gone[o.name] {
			continue
		}
		changes = append(changes, ObjectChange{
			Kind: k.name, Name: o.name, Action: Remove, OldHash: o.hash,
			Fields: wholeObject(Remove, o.v), Old: o.ptr(),
		})
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].Name < changes[j].Name })
	d.Changes = append(d.Changes, changes...)
}

// emptyPlan is the plan of a tree with nothing in it, finalized so that it has
// a plan hash like any other.
func emptyPlan() *plan.Plan {
	p := &plan.Plan{}
	p.Finalize()
	return p
}
