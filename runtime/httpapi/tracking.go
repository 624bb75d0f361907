package httpapi

// Open and click tracking: GET /o/<token> answers a 1×1 transparent GIF and
// records an open; GET /c/<token> records a click and answers 302 to the URL
// signed into the token (so only to a URL that was in the message). A token
// that is forged, altered, signed with a retired key or issued for another
// purpose (an unsubscribe link) gets 404 and records nothing.
//
// Events are written by a Tracker in batches (every FlushEvery or MaxBatch
// events, with InsertEvents), never inside the request: a pixel must not wait
// for Postgres. The queue between the handlers and the writer is bounded;
// when it is full (the database is slow or away) the request is answered all
// the same and the event is dropped and counted
// (campaignctl_tracking_events_dropped_total{reason="queue_full"}): losing an
// open is better than holding a reader's click or piling up memory.
//
// Every pixel load is an event (the timeline); rates and branches count
// distinct contacts per message. Opens and clicks a machine probably made are
// flagged in properties.machine (with properties.machine_reason), not
// dropped: see Machine.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// EventInserter stores events in one transaction; *store.Store implements it.
type EventInserter interface {
	InsertEvents(ctx context.Context, events []store.Event) (inserted int64, err error)
}

// Tracker defaults.
const (
	DefaultTrackFlushEvery = 100 * time.Millisecond
	DefaultTrackMaxBatch   = 500
	DefaultTrackQueue      = 50_000
	// DefaultMachineWindow: an open or a click this soon after the message was
	// composed is a prefetch or a link scanner, not a reader.
	DefaultMachineWindow = 10 * time.Second
	// DefaultBurstWindow: a click on another link of the same message this
	// soon after the previous one is a scanner following every link.
	DefaultBurstWindow = 2 * time.Second
)

// Tracker writes the events of /o/ and /c/ in batches and decides which of
// them a machine made. Create it with NewTracker and run Run.
type Tracker struct {
	store         EventInserter
	log           *slog.Logger
	flushEvery    time.Duration
	maxBatch      int
	finalFlush    time.Duration
	retryFor      time.Duration
	MachineWindow time.Duration
	BurstWindow   time.Duration

	queue    chan store.Event
	recorded *prometheus.CounterVec
	dropped  *prometheus.CounterVec

	mu     sync.Mutex
	bursts map[int64]lastClick
}

type lastClick struct {
	at  time.Time
	url string
}

// TrackerOptions sizes a Tracker; zero fields take the defaults.
type TrackerOptions struct {
	FlushEvery time.Duration
	MaxBatch   int
	QueueSize  int
	// FinalFlush bounds, from the moment Run's context ends, the writing of
	// what is still queued, retries included (default DefaultTrackFinalFlush).
	FinalFlush time.Duration
	// RetryFor is how long a running tracker retries a batch the database
	// refuses before dropping it (default DefaultTrackRetryFor).
	RetryFor time.Duration
}

// DefaultTrackRetryFor outlasts a database restart or failover.
const DefaultTrackRetryFor = time.Minute

// DefaultTrackFinalFlush is how long a stopping tracker may spend writing
// what its last requests queued while the database does not answer.
const DefaultTrackFinalFlush = 5 * time.Second

