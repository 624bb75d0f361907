package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtpcapture"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// The object the per-object dashboard is evaluated for: the seed's nurture
// sequence, which has an A/B test on its first step (so the variant panel has
// data) and enrollments.
const (
	dashboardKind   = "sequence"
	dashboardObject = "restock_nurture"
)

// alertWitnesses: an alert's condition has no series while things are
// healthy, so "returns data" is asserted on the expression it compares (the
// witness) instead; the condition itself must still parse and its rule must
// evaluate without error. An alert missing from this table must return data
// itself. CampaignctlObjectDegraded is not here: the run makes it fire (the
// capture relay refuses recipients of campaigns that keep sending).
var alertWitnesses = map[string][]string{
	"CampaignctlBounceRateHigh":      {`campaignctl:sender_hard_bounce_rate:1d`},
	"CampaignctlComplaintRateHigh":   {`campaignctl:sender_complaint_rate:1d`},
	"CampaignctlBacklogNotShrinking": {`campaignctl:outbox_due_messages`, `delta(campaignctl:outbox_due_messages[30m])`},
	"CampaignctlNoLeader":            {`max(campaignctl_leader)`},
	"CampaignctlOutcomesGivenUp":     {`sum(campaignctl_outcomes_given_up_total)`},
}

// panelsWithoutData: panel queries allowed to return nothing in this run,
// each with the reason, keyed by dashboard file and panel title. Their
// expressions must still parse, and the metrics they read are checked to be
// exported by deploy/grafana/gen's tests.
var panelsWithoutData = map[string]string{
	"campaignctl-overview.json/Relay pauses": "the relay never pauses in this run (campaignctl_relay_pauses_total has no series until it does); the relay-down path is covered by runtime/engine's fault tests",
	"campaignctl-object.json/Cancelled":      "none of the nurture's messages is cancelled in this run (other objects' are: the overview's Messages by outcome has status cancelled); cancellation is covered by runtime/engine's tests",
}

// engagementPanels are the object page's opens and clicks: the test opens and
// clicks a tracked message, whose object it substitutes for $kind and $object
// in them (the page's object, the nurture, is text only).
var engagementPanels = map[string]bool{
	"campaignctl-object.json/Opens (people)":                    true,
	"campaignctl-object.json/Clicks (people)":                   true,
	"campaignctl-object.json/Machine opens and clicks":          true,
	"campaignctl-object.json/Funnel: opens and clicks per step": true,
}

