package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/campaignctl/campaignctl/internal/netblock"
)

// Limits are what the public endpoints allow one client. The zero value is
// DefaultLimits.
type Limits struct {
	// PerSecond requests a second per client, Burst at once; a client past
	// them gets 429 with Retry-After. PerSecond < 0 turns the limit off.
	PerSecond float64
	Burst     int
	// TrustedProxies are the networks of the reverse proxies in front of the
	// daemon: a request from one of them is the client's that its
	// X-Forwarded-For names (the rightmost address that is not a trusted
	// proxy). Without them every request is the peer's, so behind a proxy
	// all clients share one bucket.
	TrustedProxies []netip.Prefix
}

// Defaults of Limits: a person clicking links, a mail client fetching pixels
// and a CRM posting batches of events stay far below them; a scanner or a
// flood does not. They are generous because image proxies (Gmail's, Apple's)
// fetch the pixels of many readers from few addresses.
const (
	DefaultPerSecond = 100
	DefaultBurst     = 200
	// maxHeaderBytes bounds a request's headers on every listener.
	maxHeaderBytes = 64 << 10
	// idleClient is how long a client's bucket is kept after its last request.
	idleClient = 10 * time.Minute
	// maxClients bounds the buckets kept: past it, idle ones go at once, and
	// if that is not enough, all of them (a flood from many addresses costs
	// the others their history, never the daemon its memory).
	maxClients = 100_000
)

// ParseTrustedProxies reads a comma-separated list of CIDR networks or
// addresses ("10.0.0.0/8,192.168.1.7").
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, &net.ParseError{Type: "CIDR network or IP address", Text: s}
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// limiter keeps two token buckets per client address: one for what a
// person asks for themselves (unsubscribe, choices, confirmations: the
// consent routes), one for the rest (pixels, clicks, events, the status
// page). A mail provider's image proxy and its one-click unsubscribes often
// come from the same addresses: a burst of pixels must not get a reader's
// unsubscribe refused.
type limiter struct {
	l       Limits
	mu      sync.Mutex
	clients map[bucketKey]*client
	swept   time.Time
	now     func() time.Time
}

// bucketKey is a client address and which of its two buckets.
type bucketKey struct {
	addr    netip.Addr
	consent bool
}

// consentRoute reports whether a request goes to the unsubscribe or the
// confirmation routes, which have a bucket of their own.
func consentRoute(path string) bool {
	return strings.HasPrefix(path, "/u/") || strings.HasPrefix(path, "/confirm/")
}

type client struct {
	b    *rate.Limiter
	seen time.Time
}

func newLimiter(l Limits) *limiter {
	if l.PerSecond == 0 {
		l.PerSecond = DefaultPerSecond
	}
	if l.Burst <= 0 {
		l.Burst = DefaultBurst
	}
	return &limiter{l: l, clients: map[bucketKey]*client{}, now: time.Now}
}

// wrap answers 429 to a client over its rate and passes the rest to h.
func (lm *limiter) wrap(h http.Handler) http.Handler {
	if lm.l.PerSecond < 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := lm.allow(bucketKey{addr: lm.clientOf(r), consent: consentRoute(r.URL.Path)})
		if !ok {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(wait.Seconds()+0.999))))
			http.Error(w, "too many requests, slow down", http.StatusTooManyRequests)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// allow takes a token from bucket k, or says how long until one is there.
func (lm *limiter) allow(k bucketKey) (bool, time.Duration) {
	now := lm.now()
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if full := len(lm.clients) >= maxClients; full || now.Sub(lm.swept) > idleClient {
		idle := idleClient
		if full {
			idle = time.Minute
		}
		for k, c := range lm.clients {
			if now.Sub(c.seen) > idle {
				delete(lm.clients, k)
			}
		}
		if len(lm.clients) >= maxClients {
			clear(lm.clients)
		}
		lm.swept = now
	}
	c := lm.clients[k]
	if c == nil {
		c = &client{b: rate.NewLimiter(rate.Limit(lm.l.PerSecond), lm.l.Burst)}
		lm.clients[k] = c
	}
	c.seen = now
	res := c.b.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// clientOf returns the address a request counts against: the peer's, or,
// when the peer is a trusted proxy, the rightmost untrusted address of
// X-Forwarded-For. An IPv6 client counts as its /64, the block one host or
// one home gets, so it cannot buy buckets by changing addresses.
func (lm *limiter) clientOf(r *http.Request) netip.Addr {
	return netblock.Client(lm.l.client(r))
}

// client returns the request's client address: the peer's, or, when the peer
// is a trusted proxy, the rightmost untrusted address of X-Forwarded-For.
// The rate limit counts requests against it, and consent evidence records it.
func (l Limits) client(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a := peer.Addr().Unmap()
	if !l.trusted(a) {
		return a
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return a // a malformed hop: count it against the proxy
		}
		h = h.Unmap()
		if !l.trusted(h) {
			return h
		}
	}
	return a
}

func (l Limits) trusted(a netip.Addr) bool {
	for _, p := range l.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
