package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

const browserUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"

var (
	oldSecret = []byte("the-old-secret-0123456789")
	newSecret = []byte("the-new-secret-9876543210")
)

// trackRig is the daemon's HTTP surface with a running Tracker on a fresh,
// migrated database, signing with newSecret and still verifying oldSecret.
type trackRig struct {
	st     *store.Store
	url    string
	signer *links.Signer
	clock  *clock.Fake
	reg    *prometheus.Registry
	tr     *Tracker
	stop   func() // stops the tracker after writing what it holds
}

var sentAt = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func setupTracking(t testing.TB, opts TrackerOptions) *trackRig {
	t.Helper()
	return setupTrackingWith(t, opts, io.Discard, nil)
}

// setupTrackingWith is setupTracking with the daemon's log written to log
// and configure, when not nil, given the Server before it serves.
func setupTrackingWith(t testing.TB, opts TrackerOptions, logTo io.Writer, configure func(*Server)) *trackRig {
	t.Helper()
	return setupTrackingThrough(t, opts, logTo, configure, nil)
}

// setupTrackingThrough is setupTrackingWith with the tracker's writes going
// through wrap(store), when wrap is not nil: a fault between the tracker
// and the database.
func setupTrackingThrough(t testing.TB, opts TrackerOptions, logTo io.Writer, configure func(*Server), wrap func(EventInserter) EventInserter) *trackRig {
	t.Helper()
	db, _ := storetest.OpenFromTemplate(t, "migrated", migratedTemplate)
	st := &store.Store{DB: db}
	st.SetMaxConns(8)
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	signer, err := links.FromSecrets(newSecret, oldSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := &trackRig{st: st, signer: signer, clock: clock.NewFake(sentAt.Add(time.Hour)), reg: prometheus.NewRegistry()}
	log := slog.New(slog.NewTextHandler(logTo, nil))
	var ins EventInserter = st
	if wrap != nil {
		ins = wrap(st)
	}
	tr := NewTracker(ins, log, r.reg, opts)
	r.tr = tr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tr.Run(ctx) }()
	var once sync.Once
	r.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(r.stop)
	// No rate limit: the benchmark measures the endpoints from one address
	// (the limiter has its own tests, limit_test.go).
	srv := &Server{DB: db, Suppressor: st, Links: signer, Clock: r.clock, Log: log, Tracker: tr, Gatherer: r.reg, Limits: Limits{PerSecond: -1}}
	if configure != nil {
		configure(srv)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	r.url = hs.URL
	return r
}

func (r *trackRig) dropped() float64 {
	return testutil.ToFloat64(r.tr.dropped.WithLabelValues("queue_full")) + testutil.ToFloat64(r.tr.dropped.WithLabelValues("write_failed"))
}

func msgClaims() links.Claims {
	return links.Claims{
		Kind: "sequence", Campaign: "restock_nurture", Step: "week1", Variant: "urgent",
		Model: "lead", ContactKey: "42", Occurrence: 1, OutboxID: 77, IssuedAt: sentAt.Unix(),
	}
}

func (r *trackRig) token(p links.Purpose, url string) string {
	c := msgClaims()
	c.Purpose, c.URL = p, url
	if p == links.PurposeUnsubscribe {
		c.Email = "ann@example.com"
	}
	return r.signer.Sign(c)
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t testing.TB, url, ua string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("User-Agent", ua)
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, body
}

type storedEvent struct {
	Model, ContactKey, Type, Campaign, Step, URL string
	OccurredAt                                   time.Time
	Props                                        trackProps
}

func (r *trackRig) events(t testing.TB) []storedEvent {
	t.Helper()
	rows, err := r.st.DB.Query(`SELECT model, contact_key, type, campaign, step, url, occurred_at, properties FROM campaignctl.events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []storedEvent
	for rows.Next() {
		var e storedEvent
		var props []byte
		if err := rows.Scan(&e.Model, &e.ContactKey, &e.Type, &e.Campaign, &e.Step, &e.URL, &e.OccurredAt, &props); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(props, &e.Props); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestClickRedirectsToTheSignedURLAndRecordsOneClick(t *testing.T) {
	r := setupTracking(t, TrackerOptions{})
	dest := "https://shop.example/p?id=7&utm=mail#top"
	res, _ := get(t, r.url+"/c/"+r.token(links.PurposeClick, dest), browserUA)
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != dest {
		t.Fatalf("got %d Location %q, want 302 to %s", res.StatusCode, res.Header.Get("Location"), dest)
	}
	if res.Header.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(res.Header.Get("Cache-Control"), "no-store") {
		t.Errorf("headers %v", res.Header)
	}
	r.stop()
	ev := r.events(t)
	want := storedEvent{
		Model: "lead", ContactKey: "42", Type: "click", Campaign: "restock_nurture", Step: "week1", URL: dest,
		OccurredAt: r.clock.Now(),
		Props:      trackProps{Kind: "sequence", Occurrence: 1, Variant: "urgent", OutboxID: 77, UserAgent: browserUA},
	}
	if len(ev) != 1 || !ev[0].OccurredAt.Equal(want.OccurredAt) {
		t.Fatalf("events %+v, want one %+v", ev, want)
	}
	ev[0].OccurredAt = want.OccurredAt
	if ev[0] != want {
		t.Fatalf("event\n %+v\nwant\n %+v", ev[0], want)
	}
}

func TestPixelRecordsEveryLoad(t *testing.T) {
	r := setupTracking(t, TrackerOptions{})
	u := r.url + "/o/" + r.token(links.PurposeOpen, "")
	for range 3 {
		res, body := get(t, u, browserUA)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/gif" || !strings.Contains(res.Header.Get("Cache-Control"), "no-store") {
			t.Fatalf("got %d %v", res.StatusCode, res.Header)
		}
		if string(body) != string(pixelGIF) || len(body) != 43 {
			t.Fatalf("body %x", body)
		}
		r.clock.Advance(time.Minute)
	}
	r.stop()
	ev := r.events(t)
	if len(ev) != 3 {
		t.Fatalf("%d events, want 3 opens (one per load)", len(ev))
	}
	for _, e := range ev {
		if e.Type != "open" || e.Model != "lead" || e.ContactKey != "42" || e.Campaign != "restock_nurture" || e.Step != "week1" || e.URL != "" || e.Props.Machine {
			t.Errorf("event %+v", e)
		}
	}
}

// Forged, altered, retired or replayed for another purpose: 404 (400 on the
// unsubscribe page, as before) and nothing recorded, nobody unsubscribed.
func TestBadTokensAre404AndRecordNothing(t *testing.T) {
	r := setupTracking(t, TrackerOptions{})
	forger, _ := links.NewSigner([]byte("not-our-secret-0123456789"))
	retired, _ := links.NewSigner([]byte("a-retired-secret-0123456789"))
	c := msgClaims()
	c.Purpose, c.URL = links.PurposeClick, "https://shop.example/"
	click := r.token(links.PurposeClick, "https://shop.example/")
	kid, rest, _ := strings.Cut(click, ".")
	_, mac, _ := strings.Cut(rest, ".")
	evil := msgClaims()
	evil.Purpose, evil.URL = links.PurposeClick, "https://evil.example/"
	_, evilRest, _ := strings.Cut(r.signer.Sign(evil), ".")
	evilPayload, _, _ := strings.Cut(evilRest, ".")
	open := r.token(links.PurposeOpen, "")
	unsub := r.token(links.PurposeUnsubscribe, "")
	legacy := legacyUnsubscribe(oldSecret, "restock_nurture", "week1", "ann@example.com")

	for name, path := range map[string]string{
		"forged click":              "/c/" + forger.Sign(c),
		"altered click":             "/c/" + click[:len(click)-3] + "AAA",
		"payload from another link": "/c/" + kid + "." + evilPayload + "." + mac,
		"retired key":               "/c/" + retired.Sign(c),
		"unsubscribe token at /c/":  "/c/" + unsub,
		"legacy unsubscribe at /c/": "/c/" + legacy,
		"open token at /c/":         "/c/" + open,
		"click token at /o/":        "/o/" + click,
		"unsubscribe token at /o/":  "/o/" + unsub,
		"forged pixel":              "/o/" + forger.Sign(links.Claims{Purpose: links.PurposeOpen, Model: "lead", ContactKey: "1"}),
		"empty":                     "/c/",
	} {
		res, _ := get(t, r.url+path, browserUA)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: got %d, want 404", name, res.StatusCode)
		}
		if loc := res.Header.Get("Location"); loc != "" {
			t.Errorf("%s: redirected to %s", name, loc)
		}
	}
	for name, tok := range map[string]string{"click": click, "open": open} {
		res, err := http.Post(r.url+"/u/"+tok, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s token replayed to unsubscribe: got %d, want 400", name, res.StatusCode)
		}
	}
	r.stop()
	if ev := r.events(t); len(ev) != 0 {
		t.Fatalf("bad tokens recorded %+v", ev)
	}
	var n int
	r.st.DB.QueryRow(`SELECT count(*) FROM campaignctl.suppressions`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d suppressions after tracking tokens were replayed to /u/", n)
	}
}

// legacyUnsubscribe is an unsubscribe token of the format before key ids, as
// the signer of that time wrote it.
func legacyUnsubscribe(secret []byte, campaign, step, email string) string {
	payload := campaign + "\x1f" + step + "\x1f" + email
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(payload))
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(mac.Sum(nil)[:16])
}

func TestRotationKeepsLinksAlreadySent(t *testing.T) {
	r := setupTracking(t, TrackerOptions{})
	before, _ := links.NewSigner(oldSecret)
	c := msgClaims()
	c.Purpose, c.URL = links.PurposeClick, "https://shop.example/old"
	res, _ := get(t, r.url+"/c/"+before.Sign(c), browserUA)
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != c.URL {
		t.Fatalf("click signed with the old key: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	// An unsubscribe link of the legacy format, signed with the old key.
	legacy := legacyUnsubscribe(oldSecret, "spring", "", "Ann@Example.com")
	res2, err := http.Post(r.url+"/u/"+legacy, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != 200 {
		t.Fatalf("legacy unsubscribe link: %d", res2.StatusCode)
	}
	if ok, err := r.st.IsSuppressed(context.Background(), "ann@example.com"); err != nil || !ok {
		t.Fatalf("legacy unsubscribe link did not unsubscribe: %v %v", ok, err)
	}
	r.stop()
	if ev := r.events(t); len(ev) != 1 || ev[0].URL != c.URL {
		t.Fatalf("events %+v", ev)
	}
}

// gmailProxyUA is the User-Agent of Gmail's image proxy.
const gmailProxyUA = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"

func TestMachineOpensAndClicks(t *testing.T) {
	tr := NewTracker(nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, TrackerOptions{})
	c := msgClaims()
	late := sentAt.Add(time.Hour)
	for _, tc := range []struct {
		name, method, ua string
		at               time.Time
		machine          bool
	}{
		{"a reader", "GET", browserUA, late, false},
		{"Apple MPP", "GET", "Mozilla/5.0", late, true},
		// Gmail's and Yahoo's proxies fetch when the reader displays the
		// message: a reader's open, unless it comes seconds after sending.
		{"Gmail proxy", "GET", gmailProxyUA, late, false},
		{"Yahoo proxy", "GET", "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", late, false},
		{"Gmail proxy seconds after sending", "GET", gmailProxyUA, sentAt.Add(3 * time.Second), true},
		{"Gmail proxy HEAD", "HEAD", gmailProxyUA, late, true},
		{"no user agent", "GET", "", late, true},
		{"HEAD", "HEAD", browserUA, late, true},
		{"seconds after sending", "GET", browserUA, sentAt.Add(3 * time.Second), true},
	} {
		if m, why := tr.machineOpen(c, tc.method, tc.ua, tc.at); m != tc.machine {
			t.Errorf("%s: machine %v (%s), want %v", tc.name, m, why, tc.machine)
		}
	}
	// The image proxies fetch images, not links: a click with their
	// User-Agent is a machine's.
	other := c
	other.OutboxID += 1000 // another message: no burst with the clicks below
	if m, why := tr.machineClick(other, "GET", gmailProxyUA, late); !m {
		t.Errorf("a click through Gmail's image proxy: machine %v (%s), want true", m, why)
	}
	// A scanner follows every link of a message within a second; a reader
	// clicks one, then another a minute later.
	a, b := c, c
	a.URL, b.URL = "https://shop.example/a", "https://shop.example/b"
	if m, _ := tr.machineClick(a, "GET", browserUA, late); m {
		t.Error("first click flagged")
	}
	if m, why := tr.machineClick(b, "GET", browserUA, late.Add(500*time.Millisecond)); !m || !strings.Contains(why, "several links") {
		t.Errorf("second link within 0.5 s: machine %v (%s)", m, why)
	}
	if m, _ := tr.machineClick(a, "GET", browserUA, late.Add(time.Minute)); m {
		t.Error("a click a minute later flagged")
	}
	if m, _ := tr.machineClick(a, "GET", browserUA, late.Add(time.Minute+time.Second)); m {
		t.Error("the same link twice (a double click) flagged")
	}
}

// The bot words of machineAgents are matched as words of the User-Agent,
// not as substrings: a crawler's product name ending in one ("Googlebot/2.1",
// "TelegramBot") or one on its own ("+http://www.google.com/bot.html") is a
// machine; a phone or a browser that happens to contain the letters (Cubot
// phones, an "Abbott" app) is a reader.
func TestBotWordsMatchAsWords(t *testing.T) {
	for _, tc := range []struct {
		ua      string
		machine bool
	}{
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true},
		{"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.118 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true},
		{"Googlebot-Image/1.0", true},
		{"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", true},
		{"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", true},
		{"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", true},
		{"Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)", true},
		{"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", true},
		{"AdsBot-Google (+http://www.google.com/adsbot.html)", true},
		{"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", true},
		{"TelegramBot (like TwitterBot)", true},
		{"Twitterbot/1.0", true},
		{"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", true},
		{"Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", true},
		{"Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)", true},
		{"Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)", true},
		{"Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)", true},
		{"some-crawler/1.2 (+https://crawler.example/about)", true},
		{"bot/1.0", true},
		{"Mozilla/5.0 (Linux; Android 11; CUBOT NOTE 20 PRO) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/98.0.4758.101 Mobile Safari/537.36", false},
		{"Mozilla/5.0 (Linux; Android 9; CUBOT_P30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36", false},
		{"Dalvik/2.1.0 (Linux; U; Android 10; CUBOT X30 Build/QP1A.190711.020)", false},
		{"Mozilla/5.0 (Linux; Android 12; Cubot KingKong 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/110.0.5481.153 Mobile Safari/537.36", false},
		{"Abbott/3.4 CFNetwork/1410.0.3 Darwin/22.6.0", false},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [Abbott Lingo 1.8]", false},
		{browserUA, false},
	} {
		if name, _ := machineAgent(tc.ua); (name != "") != tc.machine {
			t.Errorf("machineAgent(%q) = %q, want machine %v", tc.ua, name, tc.machine)
		}
	}
}

// A flagged open is stored with the flag and the reason.
func TestMachineOpenStoredWithFlag(t *testing.T) {
	r := setupTracking(t, TrackerOptions{})
	r.clock.Set(sentAt.Add(2 * time.Second))
	get(t, r.url+"/o/"+r.token(links.PurposeOpen, ""), browserUA)
	r.clock.Set(sentAt.Add(time.Hour))
	get(t, r.url+"/o/"+r.token(links.PurposeOpen, ""), "Mozilla/5.0")
	r.stop()
	ev := r.events(t)
	if len(ev) != 2 || !ev[0].Props.Machine || !strings.Contains(ev[0].Props.MachineReason, "of sending") ||
		!ev[1].Props.Machine || !strings.Contains(ev[1].Props.MachineReason, "Apple") {
		t.Fatalf("events %+v", ev)
	}
}

type stuckInserter struct{ calls atomic.Int32 }

func (s *stuckInserter) InsertEvents(ctx context.Context, ev []store.Event) (int64, error) {
	s.calls.Add(1)
	return 0, errors.New("database away")
}

// A full queue does not hold the reader: the redirect is answered and the
// event counted as dropped; a batch the database refuses is counted too.
func TestFullQueueAnswersAndCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	ins := &stuckInserter{}
	tr := NewTracker(ins, slog.New(slog.NewTextHandler(io.Discard, nil)), reg, TrackerOptions{QueueSize: 2})
	clickThrough(t, tr, reg, 5)
	if got := testutil.ToFloat64(tr.dropped.WithLabelValues("queue_full")); got != 3 {
		t.Fatalf("dropped %v, want 3", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tr.Run(ctx)
	if got := testutil.ToFloat64(tr.dropped.WithLabelValues("write_failed")); got != 2 || ins.calls.Load() != 3 {
		t.Fatalf("write_failed %v after %d attempts, want 2 after 3", got, ins.calls.Load())
	}
}

// BenchmarkTrackingEndpoints: pixel and click requests per second on
// loopback (real HTTP, keep-alive clients), the events written in batches to
// Postgres, and the p99 latency. Each iteration is `requests` requests from
// `clients` concurrent clients; the events are counted afterwards.
func BenchmarkTrackingEndpoints(b *testing.B) {
	for _, kind := range []string{"pixel", "click"} {
		b.Run(kind, func(b *testing.B) {
			const requests, clients = 50_000, 64
			r := setupTracking(b, TrackerOptions{})
			paths := make([]string, 1000)
			for i := range paths {
				c := msgClaims()
				c.ContactKey, c.OutboxID = fmt.Sprint(i), int64(i)
				if kind == "pixel" {
					c.Purpose = links.PurposeOpen
					paths[i] = r.url + "/o/" + r.signer.Sign(c)
				} else {
					c.Purpose, c.URL = links.PurposeClick, fmt.Sprintf("https://shop.example/product/%d?utm_source=mail", i)
					paths[i] = r.url + "/c/" + r.signer.Sign(c)
				}
			}
			tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
			client := &http.Client{Transport: tr, CheckRedirect: noRedirect.CheckRedirect}
			defer tr.CloseIdleConnections()
			lat := make([]time.Duration, 0, requests*b.N)
			var latMu sync.Mutex
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				var next atomic.Int64
				var wg sync.WaitGroup
				for range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						mine := make([]time.Duration, 0, requests/clients+1)
						for {
							i := next.Add(1)
							if i > requests {
								break
							}
							req, _ := http.NewRequest("GET", paths[i%int64(len(paths))], nil)
							req.Header.Set("User-Agent", browserUA)
							t0 := time.Now()
							res, err := client.Do(req)
							if err != nil {
								b.Error(err)
								return
							}
							io.Copy(io.Discard, res.Body)
							res.Body.Close()
							mine = append(mine, time.Since(t0))
							if res.StatusCode != 200 && res.StatusCode != 302 {
								b.Errorf("status %d", res.StatusCode)
								return
							}
						}
						latMu.Lock()
						lat = append(lat, mine...)
						latMu.Unlock()
					}()
				}
				wg.Wait()
			}
			elapsed := time.Since(start)
			b.StopTimer()
			r.stop()
			var stored int
			r.st.DB.QueryRow(`SELECT count(*) FROM campaignctl.events`).Scan(&stored)
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			p99 := lat[len(lat)*99/100]
			b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(stored), "events-stored")
			b.ReportMetric(r.dropped(), "events-dropped")
			if stored+int(r.dropped()) != len(lat) {
				b.Errorf("%d requests, %d events stored", len(lat), stored)
			}
		})
	}
}

// TestTrackerRefreshesPartitionStatistics: the opens and clicks of a send
// come in thousands at a time, and the engagement triggers read them; the
// tracker refreshes the partitions' statistics as POST /v1/events does
// (autovacuum off on the partition, so only the tracker can).
func TestTrackerRefreshesPartitionStatistics(t *testing.T) {
	r := setupTracking(t, TrackerOptions{})
	ctx := context.Background()
	reltuples := quietPartition(t, r.st, sentAt)
	batch := make([]store.Event, store.AnalyzeEventsAfter)
	for i := range batch {
		batch[i] = store.Event{OccurredAt: sentAt.Add(time.Duration(i) * time.Second), Model: "lead", ContactKey: fmt.Sprint(i), Type: "open", Campaign: "restock_nurture"}
	}
	if got := reltuples(); got != -1 {
		t.Fatalf("reltuples %v before the opens, want -1", got)
	}
	r.tr.write(ctx, ctx, batch)
	storetest.WaitReltuples(t, reltuples, float64(len(batch)), fmt.Sprintf("%d opens were stored", len(batch)))
}

// clickThrough serves tr's click links and follows one n times, each
// answered with its redirect.
func clickThrough(t *testing.T, tr *Tracker, reg *prometheus.Registry, n int) {
	t.Helper()
	signer, _ := links.NewSigner(newSecret)
	srv := &Server{Links: signer, Clock: clock.NewFake(sentAt.Add(time.Hour)), Tracker: tr, Gatherer: reg}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	c := msgClaims()
	c.Purpose, c.URL = links.PurposeClick, "https://shop.example/"
	for range n {
		if res, _ := get(t, hs.URL+"/c/"+signer.Sign(c), browserUA); res.StatusCode != http.StatusFound {
			t.Fatalf("got %d", res.StatusCode)
		}
	}
}

// hangingInserter is a database that does not answer: every write waits
// until its context ends.
type hangingInserter struct{ calls atomic.Int32 }

func (h *hangingInserter) InsertEvents(ctx context.Context, ev []store.Event) (int64, error) {
	h.calls.Add(1)
	<-ctx.Done()
	return 0, ctx.Err()
}

// A stopping tracker writes what is queued within its final flush, retries
// included, when the database hangs rather than refuses: each attempt took
// its own 10 s before (three per batch, every batch), so a serve exit could
// run far past the documented bound.
func TestFinalFlushKeepsItsBoundWhenTheDatabaseHangs(t *testing.T) {
	reg := prometheus.NewRegistry()
	ins := &hangingInserter{}
	tr := NewTracker(ins, slog.New(slog.NewTextHandler(io.Discard, nil)), reg,
		TrackerOptions{QueueSize: 10, MaxBatch: 2, FinalFlush: 300 * time.Millisecond})
	clickThrough(t, tr, reg, 6) // three batches of two
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	tr.Run(ctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the final flush took %s against a hung database; its bound is 300 ms", took.Round(time.Millisecond))
	}
	if got := testutil.ToFloat64(tr.dropped.WithLabelValues("write_failed")); got != 6 {
		t.Errorf("write_failed %v, want the 6 queued events counted as lost", got)
	}
}

// A click whose User-Agent names a link scanner the docs list (Barracuda,
// Mimecast, Proofpoint, Safe Links, headless browsers, scripts, bots) is
// stored flagged as a machine's, with the scanner named, and the A/B counts
// the engine decides on (ab-counts) leave it out: of eleven messages of the
// test group, each clicked once, only the reader's click is a success.
// (Workflow branches read the flag through enrollment-engagement: the
// scanner in TestEveryExampleWorkflowRunsFromItsRealTrigger, runtime/engine.)
func TestScannerClicksAreFlaggedAndLeftOutOfTheABCounts(t *testing.T) {
	r := setupTracking(t, TrackerOptions{})
	scanners := []struct{ ua, reason string }{
		{"Mozilla/5.0 (compatible; Barracuda Sentinel (EE))", "Barracuda"},
		{"Mimecast URL Protect/1.0", "Mimecast"},
		{"Mozilla/5.0 (compatible; Proofpoint URL Defense)", "Proofpoint"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Microsoft Office SafeLinks", "Safe Links"},
		{"Cisco IronPort Web Security", "IronPort"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36", "headless"},
		{"python-requests/2.32.3", "script"},
		{"curl/8.5.0", "script"},
		{"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bot"},
		{"", "no user agent"},
	}
	readerKey := fmt.Sprintf("%d", len(scanners))
	send := func(key string) int64 {
		var id int64
		err := r.st.DB.QueryRow(`INSERT INTO campaignctl.outbox (kind, campaign, step, variant, contact_key, email, email_normalized, status, due_at, created_at, sent_at)
			VALUES ('sequence', 'restock_nurture', 'week1', 'urgent', $1, $1 || '@x.test', $1 || '@x.test', 'sent', $2, $2, $2) RETURNING id`, key, sentAt).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	click := func(key, ua string) {
		c := msgClaims()
		c.Purpose, c.URL, c.ContactKey, c.OutboxID = links.PurposeClick, "https://shop.example/restock", key, send(key)
		res, _ := get(t, r.url+"/c/"+r.signer.Sign(c), ua)
		if res.StatusCode != http.StatusFound {
			t.Fatalf("click with User-Agent %q: %d, want 302 (a scanner is redirected like anyone)", ua, res.StatusCode)
		}
	}
	for i, s := range scanners {
		click(fmt.Sprint(i), s.ua)
	}
	click(readerKey, browserUA) // an hour after sending: a reader
	r.stop()

	byKey := map[string]storedEvent{}
	for _, e := range r.events(t) {
		byKey[e.ContactKey] = e
	}
	for i, s := range scanners {
		e, ok := byKey[fmt.Sprint(i)]
		if !ok || !e.Props.Machine || !strings.Contains(strings.ToLower(e.Props.MachineReason), strings.ToLower(s.reason)) {
			t.Errorf("click by %q: stored %v, machine %v (%q); want a machine click naming %s", s.ua, ok, e.Props.Machine, e.Props.MachineReason, s.reason)
		}
	}
	if e := byKey[readerKey]; e.Props.Machine {
		t.Errorf("the reader's click is flagged: %q", e.Props.MachineReason)
	}
	for _, types := range [][]string{{"click"}, {"open", "click"}} {
		counts, err := r.st.ABCounts(context.Background(), "sequence", "restock_nurture", "week1", "lead", types)
		if err != nil {
			t.Fatal(err)
		}
		if len(counts) != 1 || counts[0].Sent != int64(len(scanners)+1) || counts[0].Successes != 1 {
			t.Errorf("A/B counts of %v: %+v; want %d sent and 1 success (the reader's click only)", types, counts, len(scanners)+1)
		}
	}
}
