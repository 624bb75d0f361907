package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/html"

	"github.com/campaignctl/campaignctl/runtime/httpapi"
	"github.com/campaignctl/campaignctl/runtime/statuspage"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

const uiTestToken = "ui-test-token-0123456789abcdef"

// findChromium returns Chromium's path from scripts/chromium.sh, which
// installs it when it can. Missing, the browser test fails under make test
// (CAMPAIGNCTL_REQUIRE_DB=1) and is skipped otherwise.
func findChromium(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("bash", "../../scripts/chromium.sh").Output()
	if err != nil {
		msg := "Chromium is not available (bash scripts/chromium.sh: " + err.Error() + "); install Debian's chromium package"
		if os.Getenv(storetest.EnvRequireDB) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return strings.TrimSpace(string(out))
}

// uiServer serves the daemon's routes (httpapi.Server, as serve builds it)
// with the status page over the database at url, its clock stopped at now.
func uiServer(t *testing.T, url string, now time.Time) string {
	t.Helper()
	return uiServerLogging(t, url, now, io.Discard)
}

// uiServerLogging is uiServer with the status page's log written to logTo.
func uiServerLogging(t *testing.T, url string, now time.Time, logTo io.Writer) string {
	t.Helper()
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	page, err := statuspage.New(statuspage.Options{Source: &uiSource{st: st, now: func() time.Time { return now }}, Token: uiTestToken,
		Log: slog.New(slog.NewTextHandler(logTo, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := &httpapi.Server{Gatherer: prometheus.NewRegistry(), DB: st.DB, UI: page}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL
}

// browser starts a headless Chromium with JavaScript off, both in Blink's
// settings and by the DevTools protocol, so every page and form is used the
// way a browser without scripts would.
func browser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
		chromedp.Flag("blink-settings", "scriptEnabled=false"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	// A bound for a hung browser, not a speed requirement: on the 2-core test
	// machine, busy with the rest of make test (and at times more), the
	// status page's whole walk has taken 60 s.
	ctx, cancelC := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelC(); cancelB(); cancelA() })
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("starting Chromium %s: %v", path, err)
	}
	return ctx
}

// artifacts is where screenshots go: .data/artifacts at the top of the
// repository (gitignored).
func artifacts(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../.data/artifacts")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(artifacts(t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", p, len(png))
}

// pageState is what the browser shows: the location, and per data-k key
// the cell's text, read from the live DOM (DOM.getOuterHTML, no script).
type pageState struct {
	url   string
	cells map[string]string
	doc   *html.Node
}

func readPage(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("reading the page's location: %v", err)
	}
	// DOM.getOuterHTML of the document: the live DOM, read without a script.
	// A navigation that commits between the two calls replaces the document
	// ("Could not find node with given id"): read it again.
	var outer string
	retry(t, "reading the page", func() error {
		var err error
		outer, err = chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (string, error) {
			d, err := cdp.Call(ctx, tg, dom.GetDocument, dom.GetDocumentParams{})
			if err != nil {
				return "", err
			}
			r, err := cdp.Call(ctx, tg, dom.GetOuterHTML, dom.GetOuterHTMLParams{NodeID: d.Root.NodeID})
			return r.OuterHTML, err
		})
		return err
	})
	doc, err := html.Parse(strings.NewReader(outer))
	if err != nil {
		t.Fatal(err)
	}
	ps := pageState{url: loc, cells: map[string]string{}, doc: doc}
	walk(doc, func(n *html.Node) {
		if k := attr(n, "data-k"); k != "" {
			ps.cells[k] = strings.TrimSpace(textOf(n))
		}
	})
	return ps
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, name string) string {
	if n.Type != html.ElementNode {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}

// find returns the elements of tag with attribute key = val (any value when
// val is "").
func find(doc *html.Node, tag, key, val string) []*html.Node {
	var out []*html.Node
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag && (key == "" || attr(n, key) != "" && (val == "" || attr(n, key) == val)) {
			out = append(out, n)
		}
	})
	return out
}

