package segment_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// TestMachineOpensAndClicksAreNotEngagement: the tracking endpoints store the
// opens and clicks a machine made (Apple's privacy proxy fetching the pixel at
// delivery, Safe Links following every link) with properties.machine = true.
// Workflow branches and A/B tests leave them out; segment predicates counted
// them, so a list behind a link scanner looked as if everyone clicked. Each
// lead below has a story; every predicate is asked on both paths.
func TestMachineOpensAndClicksAreNotEngagement(t *testing.T) {
	db := openLeads(t, 10, 3)
	ctx := context.Background()
	if _, err := (&store.Store{DB: db}).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const (
		human   = `{}`
		notMach = `{"machine": false}`
		scanner = `{"machine": true, "machine_reason": "scanner", "user_agent": "Microsoft Safe Links"}`
		apple   = `{"machine": true, "machine_reason": "prefetch", "user_agent": "Mozilla/5.0"}`
	)
	type event struct {
		key, typ, props string
		ago             time.Duration
	}
	events := []event{
		{"1", "click", scanner, day},        // a scanner's click only
		{"2", "click", human, day},          // a reader's click
		{"3", "click", scanner, day},        // both
		{"3", "click", human, 2 * day},      //
		{"4", "open", apple, day},           // Apple's prefetch only
		{"5", "open", human, day},           // a reader's open
		{"6", "click", human, day},          // two clicks of a reader, three of a scanner
		{"6", "click", human, 3 * day},      //
		{"6", "click", scanner, day},        //
		{"6", "click", scanner, day},        //
		{"6", "click", scanner, day},        //
		{"7", "page_view", human, 10 * day}, // a page view, and a scanner's click
		{"7", "click", scanner, day},        //
		{"8", "click", notMach, day},        // machine written out as false
		{"10", "page_view", human, 200 * day},
		{"10", "click", scanner, 5 * day},
	}
	for _, e := range events {
		if _, err := db.ExecContext(ctx, `INSERT INTO campaignctl.events (model, contact_key, type, campaign, step, occurred_at, properties)
			VALUES ('lead', $1, $2, 'newsletter', 'week1', $3, $4)`, e.key, e.typ, testNow.Add(-e.ago), e.props); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		filter string
		want   []string
	}{
		{`lead.clicked(days(30))`, []string{"2", "3", "6", "8"}},
		{`lead.clicked("newsletter", "week1")`, []string{"2", "3", "6", "8"}},
		{`lead.opened(days(30))`, []string{"2", "3", "5", "6", "8"}},
		{`lead.opened("newsletter", "")`, []string{"2", "3", "5", "6", "8"}},
		{`!lead.opened(days(30))`, []string{"1", "4", "7", "9", "10"}},
		{`lead.event_count("click", days(30)) >= 2`, []string{"6"}},
		{`lead.event_count("click", days(30)) == 1`, []string{"2", "3", "8"}},
		{`lead.event_count("open", days(30)) > 0`, []string{"5"}},
		// Not a constant comparison: a correlated count on the pushdown.
		{`lead.event_count("click", days(30)) + lead.event_count("page_view", days(30)) >= 2`, []string{"6"}},
		// A machine click is no sign of life: it does not end inactivity.
		{`lead.inactive_for(days(30))`, []string{"1", "4", "5", "9", "10"}},
		{`!lead.inactive_for(days(30))`, []string{"2", "3", "6", "7", "8"}},
		{`lead.event_count("page_view", days(30)) >= 1`, []string{"7"}},
	}
	var segs []plan.Segment
	for i, c := range cases {
		segs = append(segs, planSegment("m"+strconv.Itoa(i), c.filter))
	}
	ev, err := segment.New(&plan.Plan{Models: []plan.Model{leadModel()}, Segments: segs})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		name := "m" + strconv.Itoa(i)
		for _, e := range []*segment.Evaluator{ev, ev.ForcePath(segment.InProcess)} {
			got, path := keys(t, e, db, name, 50)
			if !slices.Equal(got, c.want) {
				t.Errorf("%s on %s: %v, want %v", c.filter, path, got, c.want)
			}
			if e == ev && path != segment.Pushdown {
				t.Errorf("%s: %s, want the pushdown", c.filter, path)
			}
		}
	}
}

