package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// contact is a person's access and erasure rights over what the runner
// holds: export prints it all as JSON; forget erases it in one transaction.

func runContact(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("contact", "contact --db URL export|forget CONTACT [--actor NAME] [--reason TEXT]", `
Access and erasure of what the runner holds about one person (its own
tables, not the CRM's: erase the CRM record in the CRM).

  export  print, as JSON, every row the runner holds about the person, per
          table: events, contact_properties, outbox (every message and its
          outcome), enrollments and enrollment_steps, enrollment_exclusions,
          enrollment_audit, consent_ledger, suppressions
  forget  erase those rows in one transaction, keep only a keyed hash of the
          address on the suppression list (so the person is never mailed
          again, whatever a later import brings back), and write an audit row
          (campaignctl.erasure_audit) with the actor, the reason and counts,
          never the address, key or name

CONTACT is an email address (every contact of every model with it, and every
row the runner kept for it, also when the CRM no longer has it) or MODEL:KEY
(lead:42). forget needs $CAMPAIGNCTL_ERASURE_KEY (≥ 16 bytes): the key the
address is hashed with. Every daemon must be given the same key, for good:
serve refuses to start without it once an address was forgotten. Do not put
the address or name in --reason.

Exit status: 0 done, 1 error (nothing erased), 2 usage.`, `  campaignctl contact --db "$CAMPAIGNCTL_DB" export ann@example.com > ann.json
  CAMPAIGNCTL_ERASURE_KEY=… campaignctl contact --db "$CAMPAIGNCTL_DB" forget lead:42 --reason "GDPR request 2026-118"`, stderr)
	db := dbFlag(fs)
	actor := fs.String("actor", defaultActor(), "who erases, for the audit (`NAME`)")
	reason := fs.String("reason", "", "why, for the audit: a ticket number, never the person's address or name (`TEXT`)")
	pos, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 2 {
		fmt.Fprintf(stderr, "campaignctl contact: want an action and a CONTACT, got %d arguments\n", len(pos))
		fs.Usage()
		return 2
	}
	action, arg := pos[0], pos[1]
	if action != "export" && action != "forget" {
		fmt.Fprintf(stderr, "campaignctl contact: unknown action %q: want export or forget\n", action)
		return 2
	}
	if action == "forget" && strings.TrimSpace(*actor) == "" {
		fmt.Fprintln(stderr, "campaignctl contact forget: --actor must name someone: the audit keeps who erased")
		return 2
	}
	var erasure *store.Erasure
	if action == "forget" {
		key := os.Getenv(store.ErasureKeyEnv)
		if key == "" {
			fmt.Fprintf(stderr, "campaignctl contact forget: set %s: the key the forgotten address is hashed with, the same the daemons are given\n", store.ErasureKeyEnv)
			return 2
		}
		var err error
		if erasure, err = store.NewErasure([]byte(key)); err != nil {
			fmt.Fprintln(stderr, "campaignctl contact forget:", err)
			return 2
		}
	}
	ctx := context.Background()
	st, fail, code := openActionStore(ctx, "contact", action, *db, stderr)
	if code >= 0 {
		return code
	}
	defer st.Close()
	st.Erasure = erasure
	ref, err := contactRef(ctx, st, arg)
	if err != nil {
		return fail(err)
	}
	if action == "export" {
		rows, err := st.ExportContact(ctx, ref)
		if err != nil {
			return fail(needsMigrate(err))
		}
		return boolExit(writeJSON(stdout, map[string]any{"format_version": 1, "email": ref.Address, "tables": rows}) == nil)
	}
	res, err := st.ForgetContact(ctx, ref, *actor, *reason, time.Now().UTC())
	if err != nil {
		return fail(needsMigrate(err))
	}
	tables := make([]string, 0, len(res.Counts))
	for t, n := range res.Counts {
		if n > 0 {
			tables = append(tables, fmt.Sprintf("%s %d", t, n))
		}
	}
	sort.Strings(tables)
	fmt.Fprintf(stdout, "forgotten: %s erased; address kept only as a keyed hash on the suppression list: %v; audit row %d\n",
		listOrNone(tables), res.Hash, res.AuditID)
	return 0
}

// contactRef finds every row key of the person CONTACT names: its address,
// the contacts of the applied plan's models with it (or the one MODEL:KEY
// names), and the keys the runner kept with the address.
func contactRef(ctx context.Context, st *store.Store, arg string) (store.ContactRef, error) {
	var ref store.ContactRef
	arg = strings.TrimSpace(arg)
	_, p, err := appliedPlan(ctx, st)
	if err != nil && !errors.Is(err, store.ErrNoRevision) {
		return ref, needsMigrate(err)
	}
	isAddr := strings.Contains(arg, "@") && !strings.Contains(arg, ":")
	if !isAddr && p == nil {
		return ref, fmt.Errorf("contact %q: no plan is applied, so MODEL:KEY cannot be read: give the email address", arg)
	}
	if isAddr {
		ref.Address = strings.ToLower(arg)
	}
	addKey := func(model, key string) {
		mk := store.ModelKey{Model: model, Key: key}
		if !slices.Contains(ref.Models, mk) {
			ref.Models = append(ref.Models, mk)
		}
		for _, o := range objectsOfModel(p, model) {
			ok := store.ObjectKey{Kind: o[0], Object: o[1], Key: key}
			if !slices.Contains(ref.Objects, ok) {
				ref.Objects = append(ref.Objects, ok)
			}
		}
	}
	if p != nil {
		cs, err := resolveContacts(ctx, st.DB, p, arg)
		if err != nil && !isAddr {
			return ref, err
		}
		for _, c := range cs {
			if ref.Address == "" {
				ref.Address = c.normalizedEmail()
			}
			addKey(c.model.Name, c.key)
		}
	}
	if ref.Address != "" {
		kept, err := st.ObjectKeysOf(ctx, ref.Address)
		if err != nil {
			return ref, needsMigrate(err)
		}
		for _, o := range kept {
			if m := modelOfObject(p, o.Kind, o.Object); m != "" {
				addKey(m, o.Key)
			} else if !slices.Contains(ref.Objects, o) {
				ref.Objects = append(ref.Objects, o)
			}
		}
	}
	if ref.Address == "" && len(ref.Models) == 0 {
		return ref, fmt.Errorf("contact %q: nothing names it", arg)
	}
	return ref, nil
}

// objectsOfModel lists (kind, name) of the plan's objects that mail model's
// contacts, as the outbox and enrollments name them.
func objectsOfModel(p *plan.Plan, model string) [][2]string {
	if p == nil {
		return nil
	}
	var out [][2]string
	for _, c := range p.Campaigns {
		if s, ok := p.Segment(c.Segment); ok && s.Model == model {
			out = append(out, [2]string{"campaign", c.Name})
		}
	}
	for _, s := range p.Sequences {
		if s.Model == model {
			out = append(out, [2]string{"sequence", s.Name})
		}
	}
	for _, a := range p.Autoresponders {
		if a.Model == model {
			out = append(out, [2]string{"autoresponder", a.Name})
		}
	}
	for _, w := range p.Workflows {
		if w.Model == model {
			out = append(out, [2]string{"workflow", w.Name})
		}
	}
	return out
}

func modelOfObject(p *plan.Plan, kind, name string) string {
	if p == nil {
		return ""
	}
	for _, m := range p.Models {
		if slices.Contains(objectsOfModel(p, m.Name), [2]string{kind, name}) {
			return m.Name
		}
	}
	return ""
}