// noScript asserts the browser runs no script: with scripting off, the
// footer's <noscript> content is parsed as elements, so #noscript exists in
// the live DOM; with scripting on it would be raw text.
func noScript(t *testing.T, ctx context.Context) {
	t.Helper()
	var id cdp.NodeID
	retry(t, "looking for #noscript", func() (err error) {
		id, err = query(ctx, "#noscript")
		return err
	})
	if id == 0 {
		t.Fatalf("#noscript not in the DOM: the browser runs scripts, so the test would not prove the page works without them")
	}
}

// The page is driven with raw DevTools commands (DOM.querySelector,
// DOM.focus, Input.insertText, Input.dispatchMouseEvent): chromedp's element
// queries wait for a script execution context, which a page loaded by a form
// post with scripts off never gets.

// query returns the first element of the current document matching sel, or
// 0.
func query(ctx context.Context, sel string) (cdp.NodeID, error) {
	return chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (cdp.NodeID, error) {
		d, err := cdp.Call(ctx, tg, dom.GetDocument, dom.GetDocumentParams{})
		if err != nil {
			return 0, err
		}
		r, err := cdp.Call(ctx, tg, dom.QuerySelector, dom.QuerySelectorParams{NodeID: d.Root.NodeID, Selector: sel})
		return r.NodeID, err
	})
}

