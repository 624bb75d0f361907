package engine_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/httpapi"
	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
)

// Open and click tracking end to end: a sequence's first message goes through
// the engine and a real SMTP relay with its links rewritten; the test follows
// them against the daemon's HTTP handler on the same database; a week later
// the step that branches on `clicked` goes to the contact who clicked, the
// one on `ignored` to the contact who did nothing, and neither to the one
// who only opened.

const trackedShop = "https://shop.example/restock?item=1&src=mail"

func trackedPlan() *plan.Plan {
	html := `<html><body><p>Hello {{ .lead.name }}</p>
<p><a href="https://shop.example/restock?item=1&amp;src=mail">Shop now</a>
<a href="mailto:help@shop.example">Help</a> <a href="#top">Top</a></p>
<p><a href="{{ .unsubscribe_url }}">Unsubscribe</a></p></body></html>`
	tpl := func(name, subject string) plan.Template {
		return plan.Template{Name: name, Subject: subject, HTML: html,
			Text: "Hello {{ .lead.name }}, " + trackedShop + " {{ .unsubscribe_url }}", Class: plan.ClassMarketing}
	}
	p := &plan.Plan{
		Models: []plan.Model{{Name: "lead", Table: "leads", Key: "id", Email: "email", Fields: []plan.Field{
			{Name: "name", Column: "name", Type: plan.TypeString},
			{Name: "stage", Column: "stage", Type: plan.TypeString},
			{Name: "lost_reason", Column: "lost_reason", Type: plan.TypeString},
		}}},
		Segments:  []plan.Segment{{Name: "restock_waitlist", Model: "lead", Filter: `lead.lost_reason == "Not enough stock"`}},
		Senders:   []plan.Sender{{Name: "warehouse", From: "Warehouse <stock@shop.example>"}},
		Templates: []plan.Template{tpl("week1", subjUrgent), tpl("ignored", subjIgnored), tpl("clicked", subjClicked)},
		Sequences: []plan.Sequence{{
			Name: "restock_nurture", Model: "lead", Segment: "restock_waitlist", Sender: "warehouse",
			Steps: []plan.SequenceStep{
				{Name: "week1", Offset: "0d", Template: "week1"},
				{Name: "week2_ignored", Offset: "7d", Template: "ignored", When: &plan.Engagement{Step: "week1", Event: "ignored"}},
				{Name: "week2_clicked", Offset: "7d", Template: "clicked", When: &plan.Engagement{Step: "week1", Event: "clicked"}},
			},
		}},
	}
	p.Finalize()
	return p
}

// trackedMessage is what a recipient's client sees of a message.
type trackedMessage struct {
	text       string
	links, img []string
}

