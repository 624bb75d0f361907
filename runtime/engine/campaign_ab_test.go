package engine_test

import (
	"bytes"
	"encoding/json"
	"math"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/abtest"
)

// A campaign's own A/B test, on a real Postgres and SMTP relay: the test group
// gets its variants at once (split within binomial tolerance, the same on two
// replicas), the remainder waits for the decision, the injected clicks decide
// it, and the remainder receives only the winner; nobody gets two messages.
func TestCampaignABTestSendsTheWinnerToTheRest(t *testing.T) {
	t.Parallel()
	const n = 2000
	nb := setupNurture(t, n)
	r2 := nb.replica(t, "r1")
	ab := &plan.ABTest{TestPercent: 20, Metric: "click_rate", DecideAfter: "4h", Inconclusive: "send_first",
		Variants: []plan.Variant{{Name: "a", Subject: "Subject A"}, {Name: "b", Subject: "Subject B"}}}
	nb.apply(t, launchPlan(ab))

	// The audience, one address per person, computed here.
	audience := map[string]string{} // address → first key
	for _, l := range nb.leads {
		addr := strings.ToLower(strings.TrimSpace(l.email))
		if _, dup := audience[addr]; l.match && !dup {
			audience[addr] = strconv.Itoa(l.id)
		}
	}
	nb.step(t, nb.eng, r2)
	nb.step(t, nb.eng, r2)

	subjects := func() map[string][]string {
		out := map[string][]string{}
		for _, m := range nb.relay.Messages() {
			msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
			if err != nil {
				t.Fatal(err)
			}
			for _, to := range m.To {
				out[strings.ToLower(to)] = append(out[strings.ToLower(to)], msg.Header.Get("Subject"))
			}
		}
		return out
	}
	first := subjects()
	inTest := 0
	byVariant := map[string][]string{}
	for addr, key := range audience {
		v, ok := abtest.Assign("campaign", "launch", "", key, ab)
		got := first[addr]
		if ok {
			inTest++
			byVariant[v] = append(byVariant[v], key)
			want := map[string]string{"a": "Subject A", "b": "Subject B"}[v]
			if len(got) != 1 || got[0] != want {
				t.Errorf("%s (test group, variant %s) received %v, want [%s]", addr, v, got, want)
			}
		} else if len(got) != 0 {
			t.Errorf("%s (remainder) received %v before the decision", addr, got)
		}
	}
	mean, sd := 0.2*float64(len(audience)), math.Sqrt(float64(len(audience))*0.2*0.8)
	if math.Abs(float64(inTest)-mean) > 4*sd {
		t.Errorf("%d of %d in the test group, want within 4σ of %.0f", inTest, len(audience), mean)
	}
	if d := math.Abs(float64(len(byVariant["a"]) - len(byVariant["b"]))); d > 4*math.Sqrt(float64(inTest)*0.25)*2 {
		t.Errorf("split a=%d b=%d, want within binomial tolerance", len(byVariant["a"]), len(byVariant["b"]))
	}

	// B's readers click far more often.
	clicks := func(keys []string, every int) {
		for i, k := range keys {
			if i%every == 0 {
				nb.st.DB.MustExec(`INSERT INTO campaignctl.events (occurred_at, model, contact_key, type, campaign, step) VALUES ($1, 'lead', $2, 'click', 'launch', '')`,
					nb.clock.Now().Add(time.Hour), k)
			}
		}
	}
	clicks(byVariant["a"], 20)
	clicks(byVariant["b"], 3)
	nb.clock.Advance(3 * time.Hour)
	nb.step(t, nb.eng, r2)
	if got := len(nb.relay.Messages()); got != inTest {
		t.Fatalf("before decide_after the remainder still waits: %d messages, want %d", got, inTest)
	}
	nb.clock.Advance(90 * time.Minute)
	for i := 0; i < 3; i++ {
		nb.step(t, nb.eng, r2)
	}
	var decision, winner string
	if err := nb.st.DB.QueryRow(`SELECT decision, winner FROM campaignctl.ab_decisions WHERE kind = 'campaign' AND object = 'launch'`).Scan(&decision, &winner); err != nil {
		t.Fatal(err)
	}
	if decision != abtest.DecisionWinner || winner != "b" {
		t.Fatalf("decision %q winner %q, want the winner b", decision, winner)
	}
	final := subjects()
	for addr, key := range audience {
		got := final[addr]
		if len(got) != 1 {
			t.Errorf("%s received %d messages, want exactly one", addr, len(got))
			continue
		}
		if _, ok := abtest.Assign("campaign", "launch", "", key, ab); !ok && got[0] != "Subject B" {
			t.Errorf("%s (remainder) received %q, want the winner's subject", addr, got[0])
		}
	}
	if len(final) != len(audience) {
		t.Errorf("%d addresses received mail, want the audience's %d", len(final), len(audience))
	}
}

