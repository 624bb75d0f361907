package statuspage

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const testToken = "0123456789abcdef0123456789abcdef"

// fakeSource is a Source of function fields.
type fakeSource struct {
	overview func(ctx context.Context) (Overview, error)
	object   func(ctx context.Context, kind, name string) (Object, error)
	contact  func(ctx context.Context, q string) ([]Contact, error)
}

var _ Source = (*fakeSource)(nil)

func (f *fakeSource) Overview(ctx context.Context) (Overview, error) { return f.overview(ctx) }
func (f *fakeSource) Object(ctx context.Context, kind, name string) (Object, error) {
	return f.object(ctx, kind, name)
}
func (f *fakeSource) Contact(ctx context.Context, q string) ([]Contact, error) {
	return f.contact(ctx, q)
}

func pct(p float64) *float64 { return &p }

// evil is a name that breaks out of HTML, an attribute and a URL when not
// escaped.
const evil = `x"><script>alert(1)</script><img src=x onerror=alert(2)>`

func newSource() *fakeSource {
	return &fakeSource{
		overview: func(context.Context) (Overview, error) {
			return Overview{Revision: "revision 3", Objects: []ObjectRow{
				{Kind: "campaign", Name: "launch", Sync: "Synced", Health: "Healthy", Message: "9 of 10 sent", Report: true,
					Sent: 10, Received: Rate{9, pct(90)}, Opened: Rate{3, pct(100.0 / 3)}},
				{Kind: "sequence", Name: evil, Sync: "Removed", Health: "Degraded", Message: evil},
			}}, nil
		},
		object: func(_ context.Context, kind, name string) (Object, error) {
			if name == "gone" {
				return Object{}, &UserError{Msg: "no " + kind + " named " + name}
			}
			if name == "broken" {
				return Object{}, errors.New("pq: connection refused SECRET-DETAIL")
			}
			g := &Graph{Nodes: []GraphNode{
				{ID: "trigger", Role: "trigger", Lines: []string{"trigger: form_submit"}},
				{ID: "s_a", Role: "step", Step: "a", Lines: []string{"a", evil}, Counts: "sent 4"},
				{ID: "s_b", Role: "step", Step: "b", Lines: []string{"b"}, Counts: "sent 1"},
				{ID: "finish", Role: "end", Lines: []string{"end"}},
				{ID: "goal", Role: "goal", Lines: []string{"goal"}},
			}, Edges: []GraphEdge{
				{From: "trigger", To: "s_a"}, {From: "s_a", To: "s_b", Label: "yes"}, {From: "s_a", To: "finish", Label: "no"},
				{From: "s_b", To: "finish"}, {From: "trigger", To: "goal", Dotted: true}, {From: "goal", To: "finish", Dotted: true},
			}}
			return Object{Row: ObjectRow{Kind: kind, Name: name, Sync: "Synced", Health: "Healthy"}, Graph: g,
				Totals: &Numbers{Sent: 10, Received: Rate{9, pct(90)}},
				Funnel: []FunnelStep{{Name: "a", Label: "a", InPlan: true, Numbers: Numbers{Sent: 10, Received: Rate{9, pct(90)}},
					Variants: []Variant{{Name: "v1", Label: "v1", Numbers: Numbers{Sent: 4}}}}}}, nil
		},
		contact: func(_ context.Context, q string) ([]Contact, error) {
			if q == "nobody@example.com" {
				return nil, &UserError{Msg: "no contact has the address " + q}
			}
			return []Contact{{Model: "lead", Key: "1", Email: q, Explain: "lead:1 " + evil, Events: 1,
				Timeline: []TimelineEntry{{At: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), What: "open", Object: evil}}}}, nil
		},
	}
}

type bundle struct {
	h   *Handler
	now time.Time
	log *bytes.Buffer
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), log: &bytes.Buffer{}}
	h, err := New(Options{Source: newSource(), Token: testToken, Log: slog.New(slog.NewTextHandler(b.log, nil)),
		Now: func() time.Time { return b.now }})
	if err != nil {
		t.Fatal(err)
	}
	b.h = h
	return b
}

func (b *bundle) do(method, target string, form url.Values, hdr map[string]string) *httptest.ResponseRecorder {
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	return w
}

var bearerHeader = map[string]string{"Authorization": "Bearer " + testToken}