// TestDashboardQueriesOnRealPrometheus is issue 12's acceptance for the
// dashboards and rules: a real Prometheus (Debian's package) scrapes a real
// daemon every second while it sends the seed campaigns over real SMTP to a
// capture server that refuses a few recipients (550: hard bounces, failed
// messages, a degraded object; 451: retries and a due backlog); the test
// sends one asynchronous bounce and one complaint to the daemon's inbound
// listener and opens one message; the degraded-object alert must fire, for
// objects the store says have failed messages. Then every panel query of both generated
// dashboards (template variables substituted with real values, the variables'
// own label_values checked to offer them) and every recording and alerting
// expression of deploy/prometheus/rules.yml is evaluated through Prometheus'
// HTTP API: each must parse and return data, except the listed alert
// conditions (whose witness must) and panelsWithoutData. Every result is saved
// to .data/artifacts/dashboard-queries.json.
func TestDashboardQueriesOnRealPrometheus(t *testing.T) {
	ownProcess(t)
	t.Parallel()
	skipInShortMode(t)
	start := time.Now()
	promBin := findPrometheus(t)
	e := setupE2E(t)
	// Deterministic refusals by address: about one recipient in seven bounces
	// hard, one in seven is deferred (and retried after a backoff).
	e.smtp.RejectRecipient(func(rcpt string) *gosmtp.SMTPError {
		switch crc32.ChecksumIEEE([]byte(strings.ToLower(rcpt))) % 7 {
		case 0:
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case 1:
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	})
	// A lead in the reactivation campaign's audience whose address is
	// malformed: left out and counted (campaignctl_invalid_addresses_total).
	e.db.MustExec(`INSERT INTO crm_lead (id, name, email_from, stage, lost_reason, active, blacklisted, created_at, owner, time_zone)
		VALUES (99001, 'Malformed', 'not-an-address@', 'Lost', 'Not enough stock', true, false, '2024-06-01T00:00:00Z', 'bob@acme.example', 'Europe/Paris')`)
	mustRun(t, 0, "apply", "--db", e.url, e.plan)

	dir := t.TempDir()
	daemonPort, inboundPort := freePort(t), freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", daemonPort)
	prom := startPrometheus(t, promBin, dir, fmt.Sprintf("127.0.0.1:%d", daemonPort))

	bin := buildKillBinary(t)
	// A minute of engine time per second from a fixed start: the per-minute
	// rate limit lets a sender go on every second, while the A/B remainder
	// (decided after 4 hours: 4 minutes here) stays held, a backlog, and
	// quiet hours hold the contacts for whom 14:00 UTC is night.
	d := startProcess(t, 20*time.Second, append(os.Environ(), "CAMPAIGNCTL_SECRET=prometheus-test-secret-0123456789"),
		bin, "serve", "--db", e.url, "--smtp", e.addr, "--listen", fmt.Sprintf("127.0.0.1:%d", daemonPort),
		"--interval", "50ms", "--public-url", base, "--clock-start", "2026-12-02T14:00:00Z", "--clock-speed", "60",
		"--inbound", fmt.Sprintf("127.0.0.1:%d", inboundPort), "--bounce-domain", "bounces.acme.example",
		// Prometheus scrapes every second; the store's gauges follow it
		// instead of lagging its scrapes by up to 10 s (the default).
		"--metrics-store-interval", "1s")
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\ndaemon log:\n%s\nprometheus log:\n%s", append(args, tail(d.output(), 3000), tail(prom.output(), 2000))...)
	}

	// Mail out, including to the nurture's test group, and a hard bounce.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var failed, nurture int
		e.db.Get(&failed, `SELECT count(*) FROM campaignctl.outbox WHERE status = 'failed' AND kind = $1 AND campaign = $2`, dashboardKind, dashboardObject)
		e.db.Get(&nurture, `SELECT count(*) FROM campaignctl.outbox WHERE status = 'sent' AND kind = $1 AND campaign = $2`, dashboardKind, dashboardObject)
		if failed > 0 && nurture > 0 {
			break
		}
		if time.Now().After(deadline) {
			var rows []struct {
				Status string `db:"status"`
				Due    string `db:"due"`
				N      int    `db:"n"`
			}
			e.db.Select(&rows, `SELECT status, min(due_at)::text AS due, count(*) AS n FROM campaignctl.outbox WHERE kind = $1 AND campaign = $2 GROUP BY 1`, dashboardKind, dashboardObject)
			t.Logf("outbox of %s %s: %+v", dashboardKind, dashboardObject, rows)
			fail("within 30s: %d messages at the relay, %d of %s %s sent, %d failed; want some of each", e.smtp.Count(), nurture, dashboardKind, dashboardObject, failed)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Engagement the daemon can only learn from outside: one asynchronous
	// bounce and one complaint through the inbound listener, one open.
	msgs := e.smtp.Messages()
	if len(msgs) < 2 {
		fail("only %d messages captured", len(msgs))
	}
	inbound := fmt.Sprintf("127.0.0.1:%d", inboundPort)
	for i, report := range []func(sent sentMessage) string{bounceReport, complaintReport} {
		sent := sentOf(t, msgs[i])
		if err := smtp.SendMail(inbound, nil, "", []string{sent.returnPath}, []byte(strings.ReplaceAll(report(sent), "\n", "\r\n"))); err != nil {
			fail("delivering report %d to the inbound listener: %v", i, err)
		}
	}
	// A person opens a tracked message (the nurture is text only: no pixel,
	// no tracked link) and clicks its first link; Apple Mail's privacy
	// prefetch opens it too (a machine open, counted apart). The page's
	// engagement panels are evaluated for that message's object.
	pixelRE := regexp.MustCompile(regexp.QuoteMeta(base) + `/o/[A-Za-z0-9_.~-]+`)
	clickRE := regexp.MustCompile(regexp.QuoteMeta(base) + `/c/[A-Za-z0-9_.~-]+`)
	var pixel, click []byte
	engagedKind, engagedObject := "campaign", ""
	for _, m := range msgs {
		body := decodeQP(m.Data)
		if pixel, click = pixelRE.Find(body), clickRE.Find(body); pixel != nil && click != nil {
			h := headerOf(m.Data)
			if k := regexp.MustCompile(`(?m)^X-Campaignctl-Kind: (\S+)\r?$`).FindStringSubmatch(h); k != nil {
				engagedKind = k[1]
			}
			if o := regexp.MustCompile(`(?m)^X-Campaignctl-Campaign: (\S+)\r?$`).FindStringSubmatch(h); o != nil {
				engagedObject = o[1]
			}
			break
		}
	}
	if pixel == nil || click == nil || engagedObject == "" {
		fail("no captured message has an open pixel, a tracked link and its object's header")
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, r := range []struct{ url, ua string }{
		{string(pixel), "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"},
		{string(pixel), "Mozilla/5.0"},
		{string(click), "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"},
	} {
		req, _ := http.NewRequest(http.MethodGet, r.url, nil)
		req.Header.Set("User-Agent", r.ua)
		resp, err := noFollow.Do(req)
		if err != nil {
			fail("GET %s: %v", r.url, err)
		}
		resp.Body.Close()
	}

	// Wait until Prometheus has scraped what the run produced (the store's
	// gauges are read at most every second here) and evaluated the rules.
	for _, q := range []string{
		`campaignctl_bounces_total`, `campaignctl_complaints_total`,
		`campaignctl_tracking_events_total{type="click"}`,
		`campaignctl_outbox_failed_messages{kind="` + dashboardKind + `",object="` + dashboardObject + `"}`,
		`campaignctl_outbox_pending_messages`, `campaignctl_enrollments`, `campaignctl_smtp_failures_total`,
		// Objects whose failures grew while Prometheus watched: the
		// rate-limited campaigns keep mailing refused recipients.
		`ALERTS{alertname="CampaignctlObjectDegraded",alertstate="firing"}`,
		// Reconcile passes after the first (which materializes the
		// audiences and takes seconds here), so its rates are not 0/0.
		`increase(campaignctl_reconcile_duration_seconds_count[1m]) > 1`,
	} {
		if strings.HasPrefix(q, "ALERTS") {
			// The alert fires when an object's failures grow while
			// Prometheus watches. The refusals above may all have come
			// before its first scrape of the (cached) gauge when the
			// machine is busy, so from here on the relay refuses every
			// recipient: whatever the daemon sends next fails.
			e.smtp.RejectRecipient(func(string) *gosmtp.SMTPError {
				return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			})
			t.Logf("relay refuses every recipient from now on (%d messages accepted so far)", e.smtp.Count())
		}
		if err := prom.waitFor(q, 40*time.Second); err != nil {
			fail("%v", err)
		}
	}
	// Two more scrapes so each rate has samples after the last change.
	time.Sleep(2 * time.Second)

	vars := map[string]string{
		"kind": dashboardKind, "object": dashboardObject, "datasource": "prometheus",
		"__rate_interval": "1m",
		"__range":         fmt.Sprintf("%ds", int(time.Since(prom.started).Seconds())+60),
	}
	var results []queryResult
	evaluate := func(source, raw string, mustHaveData bool, why string) {
		t.Helper()
		r := prom.query(t, substitute(raw, vars))
		r.Source, r.Raw = source, raw
		r.Asserted = "parses and returns data"
		if !mustHaveData {
			r.Asserted = "parses (no data required: " + why + ")"
		}
		results = append(results, r)
		switch {
		case r.Status != "success":
			t.Errorf("%s: %s: %s %s", source, r.Expr, r.ErrorType, r.Error)
		case mustHaveData && r.Series == 0:
			t.Errorf("%s: %s returned no data", source, r.Expr)
		}
	}

	files, _ := filepath.Glob("../../deploy/grafana/dashboards/*.json")
	if len(files) < 2 {
		t.Fatalf("want the overview and object dashboards in deploy/grafana/dashboards, found %v", files)
	}
	for _, file := range files {
		d := readDashboard(t, file)
		name := filepath.Base(file)
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			want, ok := vars[v.Name]
			if !ok {
				t.Errorf("%s: variable %s has no test value", name, v.Name)
				continue
			}
			offered := prom.labelValues(t, substitute(v.Query, vars))
			results = append(results, queryResult{Source: name + " variable " + v.Name, Raw: v.Query, Expr: substitute(v.Query, vars),
				Status: "success", Series: len(offered), Asserted: "offers " + want, Labels: offered})
			if !slices.Contains(offered, want) {
				t.Errorf("%s: variable %s (%s) offers %v, not %q", name, v.Name, v.Query, offered, want)
			}
		}
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				why, allowed := panelsWithoutData[name+"/"+p.Title]
				expr := q.Expr
				if engagementPanels[name+"/"+p.Title] {
					// For the object that was opened and clicked.
					expr = strings.NewReplacer("$kind", engagedKind, "$object", engagedObject).Replace(expr)
				}
				evaluate(fmt.Sprintf("%s panel %q query %s", name, p.Title, q.RefID), expr, !allowed, why)
			}
		}
	}

	rules := prom.rules(t)
	if len(rules) == 0 {
		fail("Prometheus loaded no rules from deploy/prometheus/rules.yml")
	}
	seenAlerts := map[string]bool{}
	for _, r := range rules {
		if r.Health != "ok" || r.LastError != "" {
			t.Errorf("rule %s: health %q, last error %q", r.Name, r.Health, r.LastError)
		}
		if r.Type == "recording" {
			evaluate("rules.yml record "+r.Name, r.Query, true, "")
			evaluate("rules.yml record "+r.Name+" (the recorded series)", r.Name, true, "")
			continue
		}
		seenAlerts[r.Name] = true
		witnesses, quiet := alertWitnesses[r.Name]
		evaluate("rules.yml alert "+r.Name, r.Query, !quiet, "the condition holds only when something is wrong; its witness below must return data")
		for _, w := range witnesses {
			evaluate("rules.yml alert "+r.Name+" witness", w, true, "")
		}
	}
	for name := range alertWitnesses {
		if !seenAlerts[name] {
			t.Errorf("alertWitnesses names %s, which rules.yml does not define", name)
		}
	}

	// What the run did, seen through Prometheus: exactly one bounce and one
	// complaint.
	for expr, want := range map[string]float64{
		`sum(campaignctl_bounces_total)`:    1,
		`sum(campaignctl_complaints_total)`: 1,
	} {
		r := prom.query(t, expr)
		if r.Series != 1 || r.Value != want {
			t.Errorf("%s = %v (%d series), want %v", expr, r.Value, r.Series, want)
		}
	}
	// Every object the degraded alert fires for has failed messages in the
	// store, and at least as many as Prometheus last read.
	firing := prom.query(t, `max by (kind, object) (campaignctl:object_failed_messages and on (kind, object) ALERTS{alertname="CampaignctlObjectDegraded",alertstate="firing"})`)
	var degraded []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	if err := json.Unmarshal(firing.Result, &degraded); err != nil || len(degraded) == 0 {
		t.Errorf("CampaignctlObjectDegraded fires for no object (%v): %s", err, firing.Result)
	}
	for _, d := range degraded {
		var seen float64
		fmt.Sscan(fmt.Sprint(d.Value[1]), &seen)
		var inStore float64
		if err := e.db.Get(&inStore, `SELECT count(*) FROM campaignctl.outbox WHERE status = 'failed' AND kind = $1 AND campaign = $2`, d.Metric["kind"], d.Metric["object"]); err != nil {
			t.Fatal(err)
		}
		if inStore == 0 || inStore < seen {
			t.Errorf("degraded %s %s: Prometheus read %v failed messages, the store holds %v", d.Metric["kind"], d.Metric["object"], seen, inStore)
		}
	}

	withData := 0
	for _, r := range results {
		if r.Series > 0 {
			withData++
		}
	}
	writeArtifact(t, results)
	t.Logf("%d queries evaluated, %d returned data; %d rules loaded; took %s", len(results), withData, len(rules), time.Since(start).Round(time.Millisecond))
}