// Removing a campaign while its remainder waits for the A/B decision cancels
// the remainder, like any pending mail: nobody gets it afterwards.
func TestRemovedCampaignCancelsItsHeldRemainder(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 300)
	p := nurturePlan()
	p.Sequences = nil
	p.Templates = append(p.Templates, plan.Template{Name: "launch", Subject: "Subject A", Text: "Hi {{ .lead.name }} {{ .unsubscribe_url }}", Class: plan.ClassMarketing})
	p.Campaigns = []plan.Campaign{{Name: "launch", Segment: "restock_waitlist", Template: "launch", Sender: "warehouse", Class: plan.ClassMarketing,
		ABTest: &plan.ABTest{TestPercent: 20, Metric: "click_rate", DecideAfter: "4h", Inconclusive: "send_first",
			Variants: []plan.Variant{{Name: "a", Subject: "Subject A"}, {Name: "b", Subject: "Subject B"}}}}}
	p.Finalize()
	nb.apply(t, p)
	nb.step(t, nb.eng)
	nb.step(t, nb.eng)
	sentBefore := len(nb.relay.Messages())
	var held int
	if err := nb.st.DB.Get(&held, `SELECT count(*) FROM campaignctl.outbox WHERE campaign = 'launch' AND status = 'pending'`); err != nil {
		t.Fatal(err)
	}
	if sentBefore == 0 || held == 0 {
		t.Fatalf("want a test group sent and a remainder held, got %d sent, %d held", sentBefore, held)
	}
	removed := nurturePlan()
	removed.Sequences = nil
	removed.Finalize()
	nb.apply(t, removed)
	nb.clock.Advance(5 * time.Hour) // past decide_after: nothing is decided for a removed campaign
	nb.step(t, nb.eng)
	nb.step(t, nb.eng)
	var cancelled, pending int
	if err := nb.st.DB.QueryRow(`SELECT count(*) FILTER (WHERE status = 'cancelled'), count(*) FILTER (WHERE status = 'pending')
		FROM campaignctl.outbox WHERE campaign = 'launch'`).Scan(&cancelled, &pending); err != nil {
		t.Fatal(err)
	}
	if cancelled != held || pending != 0 {
		t.Errorf("after the removal: %d cancelled, %d pending; want the %d held cancelled", cancelled, pending, held)
	}
	if n := len(nb.relay.Messages()); n != sentBefore {
		t.Errorf("%d messages went out after the removal", n-sentBefore)
	}
}