func TestNewNeedsTokenAndSource(t *testing.T) {
	if _, err := New(Options{Source: newSource()}); err == nil || !strings.Contains(err.Error(), TokenEnv) {
		t.Errorf("no token: err = %v, want one naming %s", err, TokenEnv)
	}
	if _, err := New(Options{Token: testToken}); err == nil {
		t.Error("no source: no error")
	}
	if err := CheckToken(TokenEnv, "short"); err == nil || !strings.Contains(err.Error(), TokenEnv) {
		t.Errorf("short token: %v", err)
	}
	if err := CheckToken(TokenEnv, testToken+"\n"); err == nil {
		t.Error("token with a newline accepted")
	}
	if err := CheckToken(TokenEnv, testToken); err != nil {
		t.Error(err)
	}
}

func TestAuthBearerAndRedirect(t *testing.T) {
	b := setup(t)
	w := b.do("GET", "/ui/", nil, nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login" {
		t.Errorf("no credentials: %d to %q, want 303 to /ui/login", w.Code, w.Header().Get("Location"))
	}
	if strings.Contains(w.Body.String(), "launch") {
		t.Error("the redirect shows objects")
	}
	w = b.do("GET", "/ui/", nil, map[string]string{"Authorization": "Bearer " + testToken + "x"})
	if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("wrong bearer token: %d, want 401 with a challenge", w.Code)
	}
	w = b.do("GET", "/ui/", nil, map[string]string{"Authorization": "Basic " + testToken})
	if w.Code != http.StatusUnauthorized {
		t.Errorf("basic scheme: %d, want 401", w.Code)
	}
	w = b.do("GET", "/ui/", nil, bearerHeader)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `data-k="campaign/launch/received">9 (90.0%)<`) {
		t.Fatalf("bearer: %d\n%s", w.Code, w.Body)
	}
	if !strings.Contains(w.Body.String(), `data-k="campaign/launch/opened">3 (33.3%)<`) {
		t.Errorf("opened rate not as report prints it:\n%s", w.Body)
	}
	// Unauthenticated pages that are not the login form or the stylesheet.
	for _, p := range []string{"/ui/objects/campaign/launch", "/ui/contact", "/ui/nope"} {
		if w := b.do("GET", p, nil, nil); w.Code != http.StatusSeeOther {
			t.Errorf("GET %s without credentials: %d, want 303", p, w.Code)
		}
	}
	if w := b.do("POST", "/ui/contact", url.Values{"q": {"lead:1"}}, nil); w.Code != http.StatusUnauthorized || strings.Contains(w.Body.String(), "lead:1 ") {
		t.Errorf("POST /ui/contact without credentials: %d\n%s", w.Code, w.Body)
	}
	if w := b.do("GET", "/ui/style.css", nil, nil); w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/css") {
		t.Errorf("style.css: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	if w := b.do("GET", "/ui", nil, nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/" {
		t.Errorf("/ui: %d to %q", w.Code, w.Header().Get("Location"))
	}
}