// NewTracker returns a tracker writing to st; its metrics are registered with
// reg when it is not nil.
func NewTracker(st EventInserter, log *slog.Logger, reg prometheus.Registerer, o TrackerOptions) *Tracker {
	if o.FlushEvery <= 0 {
		o.FlushEvery = DefaultTrackFlushEvery
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultTrackMaxBatch
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultTrackQueue
	}
	if o.FinalFlush <= 0 {
		o.FinalFlush = DefaultTrackFinalFlush
	}
	if o.RetryFor <= 0 {
		o.RetryFor = DefaultTrackRetryFor
	}
	t := &Tracker{
		store: st, log: log, flushEvery: o.FlushEvery, maxBatch: o.MaxBatch, finalFlush: o.FinalFlush, retryFor: o.RetryFor,
		MachineWindow: DefaultMachineWindow, BurstWindow: DefaultBurstWindow,
		queue: make(chan store.Event, o.QueueSize),
		recorded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campaignctl_tracking_events_total",
			Help: "Opens and clicks queued for writing, by type, whether a machine probably made them, and the object, step and A/B variant of the message (from its signed link, so only the plan's names).",
		}, []string{"type", "machine", "kind", "object", "step", "variant"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campaignctl_tracking_events_dropped_total",
			Help: "Opens and clicks answered but not stored: queue_full (the writer is behind), write_failed (the database refused the batch).",
		}, []string{"reason"}),
		bursts: map[int64]lastClick{},
	}
	if reg != nil {
		reg.MustRegister(t.recorded, t.dropped)
	}
	return t
}

// Run writes queued events until ctx is done, then writes what is still
// queued and returns. Writes outlive ctx by the final flush (FinalFlush, 5 s
// by default): the batch in hand when ctx ends and what is still queued are
// written within that, retries included, and what is not is counted as lost.
// Stop the HTTP server first, so no request queues an event after Run
// returned.
func (t *Tracker) Run(ctx context.Context) {
	wctx, cancelWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWrites()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(t.finalFlush, cancelWrites) })
	defer stop()
	tick := time.NewTicker(t.flushEvery)
	defer tick.Stop()
	batch := make([]store.Event, 0, t.maxBatch)
	for {
		select {
		case e := <-t.queue:
			batch = append(batch, e)
			if len(batch) >= t.maxBatch {
				t.write(wctx, ctx, batch)
				batch = batch[:0]
			}
		case <-tick.C:
			if len(batch) > 0 {
				t.write(wctx, ctx, batch)
				batch = batch[:0]
			}
		case <-ctx.Done():
			for {
				select {
				case e := <-t.queue:
					batch = append(batch, e)
					if len(batch) < t.maxBatch {
						continue
					}
				default:
				}
				if len(batch) == 0 {
					return
				}
				t.write(wctx, ctx, batch)
				batch = batch[:0]
			}
		}
	}
}

// write stores a batch. While the tracker runs (stop not done), a failed
// write is retried with growing pauses (up to 2 s) for RetryFor, so a
// database restart is waited out while the bounded queue holds what comes
// in meanwhile; once stopping, a failed write is retried twice. Then the
// batch is dropped, logged and counted. ctx ends only when the final flush
// is over (Run): every attempt and retry stops then, where each took its own
// 10 s before while the database did not answer.
func (t *Tracker) write(ctx, stop context.Context, batch []store.Event) {
	var err error
	giveUp := time.Now().Add(t.retryFor)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt >= 3 && (stop.Err() != nil || time.Now().After(giveUp)) {
				break
			}
			select {
			case <-time.After(min(time.Duration(attempt)*250*time.Millisecond, 2*time.Second)):
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
		}
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = t.store.InsertEvents(actx, batch)
		cancel()
		if err == nil {
			return
		}
	}
	t.dropped.WithLabelValues("write_failed").Add(float64(len(batch)))
	t.log.Error("could not store opens and clicks; they are lost", "events", len(batch), "err", err)
}

// enqueue hands e, made from the link's claims c, to the writer without
// waiting.
func (t *Tracker) enqueue(c links.Claims, e store.Event, machine bool) {
	select {
	case t.queue <- e:
		m := "false"
		if machine {
			m = "true"
		}
		kind := c.Kind
		if kind == "" {
			kind = "campaign" // links issued before tokens carried the kind
		}
		t.recorded.WithLabelValues(e.Type, m, kind, c.Campaign, c.Step, c.Variant).Inc()
	default:
		t.dropped.WithLabelValues("queue_full").Inc()
	}
}