// waitFor waits up to 10s for an element matching sel.
func waitFor(t *testing.T, ctx context.Context, sel string) cdp.NodeID {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		id, err := query(ctx, sel)
		if err == nil && id != 0 {
			return id
		}
		if time.Now().After(deadline) {
			ps := readPage(t, ctx)
			t.Fatalf("no %s on %s after 10s (last error %v); the page says:\n%s", sel, ps.url, err, strings.TrimSpace(textOf(ps.doc)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// retry runs f until it succeeds or 10s passed: an element found in the
// document that a navigation is replacing is gone a moment later.
func retry(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// typeInto focuses the field sel and types text into it.
func typeInto(t *testing.T, ctx context.Context, sel, text string) {
	t.Helper()
	retry(t, "typing into "+sel, func() error {
		id := waitFor(t, ctx, sel)
		if _, err := chromedp.Call(ctx, dom.Focus, dom.FocusParams{NodeID: id}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// click presses and releases the left button in the middle of sel, as a
// person would.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	retry(t, "clicking "+sel, func() error {
		id := waitFor(t, ctx, sel)
		if _, err := chromedp.Call(ctx, dom.ScrollIntoViewIfNeeded, dom.ScrollIntoViewIfNeededParams{NodeID: id}); err != nil {
			return err
		}
		box, err := chromedp.Call(ctx, dom.GetBoxModel, dom.GetBoxModelParams{NodeID: id})
		if err != nil {
			return err
		}
		q := box.Model.Content
		x, y := (q[0]+q[2]+q[4]+q[6])/4, (q[1]+q[3]+q[5]+q[7])/4
		for _, typ := range []input.DispatchMouseEventType{input.DispatchMouseEventTypeMousePressed, input.DispatchMouseEventTypeMouseReleased} {
			if _, err := chromedp.Call(ctx, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: typ, X: x, Y: y,
				Button: input.MouseButtonLeft, Buttons: 1, ClickCount: 1}); err != nil {
				return err
			}
		}
		return nil
	})
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
}

var rateCell = regexp.MustCompile(`^(\d+) \((-|(\d+\.\d)%)\)$`)

// checkRate compares a page cell "N (P%)" with a count and a percentage
// from hand-written SQL; the percentage within report's rounding.
func checkRate(t *testing.T, where, got string, n int64, pct *float64) {
	t.Helper()
	m := rateCell.FindStringSubmatch(got)
	if m == nil {
		t.Errorf("%s: page shows %q, want N (P%%)", where, got)
		return
	}
	if m[1] != strconv.FormatInt(n, 10) {
		t.Errorf("%s: page shows %s, the hand-written SQL counts %d", where, got, n)
	}
	switch {
	case pct == nil && m[2] != "-":
		t.Errorf("%s: page shows %s, the SQL has no denominator", where, got)
	case pct != nil && m[2] == "-":
		t.Errorf("%s: page shows %s, the SQL says %.3f%%", where, got, *pct)
	case pct != nil:
		p, _ := strconv.ParseFloat(m[3], 64)
		if math.Abs(p-*pct) > 0.05+1e-9 {
			t.Errorf("%s: page shows %s, the SQL says %.3f%%", where, got, *pct)
		}
	}
}

// TestUIChromium drives the status page in a real headless Chromium with
// JavaScript off: the login form, the overview, every object's page and the
// contact lookup, comparing what is on screen with hand-written SQL over the
// outbox and events (report's scripted population), with status's and
// report's own documents, and with explain's and timeline's output.
// Screenshots go to .data/artifacts/.
func TestUIChromium(t *testing.T) {
	skipInShortMode(t)
	t.Parallel() // a daemon of its own as a process: overlaps the others' waits
	chromium := findChromium(t)
	t0 := time.Now()
	db, reportURL := reportSeed(t)
	explainURL := seedExplain(t)
	t.Logf("populations seeded in %s", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	ctx := browser(t, chromium)
	t.Logf("Chromium started in %s", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	defer func() { t.Logf("browsing and checking took %s", time.Since(t0).Round(time.Millisecond)) }()
	base := uiServer(t, reportURL, reportNow)

	// Signed out: the page sends the browser to the login form.
	navigate(t, ctx, base+"/ui/objects/sequence/nurture")
	noScript(t, ctx)
	if ps := readPage(t, ctx); !strings.HasSuffix(ps.url, "/ui/login") || strings.Contains(textOf(ps.doc), "nurture") {
		t.Fatalf("signed out: at %s, want the login form and no object", ps.url)
	}
	screenshot(t, ctx, "ui-login.png")
	// A wrong token: refused, no cookie. Forms are submitted by a click, no
	// script.
	typeInto(t, ctx, "#token", "not-the-token-at-all")
	click(t, ctx, "#signin")
	waitFor(t, ctx, "#msg")
	if ps := readPage(t, ctx); !strings.Contains(textOf(ps.doc), "not this daemon's token") {
		t.Errorf("wrong token: the page does not say so")
	}
	typeInto(t, ctx, "#token", uiTestToken)
	click(t, ctx, "#signin")
	waitFor(t, ctx, "#objects")
	got, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/ui/"}})
	if err != nil {
		t.Fatal(err)
	}
	cookies := got.Cookies
	if len(cookies) != 1 || !cookies[0].HTTPOnly || cookies[0].SameSite != network.CookieSameSiteStrict || strings.Contains(cookies[0].Value, uiTestToken) {
		t.Errorf("session cookie in the browser: %+v; want one, HttpOnly, SameSite=Strict, without the token", cookies)
	}
	noScript(t, ctx)
	screenshot(t, ctx, "ui-overview.png")

	// The overview: status's sync, health and message for every object;
	// report's totals, checked against the hand-written SQL.
	ps := readPage(t, ctx)
	st, err := store.Open(context.Background(), reportURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in, err := readStatus(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	status := buildStatus(in)
	if len(status.Objects) != 4 {
		t.Fatalf("status has %d objects, want the population's 4", len(status.Objects))
	}
	for _, o := range status.Objects {
		k := o.Kind + "/" + o.Name
		for col, want := range map[string]string{"sync": o.Sync, "health": o.Health, "message": o.Message} {
			if got := ps.cells[k+"/"+col]; got != want {
				t.Errorf("overview %s %s: page %q, status %q", k, col, got, want)
			}
		}
	}
	oracle := readReportOracle(t, db)
	checked := 0
	for _, w := range oracle {
		if w.Level != "object" {
			continue
		}
		k := w.Kind + "/" + w.Campaign
		if got := ps.cells[k+"/sent"]; got != strconv.FormatInt(w.Sent, 10) {
			t.Errorf("overview %s sent: page %q, SQL %d", k, got, w.Sent)
		}
		checkRate(t, "overview "+k+" received", ps.cells[k+"/received"], w.Received, w.ReceivedPct)
		checkRate(t, "overview "+k+" opened", ps.cells[k+"/opened"], w.Opened, w.OpenedPct)
		checkRate(t, "overview "+k+" clicked", ps.cells[k+"/clicked"], w.Clicked, w.ClickedPct)
		checkRate(t, "overview "+k+" replied", ps.cells[k+"/replied"], w.Replied, w.RepliedPct)
		checkRate(t, "overview "+k+" bounced", ps.cells[k+"/bounced"], w.Bounced, w.BouncedPct)
		checked++
	}
	if checked != 4 {
		t.Errorf("%d objects in the oracle, want 4", checked)
	}

	// Each object's page, reached by its link: every smart button of the
	// object, its steps and variants against the SQL; goals, the A/B
	// verdicts and the step table against report's and status's documents;
	// the graph's boxes carry status's counts.
	rep, err := readReport(context.Background(), st, "", reportNow)
	if err != nil {
		t.Fatal(err)
	}
	cells := 0
	for _, o := range status.Objects {
		k := o.Kind + "/" + o.Name
		link := objectLink(o.Kind, o.Name)
		navigate(t, ctx, base+"/ui/")
		click(t, ctx, `a[href="`+link+`"]`)
		waitFor(t, ctx, "#numbers")
		noScript(t, ctx)
		screenshot(t, ctx, "ui-"+o.Kind+"-"+o.Name+".png")
		ps := readPage(t, ctx)
		if ps.cells["health"] != o.Health || ps.cells["sync"] != o.Sync {
			t.Errorf("%s: page %s/%s, status %s/%s", k, ps.cells["sync"], ps.cells["health"], o.Sync, o.Health)
		}
		for _, w := range oracle {
			if w.Kind != o.Kind || w.Campaign != o.Name {
				continue
			}
			prefix := "total/"
			switch w.Level {
			case "step":
				prefix = "step/" + w.Step + "/"
			case "variant":
				prefix = "variant/" + w.Step + "/" + w.Variant + "/"
				if _, shown := ps.cells[prefix+"sent"]; !shown && w.Variant == "" {
					continue // report splits a step by variant only when it carries variants
				}
			}
			where := k + " " + prefix
			if got := ps.cells[prefix+"sent"]; got != strconv.FormatInt(w.Sent, 10) {
				t.Errorf("%s sent: page %q, SQL %d", where, got, w.Sent)
			}
			for _, c := range []struct {
				col string
				n   int64
				p   *float64
			}{{"received", w.Received, w.ReceivedPct}, {"opened", w.Opened, w.OpenedPct}, {"clicked", w.Clicked, w.ClickedPct},
				{"replied", w.Replied, w.RepliedPct}, {"bounced", w.Bounced, w.BouncedPct}, {"ignored", w.Ignored, w.IgnoredPct},
				{"machine", w.Machine, w.MachinePct}, {"complained", w.Complained, w.ComplainedPct}} {
				checkRate(t, where+c.col, ps.cells[prefix+c.col], c.n, c.p)
				cells++
			}
		}
		var ro *reportObject
		for i := range rep.Objects {
			if rep.Objects[i].Kind == o.Kind && rep.Objects[i].Name == o.Name {
				ro = &rep.Objects[i]
			}
		}
		if ro == nil {
			t.Fatalf("%s: not in the report", k)
		}
		wantGoals := func(n reportNumbers) string {
			if n.Goals == nil {
				return "-"
			}
			return n.Goals.String()
		}
		if got := ps.cells["total/goals"]; got != wantGoals(ro.Totals) {
			t.Errorf("%s goals: page %q, report %q", k, got, wantGoals(ro.Totals))
		}
		for _, s := range ro.Steps {
			if got := ps.cells["step/"+s.Name+"/goals"]; got != wantGoals(s.Numbers) {
				t.Errorf("%s step %s goals: page %q, report %q", k, s.Name, got, wantGoals(s.Numbers))
			}
		}
		for _, ab := range ro.ABTests {
			if got := ps.cells["ab/"+ab.Step+"/verdict"]; got != abVerdict(ab) {
				t.Errorf("%s A/B on %q: page %q, report %q", k, ab.Step, got, abVerdict(ab))
			}
			for _, v := range ab.Variants {
				if got := ps.cells["ab/"+ab.Step+"/"+v.Name+"/interval"]; got != abInterval(ab.Metric, v) {
					t.Errorf("%s A/B on %q variant %s interval: page %q, report %q", k, ab.Step, v.Name, got, abInterval(ab.Metric, v))
				}
			}
		}
		if o.Enrollments != nil {
			for _, s := range o.Enrollments.Steps {
				row := uiStep(o.Kind, s)
				for col, want := range map[string]string{"sent": row.Sent, "skipped": row.Skipped, "held": row.Held, "waiting": row.Waiting, "exited": row.ExitedHere} {
					if got := ps.cells["status/"+s.Name+"/"+col]; got != want {
						t.Errorf("%s step %s %s: page %q, status %q", k, s.Name, col, got, want)
					}
				}
				if s.Index < 0 || (o.Kind != "workflow" && o.Kind != "sequence") {
					continue
				}
				boxes := find(ps.doc, "g", "data-step", s.Name)
				if len(boxes) != 1 || !strings.Contains(textOf(boxes[0]), uiStepCounts(o.Kind, s)) {
					t.Errorf("%s graph: the box of step %s does not show %q", k, s.Name, uiStepCounts(o.Kind, s))
				}
			}
		}
		if (o.Kind == "workflow" || o.Kind == "sequence") && len(find(ps.doc, "svg", "id", "graph")) != 1 {
			t.Errorf("%s: no graph", k)
		}
	}
	if cells < 100 {
		t.Errorf("only %d rate cells compared with the SQL; the population is too thin", cells)
	}

	// The contact lookup, on explain's population: by key, then by an
	// address two models share. The page shows explain's text and timeline's
	// rows for each contact.
	base2 := uiServer(t, explainURL, time.Now())
	navigate(t, ctx, base2+"/ui/contact")
	if ps := readPage(t, ctx); strings.HasSuffix(ps.url, "/ui/login") {
		// Another port of the same host shares the cookie (cookies ignore
		// ports) and the token is the same, so no login is expected.
		t.Fatalf("the second daemon asked to sign in again")
	}
	for _, q := range []string{"lead:1", "ann@example.com"} {
		navigate(t, ctx, base2+"/ui/contact")
		typeInto(t, ctx, "#q", q)
		click(t, ctx, "#lookup")
		waitFor(t, ctx, "section.contact")
		noScript(t, ctx)
		screenshot(t, ctx, "ui-contact-"+strings.NewReplacer(":", "-", "@", "-at-").Replace(q)+".png")
		ps := readPage(t, ctx)
		code, explainOut, stderr := runSub(runExplain, "--db", explainURL, q)
		if code != 0 {
			t.Fatalf("explain %s: %d %s", q, code, stderr)
		}
		var shown []string
		for _, pre := range find(ps.doc, "pre", "class", "explain") {
			shown = append(shown, textOf(pre))
		}
		if got := strings.Join(shown, "\n"); got != explainOut {
			t.Errorf("lookup %s: the page's explain differs from campaignctl explain:\n%s", q, lineDiff(explainOut, got))
		}
		code, tlOut, stderr := runSub(runTimeline, "--db", explainURL, "--format", "json", q)
		if code != 0 {
			t.Fatalf("timeline %s: %d %s", q, code, stderr)
		}
		var tl timelineDoc
		if err := json.Unmarshal([]byte(tlOut), &tl); err != nil {
			t.Fatal(err)
		}
		sections := find(ps.doc, "section", "data-contact", "")
		if len(sections) != len(tl.Contacts) {
			t.Fatalf("lookup %s: %d contacts on the page, timeline has %d", q, len(sections), len(tl.Contacts))
		}
		for i, c := range tl.Contacts {
			if got, want := attr(sections[i], "data-contact"), c.Model+":"+c.Key; got != want {
				t.Errorf("lookup %s: contact %d is %s, want %s", q, i, got, want)
			}
			var rows []string
			for _, tr := range find(sections[i], "tr", "", "") {
				var tds []string
				for _, td := range find(tr, "td", "", "") {
					tds = append(tds, textOf(td))
				}
				if len(tds) > 0 {
					rows = append(rows, strings.Join(tds, "|"))
				}
			}
			var want []string
			for _, e := range c.Entries {
				want = append(want, e.At.Format(time.RFC3339)+"|"+strings.Join(timelineCells(e), "|"))
			}
			if strings.Join(rows, "\n") != strings.Join(want, "\n") {
				t.Errorf("lookup %s, %s:%s: timeline rows\n%s\nwant\n%s", q, c.Model, c.Key, strings.Join(rows, "\n"), strings.Join(want, "\n"))
			}
		}
		if q == "lead:1" && len(tl.Contacts[0].Entries) != 6 {
			t.Errorf("lead:1 has %d timeline entries, want 6 (3 events, 3 messages)", len(tl.Contacts[0].Entries))
		}
	}
	navigate(t, ctx, base2+"/ui/contact")
	typeInto(t, ctx, "#q", "nobody@example.com")
	click(t, ctx, "#lookup")
	waitFor(t, ctx, "#msg")
	if ps := readPage(t, ctx); !strings.Contains(ps.cellsText(), "no contact has the address") {
		t.Errorf("unknown address: the page does not say so")
	}
}

func (p pageState) cellsText() string { return textOf(p.doc) }

// objectLink is the href the overview gives an object.
func objectLink(kind, name string) string {
	return fmt.Sprintf("/ui/objects/%s/%s", kind, name)
}

// TestUISourceNothingApplied: before the first apply (and on a database never
// migrated) the page says so instead of failing, and an object or contact
// lookup is the reader's error, not the store's.
func TestUISourceNothingApplied(t *testing.T) {
	t.Parallel()
	_, url := storetest.Open(t)
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := &uiSource{st: st, now: time.Now}
	ctx := context.Background()
	ov, err := u.Overview(ctx)
	if err != nil || !ov.NothingApplied {
		t.Errorf("unmigrated: %+v, %v; want NothingApplied", ov, err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if ov, err := u.Overview(ctx); err != nil || !ov.NothingApplied {
		t.Errorf("migrated, nothing applied: %+v, %v; want NothingApplied", ov, err)
	}
	if _, err := u.Object(ctx, "campaign", "launch"); !statuspage.IsUserError(err) {
		t.Errorf("object before apply: %v, want a UserError", err)
	}
	if _, err := u.Contact(ctx, "lead:1"); !statuspage.IsUserError(err) {
		t.Errorf("contact before apply: %v, want a UserError", err)
	}
}

// TestUISourceUnknownObjectAndContact: names that match nothing are the
// reader's errors and say what exists or what to type.
func TestUISourceUnknownObjectAndContact(t *testing.T) {
	t.Parallel()
	url := seedExplain(t)
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := &uiSource{st: st, now: time.Now}
	ctx := context.Background()
	_, err = u.Object(ctx, "workflow", "winback")
	if !statuspage.IsUserError(err) || !strings.Contains(err.Error(), `no workflow named "winback"`) {
		t.Errorf("unknown object: %v", err)
	}
	for q, want := range map[string]string{
		"nobody@example.com": "no contact has the address",
		"lead:999":           "no row of crm_lead",
		"robot:1":            "unknown model",
		"just words":         "neither MODEL:KEY",
	} {
		if _, err := u.Contact(ctx, q); !statuspage.IsUserError(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("contact %q: %v, want a UserError saying %q", q, err, want)
		}
	}
	o, err := u.Object(ctx, "sequence", "nurture")
	if err != nil || o.Graph == nil || o.Totals == nil || len(o.Steps) != 2 {
		t.Errorf("sequence nurture: %+v, %v; want a graph, totals and 2 steps", o, err)
	}
}