func TestLoginCookie(t *testing.T) {
	b := setup(t)
	w := b.do("POST", "/ui/login", url.Values{"token": {"wrong-token-wrong-token"}}, nil)
	if w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 || !strings.Contains(w.Body.String(), "not this daemon") {
		t.Fatalf("wrong token: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	w = b.do("POST", "/ui/login", url.Values{"token": {testToken}}, map[string]string{"Origin": "https://evil.example"})
	if w.Code != http.StatusForbidden {
		t.Errorf("cross-site login: %d, want 403", w.Code)
	}
	w = b.do("POST", "/ui/login", url.Values{"token": {testToken}}, map[string]string{"Origin": "http://example.com", "Sec-Fetch-Site": "cross-site"})
	if w.Code != http.StatusForbidden {
		t.Errorf("Sec-Fetch-Site cross-site: %d, want 403 whatever Origin says", w.Code)
	}
	w = b.do("POST", "/ui/login", url.Values{"token": {testToken}}, map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"})
	if w.Code != http.StatusSeeOther {
		t.Errorf("Sec-Fetch-Site same-origin with Origin null: %d, want 303", w.Code)
	}
	w = b.do("POST", "/ui/login", url.Values{"token": {testToken}}, map[string]string{"Origin": "http://example.com"})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login: %d\n%s", w.Code, w.Body)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("cookies %v", cs)
	}
	c := cs[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui/" || c.Secure {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/ui/, not Secure over http", c)
	}
	if strings.Contains(c.Value, testToken) || strings.Contains(c.Value, testToken[:8]) {
		t.Errorf("the cookie holds the token: %q", c.Value)
	}
	withCookie := map[string]string{"Cookie": cookieName + "=" + c.Value}
	if w := b.do("GET", "/ui/", nil, withCookie); w.Code != http.StatusOK {
		t.Errorf("with the cookie: %d", w.Code)
	}
	// Over HTTPS (a proxy saying so) the cookie is Secure.
	w = b.do("POST", "/ui/login", url.Values{"token": {testToken}}, map[string]string{"X-Forwarded-Proto": "https"})
	if cs := w.Result().Cookies(); len(cs) != 1 || !cs[0].Secure {
		t.Errorf("behind https: cookies %v, want Secure", cs)
	}
	// A tampered expiry, a cookie of another token and an expired one fail.
	exp, mac, _ := strings.Cut(c.Value, ".")
	for name, v := range map[string]string{
		"later expiry": "9" + exp + "." + mac,
		"other token":  sessionValue("another-token-another-token", b.now.Add(time.Hour)),
		"garbage":      "abc",
		"no mac":       exp + ".",
	} {
		if w := b.do("GET", "/ui/", nil, map[string]string{"Cookie": cookieName + "=" + v}); w.Code != http.StatusSeeOther {
			t.Errorf("%s: %d, want 303 to the login", name, w.Code)
		}
	}
	b.now = b.now.Add(DefaultSessionTTL + time.Second)
	if w := b.do("GET", "/ui/", nil, withCookie); w.Code != http.StatusSeeOther {
		t.Errorf("expired cookie: %d, want 303", w.Code)
	}
	// Sign out clears the cookie.
	w = b.do("POST", "/ui/logout", nil, nil)
	if cs := w.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Errorf("logout cookies %v", cs)
	}
}

func TestHeadersAndEscaping(t *testing.T) {
	b := setup(t)
	for _, p := range []string{"/ui/", "/ui/objects/sequence/" + url.PathEscape(evil), "/ui/login"} {
		w := b.do("GET", p, nil, bearerHeader)
		if p == "/ui/login" {
			w = b.do("GET", p, nil, nil)
		}
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", p, w.Code, w.Body)
		}
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if w.Header().Get("X-Frame-Options") != "DENY" || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s: headers %v", p, w.Header())
		}
		body := w.Body.String()
		if strings.Contains(body, "<script") || strings.Contains(body, "<img") || strings.Contains(body, `"><`+"script") {
			t.Errorf("%s: unescaped markup in\n%s", p, body)
		}
	}
	w := b.do("GET", "/ui/", nil, bearerHeader)
	if !strings.Contains(w.Body.String(), "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the evil name is not shown escaped:\n%s", w.Body)
	}
	if !strings.Contains(w.Body.String(), `href="/ui/objects/sequence/x%22%3E%3Cscript%3E`) {
		t.Errorf("the object link is not path-escaped:\n%s", w.Body)
	}
}