// A campaign's test judged on revenue: each test contact's purchase events'
// value since its message, summed in Postgres. Variant a's readers buy more
// and spend more; a purchase before the message, or without a numeric value,
// counts for nothing. The decision names a and carries both variants' mean
// revenue; the remainder gets a.
func TestCampaignABTestDecidedOnRevenue(t *testing.T) {
	nb, ab := launchRevenueTest(t, 1000, 40, "4h", "send_all")

	byVariant := map[string][]string{}
	seen := map[string]bool{}
	for _, l := range nb.leads {
		addr := strings.ToLower(strings.TrimSpace(l.email))
		if !l.match || seen[addr] {
			continue
		}
		seen[addr] = true
		if v, ok := abtest.Assign("campaign", "launch", "", strconv.Itoa(l.id), ab); ok {
			byVariant[v] = append(byVariant[v], strconv.Itoa(l.id))
		}
	}
	if len(byVariant["a"]) < 30 || len(byVariant["b"]) < 30 {
		t.Fatalf("test group a=%d b=%d: too small for this test", len(byVariant["a"]), len(byVariant["b"]))
	}
	buy := func(key string, at time.Time, props string) {
		nb.st.DB.MustExec(`INSERT INTO campaignctl.events (occurred_at, model, contact_key, type, properties) VALUES ($1, 'lead', $2, 'purchase', $3)`, at, key, props)
	}
	after := nb.clock.Now().Add(time.Hour)
	for i, k := range byVariant["a"] {
		if i%2 == 0 {
			buy(k, after, `{"value": 80}`)
		}
	}
	for i, k := range byVariant["b"] {
		if i%5 == 0 {
			buy(k, after, `{"value": 40}`)
		}
		// Neither counts: before the message, and a value that is not a number.
		buy(k, nb.clock.Now().Add(-time.Hour), `{"value": 1000}`)
		buy(k, after, `{"value": "1000"}`)
	}
	nb.clock.Advance(5 * time.Hour)
	for i := 0; i < 3; i++ {
		nb.step(t, nb.eng)
	}
	var decision, winner, detail string
	if err := nb.st.DB.QueryRow(`SELECT decision, winner, detail::text FROM campaignctl.ab_decisions WHERE kind = 'campaign' AND object = 'launch'`).Scan(&decision, &winner, &detail); err != nil {
		t.Fatal(err)
	}
	if decision != abtest.DecisionWinner || winner != "a" {
		t.Fatalf("decision %q winner %q (%s), want the winner a", decision, winner, detail)
	}
	na, nbv := float64(len(byVariant["a"])), float64(len(byVariant["b"]))
	wantA := 80 * math.Ceil(na/2) / na
	wantB := 40 * math.Ceil(nbv/5) / nbv
	var d struct {
		Rates map[string]abtest.Interval `json:"Rates"`
	}
	if err := json.Unmarshal([]byte(detail), &d); err != nil {
		t.Fatalf("decision detail %s: %v", detail, err)
	}
	if math.Abs(d.Rates["a"].Value-wantA) > 1e-9 || math.Abs(d.Rates["b"].Value-wantB) > 1e-9 {
		t.Errorf("mean revenue a=%v b=%v, want %v and %v", d.Rates["a"].Value, d.Rates["b"].Value, wantA, wantB)
	}
}

// launchPlan is the nurture rig's plan with one campaign, launch, to the
// restock waitlist, carrying ab.
func launchPlan(ab *plan.ABTest) *plan.Plan {
	p := nurturePlan()
	p.Sequences = nil
	p.Templates = append(p.Templates, plan.Template{Name: "launch", Subject: "Subject A", Text: "Hi {{ .lead.name }} {{ .unsubscribe_url }}", Class: plan.ClassMarketing})
	p.Campaigns = []plan.Campaign{{Name: "launch", Segment: "restock_waitlist", Template: "launch", Sender: "warehouse", Class: plan.ClassMarketing, ABTest: ab}}
	p.Finalize()
	return p
}

// A revenue test where no test contact has a purchase event (the shop sends
// its orders under another event type) has no winner, and its decision says
// which events revenue reads.
func TestRevenueTestWithoutPurchasesSaysWhy(t *testing.T) {
	nb, _ := launchRevenueTest(t, 300, 50, "1h", "send_first")
	nb.st.DB.MustExec(`INSERT INTO campaignctl.events (occurred_at, model, contact_key, type, properties)
		SELECT $1, 'lead', contact_key, 'order_placed', '{"value": 50}' FROM campaignctl.outbox WHERE variant <> ''`, nb.clock.Now().Add(time.Minute))
	nb.clock.Advance(2 * time.Hour)
	for i := 0; i < 3; i++ {
		nb.step(t, nb.eng)
	}
	var decision, reason string
	if err := nb.st.DB.QueryRow(`SELECT decision, reason FROM campaignctl.ab_decisions WHERE kind = 'campaign' AND object = 'launch'`).Scan(&decision, &reason); err != nil {
		t.Fatal(err)
	}
	if decision == abtest.DecisionWinner || !strings.Contains(reason, "no test contact has a purchase event") {
		t.Errorf("decision %q, reason %q; want no winner and a reason naming the purchase events revenue reads", decision, reason)
	}
}

// launchRevenueTest applies the launch campaign with a revenue A/B test of
// variants a and b over leads leads and runs the two passes that send its
// test group; it returns the bundle and the test.
func launchRevenueTest(t *testing.T, leads, testPercent int, decideAfter, inconclusive string) (*nurtureBundle, *plan.ABTest) {
	t.Helper()
	nb := setupNurture(t, leads)
	ab := &plan.ABTest{TestPercent: testPercent, Metric: "revenue", DecideAfter: decideAfter, Inconclusive: inconclusive,
		Variants: []plan.Variant{{Name: "a", Subject: "Subject A"}, {Name: "b", Subject: "Subject B"}}}
	nb.apply(t, launchPlan(ab))
	nb.step(t, nb.eng)
	nb.step(t, nb.eng)
	return nb, ab
}