// trackProps is the events' properties: what the events table has no column
// for. machine_reason says why machine is true.
type trackProps struct {
	Kind          string `json:"kind"`
	Occurrence    int    `json:"occurrence"`
	Variant       string `json:"variant,omitempty"`
	OutboxID      int64  `json:"outbox_id"`
	Machine       bool   `json:"machine"`
	MachineReason string `json:"machine_reason,omitempty"`
	UserAgent     string `json:"user_agent"`
}

// maxUserAgent bounds what is stored of a User-Agent.
const maxUserAgent = 256

// trackEvent builds the event of a verified token, or false when the token
// cannot make a storable event (it lacks a contact, or holds text Postgres
// refuses): such a link is answered 404 like a bad one.
func trackEvent(c links.Claims, typ string, now time.Time, ua string, machine bool, reason string) (store.Event, bool) {
	if c.Model == "" || c.ContactKey == "" {
		return store.Event{}, false
	}
	for _, s := range [...]string{c.Model, c.ContactKey, c.Campaign, c.Step, c.URL} {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return store.Event{}, false
		}
	}
	props, err := json.Marshal(trackProps{
		Kind: c.Kind, Occurrence: c.Occurrence, Variant: c.Variant, OutboxID: c.OutboxID,
		Machine: machine, MachineReason: reason, UserAgent: cleanUserAgent(ua),
	})
	if err != nil {
		return store.Event{}, false
	}
	return store.Event{
		OccurredAt: now, Model: c.Model, ContactKey: c.ContactKey, Type: typ,
		Campaign: c.Campaign, Step: c.Step, URL: c.URL, Properties: props,
		ExternalID: trackID(),
	}, true
}

// trackID names one open or click: 16 random bytes, "track-" and 32 hex
// digits. The writer's retry of a batch whose commit went through but whose
// acknowledgement was lost then stores nothing twice (an id is one event,
// store.InsertEvents); two requests are two ids, so a contact who clicks
// twice has two clicks.
func trackID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return "track-" + hex.EncodeToString(b[:])
}

// cleanUserAgent keeps printable text (jsonb refuses \u0000) and bounds it.
func cleanUserAgent(ua string) string {
	ua = strings.ToValidUTF8(ua, "")
	ua = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, ua)
	if len(ua) > maxUserAgent {
		ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
	}
	return ua
}

// pixelGIF is a 1×1 transparent GIF (43 bytes).
var pixelGIF = []byte{
	'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
	'!', 0xf9, 4, 1, 0, 0, 0, 0, ',', 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 'D', 1, 0, ';',
}

func (s *Server) trackingRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /o/{token}", s.openPixel)
	mux.HandleFunc("GET /c/{token}", s.click)
}

// verifyTrack returns the claims of the request's token for purpose, or false
// after answering 404.
func (s *Server) verifyTrack(w http.ResponseWriter, r *http.Request, p links.Purpose) (links.Claims, bool) {
	if s.Links == nil || s.Tracker == nil {
		http.NotFound(w, r)
		return links.Claims{}, false
	}
	c, err := s.Links.Verify(r.PathValue("token"), p)
	if err != nil {
		http.NotFound(w, r)
		return c, false
	}
	return c, true
}

func (s *Server) openPixel(w http.ResponseWriter, r *http.Request) {
	c, ok := s.verifyTrack(w, r, links.PurposeOpen)
	if !ok {
		return
	}
	now := s.Clock.Now()
	ua := r.UserAgent()
	machine, reason := s.Tracker.machineOpen(c, r.Method, ua, now)
	ev, ok := trackEvent(c, "open", now, ua, machine, reason)
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.Tracker.enqueue(c, ev, machine)
	h := w.Header()
	h.Set("Content-Type", "image/gif")
	// Every load must reach us (the timeline), and no shared cache may keep it.
	h.Set("Cache-Control", "no-store, private")
	h.Set("Content-Length", "43")
	w.Write(pixelGIF)
}