// queryResult is one evaluated expression, as kept in the artifact.
type queryResult struct {
	Source    string          `json:"source"`
	Raw       string          `json:"raw"`
	Expr      string          `json:"expr"`
	Asserted  string          `json:"asserted"`
	Status    string          `json:"status"`
	ErrorType string          `json:"error_type,omitempty"`
	Error     string          `json:"error,omitempty"`
	Type      string          `json:"result_type,omitempty"`
	Series    int             `json:"series_with_data"`
	Value     float64         `json:"-"`
	Labels    []string        `json:"labels,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
}

// substitute replaces Grafana's variables ($name, ${name}, ${name:opt}).
func substitute(s string, vars map[string]string) string {
	return regexp.MustCompile(`\$\{([A-Za-z_]+)(?::[a-z]+)?\}|\$([A-Za-z_]+)`).ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(strings.SplitN(strings.TrimPrefix(m, "$"), ":", 2)[0], "{}")
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

type grafanaDashboard struct {
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T, path string) grafanaDashboard {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return d
}

// promServer is a Prometheus started by the test.
type promServer struct {
	*process
	base    string
	started time.Time
}

// startPrometheus runs prometheus on a free loopback port with a temporary
// config (scrape target every second, rules evaluated every second, the rules
// of deploy/prometheus/rules.yml) and data directory, and waits until ready.
func startPrometheus(t *testing.T, bin, dir, target string) *promServer {
	t.Helper()
	rules, err := filepath.Abs("../../deploy/prometheus/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	// JSON is YAML: quoting every value keeps paths with odd characters safe.
	cfg, err := json.Marshal(map[string]any{
		"global":     map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
		"rule_files": []string{rules},
		"scrape_configs": []any{map[string]any{
			"job_name":       "campaignctl",
			"static_configs": []any{map[string]any{"targets": []string{target}}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	p := &promServer{base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	p.process = startProcess(t, 10*time.Second, nil, bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn")
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-p.done:
			t.Fatalf("prometheus exited before it was ready: %v\n%s", p.err, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready on %s within 20s\n%s", p.base, p.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.started = time.Now()
	return p
}

// query evaluates expr at the current time through /api/v1/query.
func (p *promServer) query(t *testing.T, expr string) queryResult {
	t.Helper()
	var body struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	p.get(t, "/api/v1/query?"+url.Values{"query": {expr}}.Encode(), &body)
	r := queryResult{Expr: expr, Status: body.Status, ErrorType: body.ErrorType, Error: body.Error, Type: body.Data.ResultType, Result: body.Data.Result}
	switch body.Data.ResultType {
	case "vector", "matrix":
		var series []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(body.Data.Result, &series); err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		// A sample that is NaN (0/0: a histogram with no observations in
		// the window) is no data to a reader, so it does not count.
		for i, s := range series {
			if v, ok := s.Value[1].(string); ok && v != "NaN" {
				r.Series++
				if i == 0 {
					fmt.Sscan(v, &r.Value)
				}
			}
		}
	case "scalar", "string":
		r.Series = 1
	}
	return r
}

// waitFor waits until expr returns data.
func (p *promServer) waitFor(expr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var body struct {
			Data struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		resp, err := http.Get(p.base + "/api/v1/query?" + url.Values{"query": {expr}}.Encode())
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if len(body.Data.Result) > 0 {
				return nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("Prometheus has no data for %s after %s", expr, within)
}

// labelValues answers Grafana's label_values(selector, label) the way its
// Prometheus data source does: /api/v1/label/<label>/values?match[]=selector.
func (p *promServer) labelValues(t *testing.T, q string) []string {
	t.Helper()
	m := regexp.MustCompile(`^label_values\((.+),\s*([A-Za-z_]+)\)$`).FindStringSubmatch(strings.TrimSpace(q))
	if m == nil {
		t.Fatalf("variable query %q: only label_values(selector, label) is understood here", q)
	}
	var body struct {
		Status string   `json:"status"`
		Data   []string `json:"data"`
	}
	p.get(t, "/api/v1/label/"+m[2]+"/values?"+url.Values{"match[]": {m[1]}}.Encode(), &body)
	if body.Status != "success" {
		t.Errorf("label values for %q: status %q", q, body.Status)
	}
	return body.Data
}

type promRule struct {
	Name      string `json:"name"`
	Query     string `json:"query"`
	Type      string `json:"type"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

// rules lists the loaded rules with their health, once each has been
// evaluated at least once.
func (p *promServer) rules(t *testing.T) []promRule {
	t.Helper()
	var body struct {
		Data struct {
			Groups []struct {
				Rules []promRule `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	p.get(t, "/api/v1/rules", &body)
	var out []promRule
	for _, g := range body.Data.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

func (p *promServer) get(t *testing.T, path string, into any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("GET %s: %s: %v\n%s", path, resp.Status, err, b)
	}
}

// findPrometheus returns the prometheus server binary from
// scripts/prometheus.sh, which installs Debian's prometheus package when it
// can. Without it the test fails under CAMPAIGNCTL_REQUIRE_DB=1 (make test)
// and is skipped otherwise.
func findPrometheus(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("bash", "../../scripts/prometheus.sh").Output()
	if err != nil {
		msg := "prometheus is not available (bash scripts/prometheus.sh: " + err.Error() + "); install Debian's prometheus package"
		if os.Getenv(storetest.EnvRequireDB) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return strings.TrimSpace(string(out))
}

// sentMessage is what a report about a sent message refers to.
type sentMessage struct{ returnPath, rcpt, messageID string }

func sentOf(t *testing.T, m smtpcapture.Message) sentMessage {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("captured message: %v", err)
	}
	if m.From == "" || len(m.To) == 0 || msg.Header.Get("Message-Id") == "" {
		t.Fatalf("captured message without a return path, recipient or Message-ID: from %q to %v", m.From, m.To)
	}
	return sentMessage{returnPath: m.From, rcpt: m.To[0], messageID: strings.Trim(msg.Header.Get("Message-Id"), "<> ")}
}

// decodeQP returns a message's header, then each part of its multipart body
// decoded as its Content-Transfer-Encoding says (a part is 7bit or
// quoted-printable), so a URL in it can be found whole. A message that does
// not parse comes back as it is.
func decodeQP(data []byte) []byte {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return data
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return data
	}
	out := []byte(headerOf(data) + "\r\n\r\n")
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable itself
		if err != nil {
			break
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return data
		}
		out = append(append(out, b...), "\r\n"...)
	}
	return out
}

// bounceReport is a DSN (RFC 3464) saying sent's recipient does not exist.
func bounceReport(sent sentMessage) string {
	return fmt.Sprintf(`From: MAILER-DAEMON@mx.example.net
To: %[1]s
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-prometheus-test@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="DSN"

--DSN
Content-Type: text/plain

Your message could not be delivered.

--DSN
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; %[2]s
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 no such user

--DSN
Content-Type: text/rfc822-headers

Return-Path: <%[1]s>
Message-ID: <%[3]s>

--DSN--
`, sent.returnPath, sent.rcpt, sent.messageID)
}

// complaintReport is an ARF (RFC 5965) abuse report about sent.
func complaintReport(sent sentMessage) string {
	return fmt.Sprintf(`From: fbl@fbl.example.net
To: %[1]s
Subject: Abuse report
Message-ID: <arf-prometheus-test@fbl.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="ARF"

--ARF
Content-Type: text/plain

This is an abuse report.

--ARF
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: PrometheusTest/1.0
Version: 1

--ARF
Content-Type: message/rfc822

Return-Path: <%[1]s>
To: %[2]s
Message-ID: <%[3]s>
Subject: x

x
--ARF--
`, sent.returnPath, sent.rcpt, sent.messageID)
}

// writeArtifact keeps every evaluated query and its result under .data/.
func writeArtifact(t *testing.T, results []queryResult) {
	t.Helper()
	dir := filepath.Join("..", "..", ".data", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dashboard-queries.json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	// The same as a table a reviewer can read: source, series with data,
	// the first value, the expression as evaluated.
	var txt bytes.Buffer
	for _, r := range results {
		first := "-"
		var series []struct {
			Value [2]any `json:"value"`
		}
		if json.Unmarshal(r.Result, &series) == nil && len(series) > 0 {
			first = fmt.Sprint(series[0].Value[1])
		}
		if r.Status != "success" {
			first = r.ErrorType + ": " + r.Error
		}
		fmt.Fprintf(&txt, "%-3d %-14s %s\n    %s\n", r.Series, first, r.Source, r.Expr)
	}
	if err := os.WriteFile(filepath.Join(dir, "dashboard-queries.txt"), txt.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("query results: %s (and dashboard-queries.txt)", abs)
}