// TestOtherEventTypesReadNoProperty: only opens and clicks are ever flagged, so
// the SQL of a predicate over other types is what it was before machine events
// were left out, on both paths (no properties read, the index-only scans kept),
// and a predicate over opens and clicks names the flag.
func TestOtherEventTypesReadNoProperty(t *testing.T) {
	unchanged := []struct{ filter, pushdown, inProcess string }{
		{`lead.event_count("page_view", "makeup", days(14)) >= 3`,
			`SELECT "id", "email_from" FROM "crm_lead" WHERE EXISTS (SELECT 1 FROM (SELECT campaignctl_ev.contact_key FROM "campaignctl"."events" AS campaignctl_ev WHERE campaignctl_ev.model = $1::text AND campaignctl_ev.type = $2::text AND campaignctl_ev.topic = $3::text AND campaignctl_ev.occurred_at <= $4::timestamptz AND campaignctl_ev.occurred_at > $5::timestamptz GROUP BY campaignctl_ev.contact_key HAVING count(*) >= $6::bigint) AS campaignctl_evc WHERE campaignctl_evc.contact_key = ("crm_lead"."id")::text) ORDER BY "id"`,
			`SELECT "id", "email_from", COALESCE(campaignctl_j0.campaignctl_n, 0) FROM "crm_lead" LEFT JOIN (SELECT campaignctl_ev.contact_key AS campaignctl_key, count(*) AS campaignctl_n FROM "campaignctl"."events" AS campaignctl_ev WHERE campaignctl_ev.model = $1::text AND campaignctl_ev.type = $2::text AND campaignctl_ev.topic = $3::text AND campaignctl_ev.occurred_at <= $4::timestamptz AND campaignctl_ev.occurred_at > $5::timestamptz GROUP BY campaignctl_ev.contact_key) AS campaignctl_j0 ON campaignctl_j0.campaignctl_key = ("crm_lead"."id")::text`},
		{`lead.event_count("form_submit", days(90)) > lead.priority`,
			`SELECT "id", "email_from" FROM "crm_lead" WHERE ((SELECT count(*) FROM "campaignctl"."events" AS campaignctl_ev WHERE campaignctl_ev.model = $1::text AND campaignctl_ev.contact_key = ("crm_lead"."id")::text AND campaignctl_ev.type = $2::text AND campaignctl_ev.occurred_at <= $3::timestamptz AND campaignctl_ev.occurred_at > $4::timestamptz) > COALESCE("priority", 0)) ORDER BY "id"`,
			`SELECT "id", "email_from", "priority", COALESCE(campaignctl_j0.campaignctl_n, 0) FROM "crm_lead" LEFT JOIN (SELECT campaignctl_ev.contact_key AS campaignctl_key, count(*) AS campaignctl_n FROM "campaignctl"."events" AS campaignctl_ev WHERE campaignctl_ev.model = $1::text AND campaignctl_ev.type = $2::text AND campaignctl_ev.occurred_at <= $3::timestamptz AND campaignctl_ev.occurred_at > $4::timestamptz GROUP BY campaignctl_ev.contact_key) AS campaignctl_j0 ON campaignctl_j0.campaignctl_key = ("crm_lead"."id")::text`},
	}
	for _, c := range unchanged {
		ev, x := explainOne(t, c.filter)
		ix, err := ev.ForcePath(segment.InProcess).Explain("s", testNow)
		if err != nil {
			t.Fatal(err)
		}
		if x.SQL != c.pushdown {
			t.Errorf("%s: pushdown SQL changed:\n got %s\nwant %s", c.filter, x.SQL, c.pushdown)
		}
		if ix.SQL != c.inProcess {
			t.Errorf("%s: in-process SQL changed:\n got %s\nwant %s", c.filter, ix.SQL, c.inProcess)
		}
	}
	const flag = `coalesce(campaignctl_ev.properties->>'machine', '') <> 'true'`
	// Once per flagged type: opened reads opens and clicks as one branch per
	// type (see TestPeopleEngagementReadsTheOpenClickIndex).
	for _, c := range []struct {
		filter string
		flags  int
	}{
		{`lead.clicked(days(30))`, 1},
		{`lead.opened("c", "s")`, 2},
		{`lead.event_count("click", days(7)) > lead.priority`, 1},
		{`lead.inactive_for(days(90))`, 1},
	} {
		ev, x := explainOne(t, c.filter)
		ix, err := ev.ForcePath(segment.InProcess).Explain("s", testNow)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(x.SQL, flag) != c.flags || strings.Count(ix.SQL, flag) != c.flags {
			t.Errorf("%s: want the machine flag %d times on each path:\npushdown: %s\nin-process: %s", c.filter, c.flags, x.SQL, ix.SQL)
		}
	}
}