func (s *Server) click(w http.ResponseWriter, r *http.Request) {
	c, ok := s.verifyTrack(w, r, links.PurposeClick)
	if !ok {
		return
	}
	if !safeRedirect(c.URL) {
		http.NotFound(w, r)
		return
	}
	now := s.Clock.Now()
	ua := r.UserAgent()
	machine, reason := s.Tracker.machineClick(c, r.Method, ua, now)
	ev, ok := trackEvent(c, "click", now, ua, machine, reason)
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.Tracker.enqueue(c, ev, machine)
	h := w.Header()
	h.Set("Cache-Control", "no-store, private")
	// The destination does not learn the token from the Referer.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Location", c.URL)
	w.WriteHeader(http.StatusFound)
}

// safeRedirect: an absolute http(s) URL that fits in a header. The token's
// signature already says we wrote it; this keeps a bug elsewhere from
// turning into header injection.
func safeRedirect(u string) bool {
	l := strings.ToLower(u)
	if !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
		return false
	}
	for i := 0; i < len(u); i++ {
		if u[i] < 0x20 || u[i] == 0x7f {
			return false
		}
	}
	return true
}

// Machine opens and clicks. Apple Mail Privacy Protection fetches every
// image of a message when it is delivered, read or not; security gateways
// fetch every link of a message within seconds of delivery. Such events are
// kept, with properties.machine = true and the reason, so a report can count
// or exclude them; workflow branches, sequence conditions and A/B tests
// leave them out (enrollment-engagement, ab-counts). Gmail's and Yahoo's
// image proxies fetch a message's images when the reader displays it, on
// the reader's behalf: an open through one is a reader's open (anonymous,
// and not necessarily the first: they cache), so it is not a machine open
// (machineOpen), unless the other rules say so.

// machineAgents are User-Agent substrings (lower case) of proxies, prefetchers
// and link scanners, with the name reported. display marks the image proxies
// that fetch when the reader displays the message: their opens are a
// reader's (machineOpen), their clicks a machine's. word marks the generic
// words, which must be words of the User-Agent (uaWord), not just letters in
// it: "bot" is in "Cubot" (a phone maker) and "Abbott".
var machineAgents = []struct {
	sub, name     string
	display, word bool
}{
	{"googleimageproxy", "proxy: Gmail image proxy", true, false},
	{"ggpht.com", "proxy: Gmail image proxy", true, false},
	{"yahoomailproxy", "proxy: Yahoo Mail proxy", true, false},
	{"bingpreview", "scanner: Bing preview", false, false},
	{"barracuda", "scanner: Barracuda", false, false},
	{"mimecast", "scanner: Mimecast", false, false},
	{"proofpoint", "scanner: Proofpoint", false, false},
	{"ironport", "scanner: Cisco IronPort", false, false},
	{"messagelabs", "scanner: Symantec MessageLabs", false, false},
	{"trendmicro", "scanner: Trend Micro", false, false},
	{"forcepoint", "scanner: Forcepoint", false, false},
	{"safelinks", "scanner: Microsoft Safe Links", false, false},
	{"headlesschrome", "scanner: headless browser", false, false},
	{"python-requests", "scanner: script", false, false},
	{"curl/", "scanner: script", false, false},
	{"wget/", "scanner: script", false, false},
	{"go-http-client", "scanner: script", false, false},
	{"bot", "scanner: bot", false, true},
	{"spider", "scanner: bot", false, true},
	{"crawler", "scanner: bot", false, true},
	{"slurp", "scanner: bot", false, true},
	{"facebookexternalhit", "scanner: link preview", false, false},
}

// machineAgent names the machine a User-Agent belongs to, or "", and says
// whether it is a display-time image proxy (machineAgents).
func machineAgent(ua string) (name string, display bool) {
	switch strings.TrimSpace(ua) {
	case "":
		return "no user agent", false
	case "Mozilla/5.0":
		// What Apple Mail Privacy Protection's prefetch sends, and no browser.
		return "proxy: Apple Mail Privacy Protection", false
	}
	l := strings.ToLower(ua)
	for _, m := range machineAgents {
		if m.word && uaWord(ua, m.sub) || !m.word && strings.Contains(l, m.sub) {
			return m.name, m.display
		}
	}
	return "", false
}

