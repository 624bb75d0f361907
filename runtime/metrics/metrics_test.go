package metrics_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/campaignctl/campaignctl/runtime/metrics"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// contactLabels are label names that would carry contact data: none may exist.
var contactLabels = []string{"contact", "contact_key", "key", "email", "address", "recipient", "to", "name", "url"}

// seededRegistry is the daemon's registry (metrics.New and the store
// collector) over a migrated database holding a few enrollments and pending
// messages, with one observation in every vector so each family is exposed.
func seededRegistry(t *testing.T) (*prometheus.Registry, *metrics.Metrics) {
	t.Helper()
	db, url := storetest.Open(t)
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	db.MustExec(`INSERT INTO campaignctl.revisions (plan_hash, plan, applied_at) VALUES ('h', '{}', $1)`, now)
	for i, state := range []string{"active", "active", "exited"} {
		db.MustExec(`INSERT INTO campaignctl.enrollments (kind, object, contact_key, state, hold, enrolled_at, revision_id, updated_at)
			VALUES ('sequence', 'nurture', $1, $2, CASE WHEN $3 THEN 'welcome' END, $4, 1, $4)`, "k"+string(rune('0'+i)), state, i == 1, now)
	}
	for i, due := range []time.Time{now, now.Add(time.Hour), store.HeldForDecision} {
		db.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, due_at, created_at)
			VALUES ('sequence', 'nurture', 'welcome', $1, $1 || '@x.test', $1 || '@x.test', $2, $2)`, "m"+string(rune('0'+i)), due)
	}
	// A campaign's message due half an hour after the sequence's first, and
	// an autoresponder's (the waited lane) a quarter of an hour after it.
	db.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, due_at, created_at)
		VALUES ('campaign', 'launch', '', 'l0', 'l0@x.test', 'l0@x.test', $1, $1)`, now.Add(30*time.Minute))
	db.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, due_at, created_at)
		VALUES ('autoresponder', 'hello', 'hi', 'a0', 'a0@x.test', 'a0@x.test', $1, $1)`, now.Add(15*time.Minute))
	// Failed messages: two of one object's, one of another's, and a sent row
	// that must not count.
	for i, r := range []struct{ kind, object, status string }{
		{"sequence", "nurture", "failed"}, {"sequence", "nurture", "failed"},
		{"campaign", "nurture", "failed"}, {"campaign", "nurture", "sent"},
	} {
		db.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, status, due_at, created_at)
			VALUES ($1, $2, 'welcome', $3, $3 || '@x.test', $3 || '@x.test', $4, $5, $5)`, r.kind, r.object, "f"+string(rune('0'+i)), r.status, now)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	reg.MustRegister(metrics.NewStoreCollector(db))
	m.Messages.WithLabelValues("sequence", "nurture", "welcome", "a", metrics.StatusSent).Inc()
	m.CountEnqueued("sequence", "nurture", []store.StepMessage{{Step: "welcome"}, {Step: "welcome"}})
	m.ReconcileRuns.WithLabelValues("ok").Inc()
	m.ReconcileSeconds.Observe(0.01)
	m.SendSeconds.Observe(0.002)
	m.ObserveAudience(time.Now().Add(-time.Second))
	m.SMTPFailures.WithLabelValues("rcpt", "550", "hard_bounce").Inc()
	m.RelayPauses.WithLabelValues("unavailable").Inc()
	m.InvalidAddresses.WithLabelValues("launch").Inc()
	m.Held.WithLabelValues("sequence", "nurture", "quiet_hours").Inc()
	m.Bounces.WithLabelValues("sales", "hard").Inc()
	m.Complaints.WithLabelValues("sales").Inc()
	m.Inbound.WithLabelValues("reply").Inc()
	return reg, m
}

