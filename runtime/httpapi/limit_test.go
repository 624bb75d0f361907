package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/links"
)

type okPinger struct{}

func (okPinger) PingContext(context.Context) error { return nil }

func limitedServer(t *testing.T, l Limits) *httptest.Server {
	t.Helper()
	srv := &Server{Gatherer: prometheus.NewRegistry(), DB: okPinger{}, Limits: l}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs
}

func status(t *testing.T, url, xff string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get("Retry-After")
}

// A client past its burst gets 429 with Retry-After on the public routes;
// the operator's routes are not limited; another client is not affected.
func TestRateLimitPerClient(t *testing.T) {
	proxies, err := ParseTrustedProxies("127.0.0.1/32, ::1")
	if err != nil {
		t.Fatal(err)
	}
	hs := limitedServer(t, Limits{PerSecond: 1, Burst: 3, TrustedProxies: proxies})
	for i := range 3 {
		if code, _ := status(t, hs.URL+"/o/x", "203.0.113.7"); code == http.StatusTooManyRequests {
			t.Fatalf("request %d of a burst of 3 was refused", i+1)
		}
	}
	code, retry := status(t, hs.URL+"/o/x", "203.0.113.7")
	if code != http.StatusTooManyRequests || retry == "" {
		t.Fatalf("4th request in a burst of 3: %d, Retry-After %q; want 429 with Retry-After", code, retry)
	}
	if code, _ := status(t, hs.URL+"/o/x", "198.51.100.9"); code == http.StatusTooManyRequests {
		t.Fatal("another client was refused: the limit is not per client")
	}
	// The proxy appends the address it saw: the rightmost untrusted one counts,
	// so a client cannot escape its bucket by sending its own header.
	if code, _ := status(t, hs.URL+"/o/x", "192.0.2.1, 203.0.113.7"); code != http.StatusTooManyRequests {
		t.Fatalf("a forged leftmost X-Forwarded-For escaped the limit: %d", code)
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		for range 5 {
			if code, _ := status(t, hs.URL+path, "203.0.113.7"); code != http.StatusOK {
				t.Fatalf("%s from a limited client: %d; the operator's routes must not be limited", path, code)
			}
		}
	}
}

// Without trusted proxies X-Forwarded-For is ignored: varying it does not
// buy a client new buckets.
func TestRateLimitIgnoresForwardedForFromUntrustedPeers(t *testing.T) {
	hs := limitedServer(t, Limits{PerSecond: 1, Burst: 2})
	refused := false
	for i := range 4 {
		if code, _ := status(t, hs.URL+"/c/x", "203.0.113."+string(rune('1'+i))); code == http.StatusTooManyRequests {
			refused = true
		}
	}
	if !refused {
		t.Fatal("4 requests from one peer with 4 different X-Forwarded-For were all served under a burst of 2")
	}
}

func TestRateLimitOff(t *testing.T) {
	hs := limitedServer(t, Limits{PerSecond: -1})
	for range 200 {
		if code, _ := status(t, hs.URL+"/o/x", ""); code == http.StatusTooManyRequests {
			t.Fatal("PerSecond < 0 must turn the limit off")
		}
	}
}

// The public and internal handlers split the routes for two listeners.
func TestPublicAndInternalHandlersSplitTheRoutes(t *testing.T) {
	srv := &Server{Gatherer: prometheus.NewRegistry(), DB: okPinger{}}
	pub := httptest.NewServer(srv.PublicHandler())
	defer pub.Close()
	in := httptest.NewServer(srv.InternalHandler())
	defer in.Close()
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if code, _ := status(t, pub.URL+path, ""); code != http.StatusNotFound {
			t.Errorf("public listener serves %s (%d); want 404", path, code)
		}
		if code, _ := status(t, in.URL+path, ""); code != http.StatusOK {
			t.Errorf("internal listener: %s %d; want 200", path, code)
		}
	}
	for _, path := range []string{"/u/x", "/o/x", "/c/x"} {
		if code, _ := status(t, in.URL+path, ""); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
			t.Errorf("internal listener serves %s (%d); want 404", path, code)
		}
	}
}

// Serve refuses oversized headers (431) and hangs up on a client that never
// finishes its headers.
func TestServeBoundsHeadersAndSlowClients(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	}()
	defer func() { cancel(); <-done }()
	req, _ := http.NewRequest(http.MethodGet, "http://"+l.Addr().String()+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 2*maxHeaderBytes))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a %d-byte header: %d; want 431", 2*maxHeaderBytes, res.StatusCode)
	}
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")) // and never the blank line
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(c)
	if err != nil || time.Since(start) > 10*time.Second {
		t.Fatalf("a client that never finished its headers was held %s (%v); want a hang-up after the 5 s header timeout", time.Since(start), err)
	}
}

