package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// consent reads and writes the consent ledger (migration 010_consent.sql):
// show prints one person's grants and withdrawals; grant and withdraw append
// an operator's entry, which the send path honours under opt_in policies.

func runConsent(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("consent", "consent --db URL show|grant|withdraw CONTACT [--subscription NAME] [--source SOURCE] [--actor NAME] [--reason TEXT]", `
Read or write the consent ledger: every grant and withdrawal of consent to
marketing mail, with its time, source (form, import, link, unsubscribe,
operator) and evidence. Entries are never changed or deleted (the table
refuses it), except by campaignctl contact forget.

  show      print CONTACT's ledger, oldest first (--format json for JSON)
  grant     record that CONTACT agreed (to --subscription, or to all marketing)
  withdraw  record that CONTACT withdrew consent

Under a policy with consent = "opt_in", the latest ledger entry for the
message's subscription type or for all marketing mail, whichever is later,
decides whether a marketing message goes; without an entry the model's
consent rule (the CRM's field) decides. An unsubscribe writes a withdrawal.

CONTACT is an email address or MODEL:KEY (lead:42); consent is kept per
normalized address. --subscription must be a subscription type of the applied
plan. --source is operator unless the operator enters a form or an import by
hand. --actor defaults to $USER@host.

Exit status: 0 done, 1 error (nothing recorded), 2 usage.`, `  campaignctl consent --db "$CAMPAIGNCTL_DB" show ann@example.com
  campaignctl consent --db "$CAMPAIGNCTL_DB" withdraw lead:42 --reason "asked by phone"
  campaignctl consent --db "$CAMPAIGNCTL_DB" grant ann@example.com --subscription newsletter --source form --reason "paper form 2026-11-30"`, stderr)
	db := dbFlag(fs)
	sub := fs.String("subscription", "", "the subscription type `NAME` (default: all marketing mail)")
	source := fs.String("source", store.ConsentSourceOperator, "how consent was given or withdrawn: operator, form or import")
	actor := fs.String("actor", defaultActor(), "who records it, kept as evidence (`NAME`)")
	reason := fs.String("reason", "", "why, or what shows it, kept as evidence (free `TEXT`)")
	atFlag := fs.String("at", "", "when it was given or withdrawn, `RFC3339` (default now)")
	format := fs.String("format", "text", "output format of show: text or json")
	pos, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 2 {
		fmt.Fprintf(stderr, "campaignctl consent: want an action and a CONTACT, got %d arguments\n", len(pos))
		fs.Usage()
		return 2
	}
	action, arg := pos[0], pos[1]
	if !slices.Contains([]string{"show", "grant", "withdraw"}, action) {
		fmt.Fprintf(stderr, "campaignctl consent: unknown action %q: want show, grant or withdraw\n", action)
		return 2
	}
	if !slices.Contains([]string{store.ConsentSourceOperator, store.ConsentSourceForm, store.ConsentSourceImport}, *source) {
		fmt.Fprintf(stderr, "campaignctl consent: --source %q: want operator, form or import (link and unsubscribe entries are written by the daemon)\n", *source)
		return 2
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "campaignctl consent: --format %q: want text or json\n", *format)
		return 2
	}
	if action != "show" && strings.TrimSpace(*actor) == "" {
		fmt.Fprintln(stderr, "campaignctl consent: --actor must name someone: the ledger keeps who recorded it")
		return 2
	}
	at, ok := atTime("consent", *atFlag, stderr)
	if !ok {
		return 2
	}
	ctx := context.Background()
	st, fail, code := openActionStore(ctx, "consent", action, *db, stderr)
	if code >= 0 {
		return code
	}
	defer st.Close()
	addr, p, err := contactAddress(ctx, st, arg)
	if err != nil {
		return fail(err)
	}
	if action == "show" {
		entries, err := st.ConsentHistory(ctx, addr)
		if err != nil {
			return fail(needsMigrate(err))
		}
		if *format == "json" {
			return boolExit(writeJSON(stdout, consentDoc(addr, entries)) == nil)
		}
		return boolExit(writeConsentText(stdout, addr, entries) == nil)
	}
	if *sub != "" {
		if p == nil {
			if _, p, err = appliedPlan(ctx, st); err != nil {
				return fail(fmt.Errorf("--subscription %s: reading the applied plan's subscription types: %w", *sub, err))
			}
		}
		if types := subscriptionTypes(p); !slices.Contains(types, *sub) {
			return fail(fmt.Errorf("--subscription %q is not a subscription type of the applied plan (it declares %s): nothing recorded", *sub, listOrNone(types)))
		}
	}
	act := store.ConsentGrant
	if action == "withdraw" {
		act = store.ConsentWithdraw
	}
	evidence := map[string]any{"actor": *actor}
	if *reason != "" {
		evidence["reason"] = *reason
	}
	id, err := st.RecordConsent(ctx, addr, *sub, act, *source, evidence, at)
	if err != nil {
		return fail(needsMigrate(err))
	}
	scope := "all marketing mail"
	if *sub != "" {
		scope = "subscription " + *sub
	}
	fmt.Fprintf(stdout, "recorded: %s of consent to %s (%s, entry %d)\n", act, scope, *source, id)
	return 0
}

