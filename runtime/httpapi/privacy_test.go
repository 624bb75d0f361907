package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/campaignctl/campaignctl/internal/testlog"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// docs/security.md: logs and metrics carry no contact data. After a burst of
// everything the public routes take — opens and clicks (a reader's, a
// scanner's, HEAD), forged, altered, expired and malformed tokens, contact
// data where a token should be, the preference center, one-click and
// "unsubscribe from all", confirmations (fresh, repeated, expired, of a
// row that is gone, of another contact's row), events with a bad line —
// and the same again while the database is away (every error path logs),
// neither the daemon's log nor /metrics holds a contact's address (as sent
// or normalized), its local part, a contact key, a token, or the client
// address the requests came from.
func TestNoContactDataInTheLogOrMetricsAfterABurst(t *testing.T) {
	var logs testlog.Buffer
	proxies, err := ParseTrustedProxies("127.0.0.1/32, ::1")
	if err != nil {
		t.Fatal(err)
	}
	subscriptions := func(context.Context) ([]string, error) { return []string{"news", "blog"}, nil }
	r := setupTrackingWith(t, TrackerOptions{}, &logs, func(s *Server) {
		st := s.Suppressor.(*store.Store)
		s.Limits = Limits{PerSecond: -1, TrustedProxies: proxies}
		s.Consent, s.Subscriptions = st, subscriptions
		s.Events, s.EventsToken = st, testToken
	})

	const clientIP = "198.51.100.23" // the contacts' address, behind the trusted proxy
	const strangerIP = "192.0.2.200" // who posts events with a wrong token
	contacts := []struct{ key, email, normalized, local string }{
		{"crm-7f3a9c", "zoe.quinn@inbox.example", "zoe.quinn@inbox.example", "zoe.quinn"},
		{"crm-b41d07", "Max.Ortega+deals@Mail.Example", "max.ortega+deals@mail.example", "max.ortega"},
	}
	forger, _ := links.NewSigner([]byte("not-our-secret-0123456789"))
	var tokens []string
	sign := func(s *links.Signer, c links.Claims) string {
		tok := s.Sign(c)
		tokens = append(tokens, tok)
		return tok
	}
	do := func(base, method, path, ua, contentType, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", ua)
		req.Header.Set("X-Forwarded-For", clientIP)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	const form = "application/x-www-form-urlencoded"
	events := func(base, token, body string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("X-Forwarded-For", strangerIP)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}

	// burst sends every kind of request for each contact to base; ok says
	// whether the database answers there (the expected codes differ).
	burst := func(base string, ok bool) {
		for i, c := range contacts {
			claims := msgClaims()
			claims.ContactKey, claims.Email = c.key, c.email
			open, click, unsub := claims, claims, claims
			open.Purpose = links.PurposeOpen
			click.Purpose, click.URL = links.PurposeClick, "https://shop.example/p?for="+url.QueryEscape(c.email)
			unsub.Purpose, unsub.Subscription = links.PurposeUnsubscribe, "news"
			openTok, clickTok, unsubTok := sign(r.signer, open), sign(r.signer, click), sign(r.signer, unsub)
			for _, ua := range []string{browserUA, "Mozilla/5.0", "Mimecast URL Protect/1.0", ""} {
				do(base, "GET", "/o/"+openTok, ua, "", "")
				do(base, "GET", "/c/"+clickTok, ua, "", "")
			}
			do(base, "HEAD", "/o/"+openTok, browserUA, "", "")
			for _, path := range []string{
				"/c/" + clickTok[:len(clickTok)-3] + "AAA", // altered
				"/c/" + sign(forger, click), "/o/" + sign(forger, open), "/u/" + sign(forger, unsub),
				"/c/" + openTok, "/o/" + unsubTok, // another purpose
				"/u/" + url.PathEscape(c.email), "/c/" + c.key, "/o/" + url.PathEscape(c.normalized) + "%00",
				"/confirm/" + url.PathEscape(c.email), "/u/" + strings.Repeat(c.key, 400),
			} {
				if code := do(base, "GET", path, browserUA, "", ""); code < 400 {
					t.Errorf("GET %s: %d, want a refusal", path, code)
				}
				do(base, "POST", path, browserUA, form, "List-Unsubscribe=One-Click")
			}
			do(base, "GET", "/u/"+unsubTok, browserUA, "", "")
			do(base, "POST", "/u/"+unsubTok, browserUA, form, url.Values{"action": {"save"}, "subscription": {"bogus-" + c.key}}.Encode())
			do(base, "POST", "/u/"+unsubTok, browserUA, form, url.Values{"action": {"save"}, "subscription": {"blog"}}.Encode())
			do(base, "POST", "/u/"+unsubTok, "", "", "List-Unsubscribe=One-Click")
			do(base, "POST", "/u/"+unsubTok, browserUA, form, "action=all")

			// Confirmations: a real row when the database answers, else a
			// made-up one (the store cannot be reached to look it up).
			confirm := links.Claims{Purpose: links.PurposeConfirm, Kind: "subscription", Campaign: "blog", Step: "2026-11",
				Model: "lead", ContactKey: c.key, Email: c.normalized, OutboxID: 900 + int64(i), Subscription: "blog",
				IssuedAt: sentAt.Unix(), ExpiresAt: sentAt.Add(72 * time.Hour).Unix()}
			if ok {
				var path string
				path, confirm.OutboxID = confirmLink(t, r.st, r.signer, "blog", c.key, c.normalized)
				tokens = append(tokens, strings.TrimPrefix(path, "/confirm/"))
			}
			good := "/confirm/" + sign(r.signer, confirm)
			do(base, "GET", good, browserUA, "", "")
			for range 2 {
				do(base, "POST", good, browserUA, form, "")
			}
			expired, gone, others, forged := confirm, confirm, confirm, confirm
			expired.ExpiresAt = sentAt.Add(time.Minute).Unix()
			gone.OutboxID = 999_999
			others.ContactKey = contacts[(i+1)%len(contacts)].key // signed for a row that is not this contact's
			for _, p := range []string{"/confirm/" + sign(r.signer, expired), "/confirm/" + sign(r.signer, gone),
				"/confirm/" + sign(r.signer, others), "/confirm/" + sign(forger, forged)} {
				do(base, "POST", p, browserUA, form, "")
			}

			events(base, "wrong-token-"+c.key, `{"type":"page_view","model":"lead","key":"`+c.key+`","at":"2026-12-01T10:00:00Z"}`)
			events(base, testToken, `{"type":"page_view","model":"lead","key":"`+c.key+`","at":"2026-12-01T10:00:00Z","properties":{"email":"`+c.email+`"}}`+"\n"+
				`{"type":"page_view","model":"lead","key":"`+c.key+`","at":"not a time: `+c.email+`"}`)
			events(base, testToken, `{"type":"page_view","model":"lead","key":"`+c.key+`","at":"2026-12-01T10:00:00Z","properties":{"email":"`+c.email+`"}}`)
		}
	}
	burst(r.url, true)

	// The same while the database is away: a store that cannot connect.
	away := &store.Store{DB: sqlx.MustOpen("postgres", "postgres://nobody@127.0.0.1:1/away?sslmode=disable&connect_timeout=1")}
	t.Cleanup(func() { away.DB.Close() })
	log := slog.New(slog.NewTextHandler(&logs, nil))
	reg := prometheus.NewRegistry()
	tr := NewTracker(away, log, reg, TrackerOptions{FlushEvery: 10 * time.Millisecond, FinalFlush: 2 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tr.Run(ctx) }()
	srv := &Server{Gatherer: reg, DB: away.DB, Suppressor: away, Links: r.signer, Clock: r.clock, Log: log, Tracker: tr,
		Limits: Limits{PerSecond: -1, TrustedProxies: proxies}, Consent: away, Subscriptions: subscriptions,
		Events: away, EventsToken: testToken}
	hs := httptestServer(t, srv.Handler())
	burst(hs, false)
	cancel()
	<-done
	r.stop()

	metrics := scrapeText(t, r.url+"/metrics") + scrapeText(t, hs+"/metrics")
	logText := logs.String()
	// The faults happened: each error path wrote its line.
	for _, line := range []string{"could not store opens and clicks", "one-click unsubscribe failed", `msg="unsubscribe failed"`,
		"preference center: reading preferences failed", "confirming a subscription failed", "POST /v1/events: storing failed"} {
		if !strings.Contains(logText, line) {
			t.Errorf("the log has no %q line: the burst did not reach that path", line)
		}
	}
	if !strings.Contains(metrics, "campaignctl_tracking_events_total{") || !strings.Contains(metrics, "campaignctl_tracking_events_dropped_total{") {
		t.Errorf("/metrics lacks the tracking counters:\n%s", metrics)
	}
	// The one address the log names (docs/security.md): the client a
	// refused POST /v1/events came from, behind the proxy.
	if !strings.Contains(logText, `msg="POST /v1/events refused: bad or missing token" client=`+strangerIP+"\n") {
		t.Errorf("the refused events request is not logged with its client %s:\n%s", strangerIP, logText)
	}
	needles := []string{clientIP}
	for _, c := range contacts {
		needles = append(needles, c.key, c.email, c.normalized, c.local, url.QueryEscape(c.email))
	}
	needles = append(needles, tokens...)
	for where, text := range map[string]string{"the log": logText, "/metrics": metrics} {
		lower := strings.ToLower(text)
		for _, n := range needles {
			if strings.Contains(lower, strings.ToLower(n)) {
				i := strings.Index(lower, strings.ToLower(n))
				t.Errorf("%s holds %q: …%s…", where, n, text[max(0, i-200):min(len(text), i+len(n)+80)])
			}
		}
	}
}

// httptestServer serves h on loopback until the test ends and returns its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}

// scrapeText returns what a GET of u answers, failing on anything but 200.
func scrapeText(t *testing.T, u string) string {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", u, res.StatusCode, b)
	}
	return string(b)
}