// uaWord reports whether word (lower case ASCII) is a word of the User-Agent
// ua, case-insensitively: a whole run of letters and digits ("bot" in
// "+http://www.google.com/bot.html", "Yahoo! Slurp", "spider-feedback@"), or
// the end of one that names a crawler: a product name followed by "/" or "-"
// ("Googlebot/2.1", "AhrefsBot/7.0", "Googlebot-Image", "Slackbot-Link…"), or
// the last part of a camel-case name ("TelegramBot"). The end of a run that
// is a phone model or an app ("CUBOT NOTE 20", "CUBOT_P30", "Abbott") is not.
func uaWord(ua, word string) bool {
	for i := 0; i+len(word) <= len(ua); i++ {
		end := i + len(word)
		if !strings.EqualFold(ua[i:end], word) || end < len(ua) && isAlnum(ua[end]) {
			continue
		}
		switch {
		case i == 0 || !isAlnum(ua[i-1]):
			return true
		case end < len(ua) && (ua[end] == '/' || ua[end] == '-'):
			return true
		case isUpper(ua[i]) && isLower(ua[i-1]):
			return true
		}
	}
	return false
}

func isLower(b byte) bool { return 'a' <= b && b <= 'z' }
func isUpper(b byte) bool { return 'A' <= b && b <= 'Z' }
func isAlnum(b byte) bool { return isLower(b) || isUpper(b) || '0' <= b && b <= '9' }

// machineRequest says whether a pixel load (open) or a click was a
// machine's, and why: a HEAD request, a machine's User-Agent, or a request
// within MachineWindow of sending. An open through a display-time image proxy
// (Gmail, Yahoo) is a reader's unless another rule applies; a click with such
// a User-Agent stays a machine's (the proxies fetch images, not links).
func (t *Tracker) machineRequest(c links.Claims, method, ua string, now time.Time, open bool) (bool, string) {
	if method == http.MethodHead {
		return true, "HEAD request"
	}
	if name, display := machineAgent(ua); name != "" && !(open && display) {
		return true, name
	}
	if c.IssuedAt != 0 && now.Sub(time.Unix(c.IssuedAt, 0)) < t.MachineWindow {
		return true, "within " + t.MachineWindow.String() + " of sending"
	}
	return false, ""
}

// machineOpen says whether a pixel load was a machine's (machineRequest).
func (t *Tracker) machineOpen(c links.Claims, method, ua string, now time.Time) (bool, string) {
	return t.machineRequest(c, method, ua, now, true)
}

// machineClick also flags a click on another link of the same message within
// BurstWindow of the previous click: a scanner following every link. (The
// first click of such a burst is not flagged by this rule.)
func (t *Tracker) machineClick(c links.Claims, method, ua string, now time.Time) (bool, string) {
	machine, reason := t.machineRequest(c, method, ua, now, false)
	t.mu.Lock()
	defer t.mu.Unlock()
	prev, seen := t.bursts[c.OutboxID]
	if !machine && seen && prev.url != c.URL && now.Sub(prev.at) < t.BurstWindow {
		machine, reason = true, "several links within "+t.BurstWindow.String()
	}
	t.bursts[c.OutboxID] = lastClick{at: now, url: c.URL}
	if len(t.bursts) > 100_000 {
		for id, lc := range t.bursts {
			if now.Sub(lc.at) >= t.BurstWindow {
				delete(t.bursts, id)
			}
		}
		if len(t.bursts) > 100_000 {
			// More recent clicks than that: forget them rather than scan
			// the map on every click.
			clear(t.bursts)
		}
	}
	return machine, reason
}