func TestParseTrustedProxies(t *testing.T) {
	if _, err := ParseTrustedProxies("10.0.0.0/8,not-an-ip"); err == nil || !strings.Contains(err.Error(), "not-an-ip") {
		t.Fatalf("a bad entry: %v; want an error naming it", err)
	}
	p, err := ParseTrustedProxies(" 10.1.2.3/8 , 192.168.1.7,")
	if err != nil || len(p) != 2 || p[0].String() != "10.0.0.0/8" || p[1].String() != "192.168.1.7/32" {
		t.Fatalf("got %v, %v", p, err)
	}
}

// Before the store is open the daemon is alive and not ready; once the
// Switch gets the real routes, they answer. Every 503 while starting says
// Retry-After (docs/sending.md, "Starting"): a provider's one-click POST or a
// reader's click is asked to come back, not told the link is broken.
func TestSwitchFromStarting(t *testing.T) {
	sw := NewSwitch(Starting())
	hs := httptest.NewServer(sw)
	defer hs.Close()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503, "/u/x": 503, "/metrics": 503} {
		code, retry := status(t, hs.URL+path, "")
		if code != want {
			t.Errorf("starting: %s %d, want %d", path, code, want)
		}
		if code == http.StatusServiceUnavailable && retry == "" {
			t.Errorf("starting: %s 503 without Retry-After", path)
		}
	}
	for _, path := range []string{"/u/x", "/confirm/x"} {
		res, err := http.Post(hs.URL+path, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
			t.Errorf("starting: POST %s %d, Retry-After %q; want 503 with a Retry-After", path, res.StatusCode, res.Header.Get("Retry-After"))
		}
	}
	srv := &Server{Gatherer: prometheus.NewRegistry(), DB: okPinger{}}
	sw.Set(srv.Handler())
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200} {
		if code, _ := status(t, hs.URL+path, ""); code != want {
			t.Errorf("started: %s %d, want %d", path, code, want)
		}
	}
}

// Clients are bounded in memory, and an IPv6 client is its /64.
func TestLimiterBoundsItsClients(t *testing.T) {
	lm := newLimiter(Limits{PerSecond: 1, Burst: 1})
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	lm.now = func() time.Time { return now }
	for i := range maxClients + 10 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		lm.allow(bucketKey{addr: a})
	}
	if n := len(lm.clients); n > maxClients {
		t.Fatalf("%d buckets kept, want at most %d", n, maxClients)
	}
	r := httptest.NewRequest("GET", "/o/x", nil)
	r.RemoteAddr = "[2001:db8:1:2:aaaa::1]:5000"
	r2 := httptest.NewRequest("GET", "/o/x", nil)
	r2.RemoteAddr = "[2001:db8:1:2:bbbb::9]:5000"
	if a, b := lm.clientOf(r), lm.clientOf(r2); a != b {
		t.Fatalf("two addresses of one /64 count as %s and %s", a, b)
	}
}

// The per-client limit holds on the unsubscribe and confirmation routes
// too (docs/security.md: "everything the internet reaches"): past its
// burst a client's one-click POST gets 429 with a Retry-After, so a mail
// provider knows to send it again, and is not recorded; another client (a
// provider posting its readers' one-clicks from its own address) gets its
// whole burst meanwhile. One token per 1,000 s: nothing refills during the
// test, however slow the machine.
func TestRateLimitHoldsOnOneClickUnsubscribes(t *testing.T) {
	const burst = 5
	hs, oneClick, suppressed := oneClickRig(t, burst)
	const flood, provider = "203.0.113.7", "209.85.220.41"
	for i := range burst {
		if code, _ := oneClick(flood, fmt.Sprintf("a%d@example.com", i)); code != http.StatusOK {
			t.Fatalf("one-click %d of a burst of %d: %d, want 200", i+1, burst, code)
		}
	}
	code, retry := oneClick(flood, "over@example.com")
	if code != http.StatusTooManyRequests || retry == "" {
		t.Errorf("one-click past the burst: %d, Retry-After %q; want 429 with a Retry-After", code, retry)
	}
	if code, _ := status(t, hs.URL+"/confirm/x", flood); code != http.StatusTooManyRequests {
		t.Errorf("a confirmation link from the client past its burst: %d, want 429", code)
	}
	for i := range burst {
		if code, _ := oneClick(provider, fmt.Sprintf("p%d@example.com", i)); code != http.StatusOK {
			t.Errorf("the provider's one-click %d of %d while another client is limited: %d, want 200", i+1, burst, code)
		}
	}
	got := suppressed()
	if len(got) != 2*burst || slices.Contains(got, "over@example.com") {
		t.Errorf("unsubscribed %v; want the %d within the bursts, not the refused one", got, 2*burst)
	}
}