// TestMetricsFollowPrometheusConventions lints every family with promlint (the
// linter behind `promtool check metrics`) and checks what it does not: types
// by suffix, base units, no contact data in label names, the build info.
func TestMetricsFollowPrometheusConventions(t *testing.T) {
	reg, _ := seededRegistry(t)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		name := mf.GetName()
		seen[name] = mf
		if !strings.HasPrefix(name, "campaignctl_") {
			t.Errorf("%s: not under the campaignctl_ namespace", name)
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("%s: a counter's name ends in _total", name)
			}
		case dto.MetricType_HISTOGRAM:
			if !strings.HasSuffix(name, "_seconds") && !strings.HasSuffix(name, "_bytes") {
				t.Errorf("%s: a histogram here measures seconds or bytes, in its name", name)
			}
		case dto.MetricType_GAUGE:
			if strings.HasSuffix(name, "_total") {
				t.Errorf("%s: a gauge must not end in _total", name)
			}
		}
		for _, bad := range []string{"_milliseconds", "_ms", "_minutes", "_hours", "_kilobytes", "_megabytes"} {
			if strings.Contains(name, bad) {
				t.Errorf("%s: use base units (seconds, bytes)", name)
			}
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				for _, c := range contactLabels {
					if l.GetName() == c {
						t.Errorf("%s: label %q could carry contact data", name, c)
					}
				}
			}
		}
	}
	for _, want := range []string{"campaignctl_build_info", "campaignctl_enrollments", "campaignctl_outbox_pending_messages",
		"campaignctl_outbox_oldest_due_timestamp_seconds", "campaignctl_store_scrape_success",
		"campaignctl_smtp_send_duration_seconds", "campaignctl_reconcile_duration_seconds",
		"campaignctl_audience_materialization_duration_seconds", "campaignctl_messages_total"} {
		if seen[want] == nil {
			t.Errorf("%s is not exposed", want)
		}
	}
	if bi := seen["campaignctl_build_info"]; bi != nil {
		labels := map[string]string{}
		for _, l := range bi.GetMetric()[0].GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if bi.GetMetric()[0].GetGauge().GetValue() != 1 || labels["version"] == "" || !strings.HasPrefix(labels["go_version"], "go") {
			t.Errorf("campaignctl_build_info = %v %v, want 1 with version and go_version", bi.GetMetric()[0].GetGauge().GetValue(), labels)
		}
	}
	runPromtool(t, gatherText(t, reg))
}

