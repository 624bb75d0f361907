package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// enrollments is Zoho's manual control of who is in an autoresponder (and of
// any enrollment-based object): exclude a contact, include one, restart one,
// each with an audit row of who did it, when and why.

func runEnrollments(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("enrollments", "enrollments --db URL exclude|include|reset|audit OBJECT [--contact CONTACT] [--actor NAME] [--reason TEXT]", `
Control one contact's enrollment in a sequence, workflow or autoresponder by
hand, as Zoho's autoresponders allow, with an audit row of who did it, when and
why (campaignctl enrollments audit lists them):

  exclude   end the contact's active enrollment (exit reason manual), cancel its
            messages not yet handed to the relay, and keep the contact out of the
            object until it is included again, whatever its trigger or segment
  include   lift an exclusion and enroll the contact now, as a new occurrence,
            whether or not its trigger or segment holds (an operator's decision);
            a contact already enrolled and active is left as it is
  reset     end the active enrollment (manual), cancel its pending messages and
            enroll the contact again from the first step, as a new occurrence
            whose messages are new ones
  audit     list the manual actions on OBJECT

OBJECT is kind/name (sequence/restock_nurture) or a name only one object has.
CONTACT is the contact's key in the object's model (42), MODEL:KEY (lead:42) or
its email address. The enrollment starts at --at (RFC 3339; default now): pass
the daemon's clock when it runs an accelerated one. --actor defaults to
$USER@host.

A message already handed to the relay when the enrollment ends may still be
delivered: the send path never takes a message back from the relay.

Exit status: 0 done, 1 error (nothing changed), 2 usage.`, `  campaignctl enrollments --db "$CAMPAIGNCTL_DB" exclude autoresponder/trial_followups --contact 42 --reason "asked by phone"
  campaignctl enrollments --db "$CAMPAIGNCTL_DB" reset sequence/restock_nurture --contact lead:42
  campaignctl enrollments --db "$CAMPAIGNCTL_DB" audit workflow/cart_rescue`, stderr)
	db := dbFlag(fs)
	contact := fs.String("contact", "", "the `CONTACT`: a key of the object's model, MODEL:KEY or an email address")
	actor := fs.String("actor", defaultActor(), "who takes the action, for the audit `NAME`")
	reason := fs.String("reason", "", "why, for the audit (free `TEXT`)")
	atFlag := fs.String("at", "", "when the new enrollment starts, `RFC3339` (default now)")
	pos, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 2 {
		fmt.Fprintf(stderr, "campaignctl enrollments: want an action and an OBJECT, got %d arguments\n", len(pos))
		fs.Usage()
		return 2
	}
	action, objArg := pos[0], pos[1]
	if !slices.Contains([]string{"exclude", "include", "reset", "audit"}, action) {
		fmt.Fprintf(stderr, "campaignctl enrollments: unknown action %q: want exclude, include, reset or audit\n", action)
		return 2
	}
	if action != "audit" && strings.TrimSpace(*contact) == "" {
		fmt.Fprintf(stderr, "campaignctl enrollments %s: --contact is required (a key, MODEL:KEY or an email address)\n", action)
		return 2
	}
	if strings.TrimSpace(*actor) == "" {
		fmt.Fprintln(stderr, "campaignctl enrollments: --actor must name someone: the audit keeps who acted")
		return 2
	}
	at, ok := atTime("enrollments", *atFlag, stderr)
	if !ok {
		return 2
	}
	ctx := context.Background()
	st, fail, code := openActionStore(ctx, "enrollments", action, *db, stderr)
	if code >= 0 {
		return code
	}
	defer st.Close()
	rev, p, err := appliedPlan(ctx, st)
	if err != nil {
		return fail(err)
	}
	ref, model, err := resolveEnrollmentObject(p, objArg)
	if err != nil {
		return fail(err)
	}
	if action == "audit" {
		rows, err := st.Audit(ctx, ref.Kind, ref.Name)
		if err != nil {
			return fail(err)
		}
		return boolExit(writeAudit(stdout, rows) == nil)
	}
	arg := strings.TrimSpace(*contact)
	if !strings.Contains(arg, ":") && !strings.Contains(arg, "@") {
		arg = model.Name + ":" + arg
	}
	contacts, err := resolveContacts(ctx, st.DB, p, arg)
	if err != nil {
		return fail(err)
	}
	var mine []contactRecord
	for _, c := range contacts {
		if c.model.Name == model.Name {
			mine = append(mine, c)
		}
	}
	if len(mine) != 1 {
		return fail(fmt.Errorf("%s names %d contacts of model %s (the model of %s/%s): give MODEL:KEY", *contact, len(mine), model.Name, ref.Kind, ref.Name))
	}
	c := mine[0]
	a := store.ManualAction{Kind: ref.Kind, Object: ref.Name, ContactKey: c.key, Email: c.email, Actor: *actor, Reason: *reason, At: at, Revision: rev.ID}
	var res store.ManualResult
	switch action {
	case "exclude":
		res, err = st.Exclude(ctx, a)
	case "include":
		res, err = st.Include(ctx, a)
	case "reset":
		res, err = st.Reset(ctx, a)
	}
	if errors.Is(err, store.ErrAlreadyEnrolled) {
		return fail(fmt.Errorf("%s is already enrolled in %s/%s and active: nothing changed (reset restarts it)", c, ref.Kind, ref.Name))
	}
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "%s %s/%s: %s %s (recorded for %s)\n", action, ref.Kind, ref.Name, c, res, *actor)
	return 0
}