// docs/security.md: by default a client gets bursts of 200 and 100 requests
// a second, generous because image proxies fetch many readers' pixels from
// few addresses: an image proxy's burst of 200 is served whole, the 201st
// at that instant is told to wait, and a second later 100 more are served.
// (The limiter's clock is set by the test: no refill between requests.)
func TestDefaultLimitsServeAProxysBurst(t *testing.T) {
	lm := newLimiter(Limits{})
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	lm.now = func() time.Time { return now }
	proxy := netip.MustParseAddr("66.249.84.1")
	const burst, perSecond = 200, 100 // the documented defaults
	served := func(n int) int {
		ok := 0
		for range n {
			if allowed, _ := lm.allow(bucketKey{addr: proxy}); allowed {
				ok++
			}
		}
		return ok
	}
	if got := served(burst); got != burst {
		t.Fatalf("%d of a burst of %d served, want all", got, burst)
	}
	if allowed, wait := lm.allow(bucketKey{addr: proxy}); allowed || wait <= 0 || wait > time.Second {
		t.Errorf("request %d at the same instant: allowed %v, wait %v; want refused with a wait under a second", burst+1, allowed, wait)
	}
	now = now.Add(time.Second)
	if got := served(2 * perSecond); got != perSecond {
		t.Errorf("a second later %d served, want %d", got, perSecond)
	}
}

// A mail provider fetches its readers' pixels and posts their one-click
// unsubscribes from the same addresses: a client that spent its burst on
// pixels and clicks still gets its unsubscribes and confirmations through
// (they have a bucket of their own), and spending the consent bucket does
// not cost the pixels theirs. One token per 1,000 s: nothing refills during
// the test.
func TestPixelBurstDoesNotRefuseOneClickUnsubscribes(t *testing.T) {
	const burst = 4
	hs, oneClick, suppressed := oneClickRig(t, burst)
	const provider = "66.249.84.1"
	for i := range burst {
		if code, _ := status(t, hs.URL+"/o/x", provider); code == http.StatusTooManyRequests {
			t.Fatalf("pixel %d of a burst of %d was refused", i+1, burst)
		}
	}
	if code, _ := status(t, hs.URL+"/o/x", provider); code != http.StatusTooManyRequests {
		t.Fatalf("pixel past the burst: %d, want 429", code)
	}
	for i := range burst {
		if code, _ := oneClick(provider, fmt.Sprintf("r%d@example.com", i)); code != http.StatusOK {
			t.Fatalf("one-click %d from the client whose pixels are limited: %d, want 200", i+1, code)
		}
	}
	if got := suppressed(); len(got) != burst {
		t.Errorf("unsubscribed %v; want the %d one-clicks", got, burst)
	}
	if code, _ := status(t, hs.URL+"/confirm/x", provider); code != http.StatusTooManyRequests {
		t.Errorf("a confirmation past the consent bucket's burst: %d, want 429 (unsubscribes and confirmations share it)", code)
	}
	if code, _ := status(t, hs.URL+"/c/x", "198.51.100.9"); code == http.StatusTooManyRequests {
		t.Error("another client's click was refused")
	}
}

// oneClickRig is a server limited to burst requests per client (one token
// per 1,000 s: nothing refills during a test), trusting X-Forwarded-For from
// loopback, with oneClick posting an RFC 8058 one-click unsubscribe of email
// as client and returning the status and Retry-After, and suppressed the
// addresses unsubscribed so far.
func oneClickRig(t *testing.T, burst int) (hs *httptest.Server, oneClick func(client, email string) (int, string), suppressed func() []string) {
	t.Helper()
	proxies, err := ParseTrustedProxies("127.0.0.1/32, ::1")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := links.NewSigner(newSecret)
	sup, suppressed := recordingSuppressor()
	srv := &Server{Gatherer: prometheus.NewRegistry(), DB: okPinger{}, Links: signer, Suppressor: sup, Clock: clock.NewFake(sentAt),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: Limits{PerSecond: 0.001, Burst: burst, TrustedProxies: proxies}}
	hs = httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	oneClick = func(client, email string) (int, string) {
		t.Helper()
		c := msgClaims()
		c.Purpose, c.Email = links.PurposeUnsubscribe, email
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/u/"+signer.Sign(c), strings.NewReader("List-Unsubscribe=One-Click"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", client)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Retry-After")
	}
	return hs, oneClick, suppressed
}