// TestStoreCollectorReadsTheStore checks the gauges' values against the rows
// seededRegistry wrote.
func TestStoreCollectorReadsTheStore(t *testing.T) {
	reg, _ := seededRegistry(t)
	want := `
# HELP campaignctl_enrollments Enrollments by object kind, object and state (active, held: active and waiting for an A/B decision, exited), read from the store on scrape.
# TYPE campaignctl_enrollments gauge
campaignctl_enrollments{kind="sequence",object="nurture",state="active"} 1
campaignctl_enrollments{kind="sequence",object="nurture",state="exited"} 1
campaignctl_enrollments{kind="sequence",object="nurture",state="held"} 1
# HELP campaignctl_outbox_pending_messages Messages not yet handed to the relay, by object kind, object and whether they are due (due: waiting, held by policy or retrying) or held for an A/B decision (held), read from the store on scrape.
# TYPE campaignctl_outbox_pending_messages gauge
campaignctl_outbox_pending_messages{kind="autoresponder",object="hello",state="due"} 1
campaignctl_outbox_pending_messages{kind="autoresponder",object="hello",state="held"} 0
campaignctl_outbox_pending_messages{kind="campaign",object="launch",state="due"} 1
campaignctl_outbox_pending_messages{kind="campaign",object="launch",state="held"} 0
campaignctl_outbox_pending_messages{kind="sequence",object="nurture",state="due"} 2
campaignctl_outbox_pending_messages{kind="sequence",object="nurture",state="held"} 1
# HELP campaignctl_outbox_oldest_due_timestamp_seconds Due time (Unix seconds, engine clock) of the earliest pending message not held for an A/B decision, by lane (waited: confirmations and autoresponders; one_to_one: sequences' and workflows' steps; campaign); absent for a lane with none. A value that stops moving while messages wait means that lane's sending is stuck.
# TYPE campaignctl_outbox_oldest_due_timestamp_seconds gauge
campaignctl_outbox_oldest_due_timestamp_seconds{lane="campaign"} 1.7723574e+09
campaignctl_outbox_oldest_due_timestamp_seconds{lane="one_to_one"} 1.7723556e+09
campaignctl_outbox_oldest_due_timestamp_seconds{lane="waited"} 1.7723565e+09
# HELP campaignctl_outbox_failed_messages Messages given up on (outbox status failed: hard bounce, rejected, retries or relay outage past the give-up age, unusable template or policy), by object kind and object, since the object was first sent, read from the store on scrape; absent for an object with none. An object with failed messages is what campaignctl status calls Degraded; the ObjectDegraded alert fires when this grows.
# TYPE campaignctl_outbox_failed_messages gauge
campaignctl_outbox_failed_messages{kind="campaign",object="nurture"} 1
campaignctl_outbox_failed_messages{kind="sequence",object="nurture"} 2
# HELP campaignctl_store_scrape_success 1 when the last read of the store's gauges succeeded within its timeout, 0 when the figures reported are older ones.
# TYPE campaignctl_store_scrape_success gauge
campaignctl_store_scrape_success 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "campaignctl_enrollments", "campaignctl_outbox_pending_messages",
		"campaignctl_outbox_oldest_due_timestamp_seconds", "campaignctl_outbox_failed_messages", "campaignctl_store_scrape_success"); err != nil {
		t.Error(err)
	}
}

// TestCountEnqueuedCountsBySteps: an advance's messages are counted under
// their own steps, and a nil Metrics (a daemon without metrics) is no-op.
func TestCountEnqueuedCountsBySteps(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	m.CountEnqueued("sequence", "nurture", []store.StepMessage{{Step: "week1"}, {Step: "week1"}, {Step: "week2"}, {Step: "week1"}})
	if got := testutil.ToFloat64(m.Enqueued.WithLabelValues("sequence", "nurture", "week1")); got != 3 {
		t.Errorf("week1: %v enqueued, want 3", got)
	}
	if got := testutil.ToFloat64(m.Enqueued.WithLabelValues("sequence", "nurture", "week2")); got != 1 {
		t.Errorf("week2: %v enqueued, want 1", got)
	}
	var none *metrics.Metrics
	none.CountEnqueued("sequence", "nurture", []store.StepMessage{{Step: "week1"}})
}

// stuckQuerier answers nothing until the context ends.
type stuckQuerier struct{}

func (stuckQuerier) QueryContext(ctx context.Context, _ string, _ ...any) (*sql.Rows, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// failingQuerier fails at once.
type failingQuerier struct{}

func (failingQuerier) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, errors.New("connection refused")
}

// TestStoreCollectorTimesOut: a database that does not answer makes the
// scrape return within the timeout, saying so, instead of hanging it.
func TestStoreCollectorTimesOut(t *testing.T) {
	for name, q := range map[string]metrics.Querier{"stuck": stuckQuerier{}, "failing": failingQuerier{}} {
		c := metrics.NewStoreCollector(q)
		c.Timeout = 100 * time.Millisecond
		reg := prometheus.NewRegistry()
		reg.MustRegister(c)
		start := time.Now()
		want := "# HELP campaignctl_store_scrape_success 1 when the last read of the store's gauges succeeded within its timeout, 0 when the figures reported are older ones.\n# TYPE campaignctl_store_scrape_success gauge\ncampaignctl_store_scrape_success 0\n"
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "campaignctl_store_scrape_success"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: the scrape took %s with a 100ms timeout", name, d)
		}
	}
}

func gatherText(t *testing.T, reg *prometheus.Registry) []byte {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// runPromtool runs `promtool check metrics` on an exposition. promtool comes
// from scripts/promtool.sh, which installs Debian's prometheus package when it
// can; without it the test fails under CAMPAIGNCTL_REQUIRE_DB=1 (make test)
// and is skipped otherwise.
func runPromtool(t *testing.T, exposition []byte) {
	t.Helper()
	out, err := exec.Command("bash", "../../scripts/promtool.sh").Output()
	if err != nil {
		msg := "promtool is not available (bash scripts/promtool.sh: " + err.Error() + "); install Debian's prometheus package"
		if os.Getenv(storetest.EnvRequireDB) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(strings.TrimSpace(string(out)), "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	if res, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, res)
	}
}