func readTracked(t *testing.T, r *smtptest.Relay) map[string]trackedMessage {
	t.Helper()
	out := map[string]trackedMessage{}
	for _, d := range r.Messages() {
		msg, err := mail.ReadMessage(bytes.NewReader(d.Data))
		if err != nil {
			t.Fatal(err)
		}
		_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		var m trackedMessage
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(part) // quoted-printable is decoded by the reader
			if strings.HasPrefix(part.Header.Get("Content-Type"), "text/plain") {
				m.text = string(body)
				continue
			}
			doc, err := html.Parse(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var walk func(*html.Node)
			walk = func(n *html.Node) {
				for _, a := range n.Attr {
					if n.Data == "a" && a.Key == "href" {
						m.links = append(m.links, a.Val)
					}
					if n.Data == "img" && a.Key == "src" {
						m.img = append(m.img, a.Val)
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
		}
		out[strings.ToLower(d.To[0])] = m
	}
	return out
}

func TestTrackedClickTakesTheClickedBranch(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 4) // lead1..lead4@example.com, all in the segment
	nb.apply(t, trackedPlan())
	nb.step(t, nb.eng)

	msgs := readTracked(t, nb.relay)
	if len(msgs) != 4 {
		t.Fatalf("%d messages, want 4", len(msgs))
	}
	const base = "http://mail.test"
	for to, m := range msgs {
		if len(m.links) != 4 || !strings.HasPrefix(m.links[0], base+"/c/") || m.links[1] != "mailto:help@shop.example" ||
			m.links[2] != "#top" || !strings.HasPrefix(m.links[3], base+"/u/") {
			t.Fatalf("%s: links %q: want the shop link tracked, mailto, #top and the unsubscribe link as they were", to, m.links)
		}
		if len(m.img) != 1 || !strings.HasPrefix(m.img[0], base+"/o/") {
			t.Fatalf("%s: images %q, want one pixel", to, m.img)
		}
		if strings.Contains(m.text, "/c/") || !strings.Contains(m.text, trackedShop) {
			t.Fatalf("%s: text part changed: %q", to, m.text)
		}
	}

	// The daemon's HTTP side, on the same database and clock.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tracker := httpapi.NewTracker(nb.st, log, nil, httpapi.TrackerOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tracker.Run(ctx) }()
	stopTracker := func() { cancel(); <-done }
	defer stopTracker()
	srv := &httpapi.Server{DB: nb.st.DB, Suppressor: nb.st, Links: nb.eng.Links, Clock: nb.clock, Log: log, Tracker: tracker}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, link string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, hs.URL+strings.TrimPrefix(link, base), strings.NewReader("List-Unsubscribe=One-Click"))
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
		if method == "POST" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}

	nb.clock.Advance(time.Hour) // a reader, not a prefetch at delivery
	// lead1 clicks.
	if res := do("GET", msgs["lead1@example.com"].links[0]); res.StatusCode != http.StatusFound || res.Header.Get("Location") != trackedShop {
		t.Fatalf("click: %d to %q, want 302 to %s", res.StatusCode, res.Header.Get("Location"), trackedShop)
	}
	// lead2 only opens, twice.
	for range 2 {
		if res := do("GET", msgs["lead2@example.com"].img[0]); res.StatusCode != 200 {
			t.Fatalf("pixel: %d", res.StatusCode)
		}
	}
	// lead3 does nothing. lead4's click link, altered or replayed to
	// unsubscribe, records nothing; its own unsubscribe link (the new
	// format) unsubscribes.
	l4 := msgs["lead4@example.com"]
	click4 := l4.links[0]
	if res := do("GET", click4[:len(click4)-2]+"xx"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("altered click link: %d, want 404", res.StatusCode)
	}
	if res := do("POST", strings.Replace(click4, "/c/", "/u/", 1)); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("click token replayed to unsubscribe: %d, want 400", res.StatusCode)
	}
	if res := do("GET", strings.Replace(click4, "/c/", "/o/", 1)); res.StatusCode != http.StatusNotFound {
		t.Fatalf("click token used as a pixel: %d, want 404", res.StatusCode)
	}
	if res := do("POST", l4.links[3]); res.StatusCode != 200 {
		t.Fatalf("unsubscribe: %d", res.StatusCode)
	}
	stopTracker()

	// The events table holds exactly the click and the two opens, in the shape
	// the engine's branches read.
	rows, err := nb.st.DB.Query(`SELECT contact_key, type, campaign, step, url, properties->>'kind', properties->>'machine' FROM campaignctl.events WHERE model = 'lead' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var k, typ, camp, step, u, kind, machine string
		if err := rows.Scan(&k, &typ, &camp, &step, &u, &kind, &machine); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{k, typ, camp, step, u, kind, machine}, " "))
	}
	rows.Close()
	want := []string{
		"1 click restock_nurture week1 " + trackedShop + " sequence false",
		"2 open restock_nurture week1  sequence false",
		"2 open restock_nurture week1  sequence false",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A week later: the clicked branch for lead1, ignored for lead3, nothing
	// for lead2 (opened) and lead4 (unsubscribed).
	before := len(nb.relay.Messages())
	nb.clock.Advance(7 * 24 * time.Hour)
	nb.step(t, nb.eng)
	week2 := map[string]string{}
	for _, d := range nb.relay.Messages()[before:] {
		msg, _ := mail.ReadMessage(bytes.NewReader(d.Data))
		week2[strings.ToLower(d.To[0])] = msg.Header.Get("Subject")
	}
	if len(week2) != 2 || week2["lead1@example.com"] != subjClicked || week2["lead3@example.com"] != subjIgnored {
		t.Fatalf("week 2 sent %v, want lead1 %q and lead3 %q only", week2, subjClicked, subjIgnored)
	}
}

// Transactional mail and an engine with tracking off carry no tracking. The
// transactional mail is a campaign's: a sequence's mail is marketing whatever
// its templates declare.
func TestNoTrackingForTransactionalOrWhenOff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		class string
		off   bool
	}{{"transactional", plan.ClassTransactional, false}, {"--no-tracking", plan.ClassMarketing, true}} {
		t.Run(tc.name, func(t *testing.T) {
			nb := setupNurture(t, 2)
			nb.eng.NoTracking = tc.off
			p := trackedPlan()
			for i := range p.Templates {
				p.Templates[i].Class = tc.class
			}
			if tc.class == plan.ClassTransactional {
				p.Sequences = nil
				p.Campaigns = []plan.Campaign{{Name: "restock_notice", Segment: "restock_waitlist", Template: "week1", Sender: "warehouse", Class: plan.ClassTransactional}}
			}
			p.Finalize()
			nb.apply(t, p)
			nb.step(t, nb.eng)
			msgs := readTracked(t, nb.relay)
			if len(msgs) != 2 {
				t.Fatalf("%d messages", len(msgs))
			}
			for to, m := range msgs {
				if len(m.img) != 0 || len(m.links) == 0 || m.links[0] != trackedShop {
					t.Fatalf("%s: links %q images %q, want none tracked", to, m.links, m.img)
				}
			}
		})
	}
}