func TestObjectPage(t *testing.T) {
	b := setup(t)
	w := b.do("GET", "/ui/objects/workflow/router", nil, bearerHeader)
	if w.Code != http.StatusOK {
		t.Fatalf("%d\n%s", w.Code, w.Body)
	}
	body := w.Body.String()
	for _, want := range []string{
		`data-k="total/received">9 (90.0%)<`,
		`data-k="step/a/sent">10<`,
		`data-k="variant/a/v1/sent">4<`,
		`data-k="variant/a/v1/received">0 (-)<`,
		`<meter min="0" max="10" value="9">90.0%</meter>`,
		`data-step="a"`, `>sent 4</text>`, `marker-end="url(#arrow)"`, `stroke-dasharray="5 4"`,
		`>yes</text>`, `>no</text>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("object page lacks %s", want)
		}
	}
	w = b.do("GET", "/ui/objects/workflow/gone", nil, bearerHeader)
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no workflow named gone") {
		t.Errorf("unknown object: %d\n%s", w.Code, w.Body)
	}
	w = b.do("GET", "/ui/objects/workflow/broken", nil, bearerHeader)
	if w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "SECRET-DETAIL") {
		t.Errorf("store error: %d, shown to the reader:\n%s", w.Code, w.Body)
	}
	if !strings.Contains(b.log.String(), "SECRET-DETAIL") {
		t.Errorf("store error not logged: %s", b.log)
	}
}

func TestContactLookup(t *testing.T) {
	b := setup(t)
	w := b.do("POST", "/ui/contact", url.Values{"q": {"ann@example.com"}}, bearerHeader)
	if w.Code != http.StatusOK {
		t.Fatalf("%d\n%s", w.Code, w.Body)
	}
	body := w.Body.String()
	if !strings.Contains(body, `data-contact="lead:1"`) || !strings.Contains(body, "lead:1 x&#34;&gt;&lt;script&gt;") || !strings.Contains(body, "2026-03-01T09:00:00Z") {
		t.Errorf("lookup page:\n%s", body)
	}
	w = b.do("POST", "/ui/contact", url.Values{"q": {"nobody@example.com"}}, bearerHeader)
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no contact has the address nobody@example.com") {
		t.Errorf("unknown contact: %d\n%s", w.Code, w.Body)
	}
	if strings.Contains(b.log.String(), "nobody@example.com") {
		t.Errorf("the looked-up address was logged: %s", b.log)
	}
	w = b.do("POST", "/ui/contact", url.Values{"q": {"lead:1"}}, map[string]string{"Authorization": bearerHeader["Authorization"], "Origin": "https://evil.example"})
	if w.Code != http.StatusForbidden {
		t.Errorf("cross-site lookup: %d, want 403", w.Code)
	}
	w = b.do("POST", "/ui/contact", url.Values{"q": {" "}}, bearerHeader)
	if w.Code != http.StatusBadRequest {
		t.Errorf("empty lookup: %d", w.Code)
	}
}

func TestGraphOrderSequenceBreadthFirst(t *testing.T) {
	// A sequence's graph lists the offsets before the steps; the chart
	// hangs each step under its offset.
	g := &Graph{Nodes: []GraphNode{
		{ID: "t", Role: "trigger"}, {ID: "at_0", Role: "offset"}, {ID: "at_1", Role: "offset"}, {ID: "end", Role: "end"},
		{ID: "s_a", Role: "step"}, {ID: "s_b", Role: "step"},
	}, Edges: []GraphEdge{{From: "t", To: "at_0"}, {From: "at_0", To: "s_a"}, {From: "s_a", To: "at_1"}, {From: "at_1", To: "s_b"}, {From: "s_b", To: "end"}}}
	var ids []string
	for _, n := range graphOrder(g) {
		ids = append(ids, n.ID)
	}
	if got := strings.Join(ids, " "); got != "t at_0 s_a at_1 s_b end" {
		t.Errorf("order %q, want t at_0 s_a at_1 s_b end", got)
	}
}

func TestGraphOrderAndLanes(t *testing.T) {
	g := &Graph{Nodes: []GraphNode{
		{ID: "t", Role: "trigger"}, {ID: "end", Role: "end"}, {ID: "a", Role: "step"}, {ID: "b", Role: "step"}, {ID: "goal", Role: "goal"},
	}, Edges: []GraphEdge{{From: "t", To: "a"}, {From: "a", To: "b"}, {From: "a", To: "end", Label: "no"}, {From: "b", To: "end"}, {From: "t", To: "goal", Dotted: true}}}
	var ids []string
	for _, n := range graphOrder(g) {
		ids = append(ids, n.ID)
	}
	if got := strings.Join(ids, " "); got != "t a b end goal" {
		t.Errorf("order %q, want t a b end goal", got)
	}
	c := layoutGraph(g)
	if len(c.Boxes) != 5 || len(c.Arrows) != 5 {
		t.Fatalf("%d boxes, %d arrows", len(c.Boxes), len(c.Arrows))
	}
	lanes := 0
	for _, a := range c.Arrows {
		if strings.Contains(a.D, "H") {
			lanes++
		}
	}
	if lanes != 2 { // a→end skips b; t→goal is dotted
		t.Errorf("%d arrows in lanes, want 2: %+v", lanes, c.Arrows)
	}
}