// resolveEnrollmentObject reads OBJECT among the plan's enrollment-based
// objects and returns it with its model.
func resolveEnrollmentObject(p *plan.Plan, arg string) (store.ObjectRef, *plan.Model, error) {
	type cand struct {
		ref   store.ObjectRef
		model string
	}
	var all []cand
	for _, s := range p.Sequences {
		all = append(all, cand{store.ObjectRef{Kind: "sequence", Name: s.Name}, s.Model})
	}
	for _, w := range p.Workflows {
		all = append(all, cand{store.ObjectRef{Kind: "workflow", Name: w.Name}, w.Model})
	}
	for _, a := range p.Autoresponders {
		all = append(all, cand{store.ObjectRef{Kind: "autoresponder", Name: a.Name}, a.Model})
	}
	kind, name, qualified := strings.Cut(arg, "/")
	if !qualified {
		kind, name = "", arg
	}
	var found []cand
	var known []string
	for _, c := range all {
		known = append(known, c.ref.Kind+"/"+c.ref.Name)
		if c.ref.Name == name && (kind == "" || kind == c.ref.Kind) {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 1:
		m, ok := p.Model(found[0].model)
		if !ok {
			return store.ObjectRef{}, nil, fmt.Errorf("%s/%s: its model %s is not in the applied plan", found[0].ref.Kind, name, found[0].model)
		}
		return found[0].ref, m, nil
	case 0:
		if _, ok := p.Campaign(name); ok {
			return store.ObjectRef{}, nil, fmt.Errorf("%s is a one-off campaign, which has no enrollments: exclude a contact from it with a segment or the suppression list", arg)
		}
		list := strings.Join(known, ", ")
		if list == "" {
			list = "none"
		}
		return store.ObjectRef{}, nil, fmt.Errorf("no sequence, workflow or autoresponder %q in the applied plan (it has: %s)", arg, list)
	}
	return store.ObjectRef{}, nil, fmt.Errorf("%q is ambiguous: write kind/name (%s/%s or %s/%s)", arg, found[0].ref.Kind, name, found[1].ref.Kind, name)
}

func defaultActor() string {
	user := os.Getenv("USER")
	if user == "" {
		user = "operator"
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return user + "@" + h
	}
	return user
}

func writeAudit(w io.Writer, rows []store.AuditRow) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no manual action recorded")
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tACTOR\tACTION\tOBJECT\tCONTACT\tREASON\tWHAT IT DID")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s\t%s\t%s\n", r.At.UTC().Format(time.RFC3339), r.Actor, r.Action, r.Kind, r.Object, r.ContactKey, r.Reason, r.Detail)
	}
	return tw.Flush()
}