// contactAddress is the normalized address CONTACT names: an address as
// given, or MODEL:KEY's address in the applied plan's model (with the plan).
func contactAddress(ctx context.Context, st *store.Store, arg string) (string, *plan.Plan, error) {
	arg = strings.TrimSpace(arg)
	hasColon := strings.Contains(arg, ":")
	if local, domain, ok := strings.Cut(arg, "@"); ok && !hasColon && local != "" && domain != "" && !strings.ContainsAny(arg, " \t") {
		return strings.ToLower(arg), nil, nil
	}
	if !hasColon {
		return "", nil, fmt.Errorf("contact %q: give an email address or MODEL:KEY (lead:42)", arg)
	}
	_, p, err := appliedPlan(ctx, st)
	if errors.Is(err, store.ErrNoRevision) {
		return "", nil, fmt.Errorf("contact %q: no plan is applied, so MODEL:KEY cannot be read: give the email address", arg)
	}
	if err != nil {
		return "", nil, err
	}
	cs, err := resolveContacts(ctx, st.DB, p, arg)
	if err != nil {
		return "", nil, err
	}
	if len(cs) != 1 || cs[0].normalizedEmail() == "" {
		return "", nil, fmt.Errorf("contact %s has no email address: consent is kept per address", arg)
	}
	return cs[0].normalizedEmail(), p, nil
}

func subscriptionTypes(p *plan.Plan) []string {
	var out []string
	for _, m := range p.Models {
		for _, s := range m.Subscriptions {
			if !slices.Contains(out, s.Name) {
				out = append(out, s.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

type consentEntryJSON struct {
	store.ConsentEntry
	Evidence map[string]any `json:"evidence"`
}

// consentDoc is `consent show --format json`: {"email", "entries": [{"id",
// "email", "subscription" ("" = all marketing mail), "action", "source",
// "recorded_at", "evidence": {...}}]}.
func consentDoc(addr string, entries []store.ConsentEntry) any {
	out := make([]consentEntryJSON, len(entries))
	for i, e := range entries {
		out[i] = consentEntryJSON{ConsentEntry: e, Evidence: e.EvidenceMap()}
	}
	return map[string]any{"email": addr, "entries": out}
}

func writeConsentText(w io.Writer, addr string, entries []store.ConsentEntry) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintf(w, "%s: no consent recorded by the runner (the model's consent rule decides)\n", addr)
		return err
	}
	fmt.Fprintf(w, "%s: %d entries, oldest first\n", addr, len(entries))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTRY\tRECORDED\tACTION\tSCOPE\tSOURCE\tEVIDENCE")
	for _, e := range entries {
		scope := "all marketing"
		if e.Subscription != "" {
			scope = e.Subscription
		}
		ev := e.EvidenceMap()
		keys := make([]string, 0, len(ev))
		for k := range ev {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%v", k, ev[k])
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.RecordedAt.UTC().Format(time.RFC3339), e.Action, scope, e.Source, strings.Join(parts, " "))
	}
	return tw.Flush()
}
