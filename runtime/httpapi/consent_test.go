package httpapi

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{
		"ann@example.com":  "a***@example.com",
		"é@example.com":    "é***@example.com",
		"x@y":              "x***@y",
		"@example.com":     "your address",
		"not-an-address":   "your address",
		"":                 "your address",
		"bob.smith@ex.org": "b***@ex.org",
	} {
		if got := maskEmail(in); got != want {
			t.Errorf("maskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

// typeOn is the later of the type's own latest entry and the all-marketing
// one; without either, the default (on under opt_out, the CRM's consent
// condition under opt_in).
func TestTypeOn(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	e := func(id int64, sub, action string, at time.Time) store.ConsentEntry {
		return store.ConsentEntry{ID: id, Subscription: sub, Action: action, RecordedAt: at}
	}
	for _, tc := range []struct {
		name    string
		entries []store.ConsentEntry
		want    bool
		off     bool // the default is off: opt_in without the CRM's consent
	}{
		{"no entry", nil, true, false},
		{"no entry, default off", nil, false, true},
		{"own grant, default off", []store.ConsentEntry{e(1, "news", "grant", t0)}, true, true},
		{"another type's grant, default off", []store.ConsentEntry{e(1, "offers", "grant", t0)}, false, true},
		{"all withdraw, later own grant, default off", []store.ConsentEntry{e(1, "", "withdraw", t0), e(2, "news", "grant", t0.Add(time.Hour))}, true, true},
		{"own withdraw", []store.ConsentEntry{e(1, "news", "withdraw", t0)}, false, false},
		{"own grant", []store.ConsentEntry{e(1, "news", "grant", t0)}, true, false},
		{"all withdraw", []store.ConsentEntry{e(1, "", "withdraw", t0)}, false, false},
		{"own withdraw, later all grant", []store.ConsentEntry{e(1, "news", "withdraw", t0), e(2, "", "grant", t0.Add(time.Hour))}, true, false},
		{"all withdraw, later own grant", []store.ConsentEntry{e(1, "", "withdraw", t0), e(2, "news", "grant", t0.Add(time.Hour))}, true, false},
		{"same instant: higher id wins", []store.ConsentEntry{e(2, "", "withdraw", t0), e(1, "news", "grant", t0)}, false, false},
		{"another type's withdraw", []store.ConsentEntry{e(1, "offers", "withdraw", t0)}, true, false},
	} {
		latest := map[string]store.ConsentEntry{}
		for _, en := range tc.entries {
			latest[en.Subscription] = en
		}
		if got := typeOn(latest, "news", !tc.off); got != tc.want {
			t.Errorf("%s: typeOn = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Under opt_in a type without a ledger entry is shown as what goes: unticked
// when the CRM's consent condition does not hold, and ticking it records a
// grant (compared with what the page showed, not with "on").
func TestPreferenceCenterShowsTheConsentDefaults(t *testing.T) {
	db, st, signer := preferenceStore(t)
	var asked []string
	srv := &Server{DB: db, Suppressor: st, Links: signer, Clock: clock.NewFake(sentAt), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: Limits{PerSecond: -1}, Consent: st,
		Subscriptions: func(context.Context) ([]string, error) { return []string{"news", "offers"}, nil },
		PreferenceDefaults: func(_ context.Context, model, key string) (map[string]bool, error) {
			asked = append(asked, model+":"+key)
			return map[string]bool{"news": false, "offers": true}, nil
		}}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	c := msgClaims()
	c.Purpose, c.Email = links.PurposeUnsubscribe, "ann@example.com"
	link := hs.URL + "/u/" + signer.Sign(c)

	res, body := get(t, link, browserUA)
	page := string(body)
	if res.StatusCode != 200 || strings.Contains(page, `value="news" checked`) || !strings.Contains(page, `value="offers" checked`) {
		t.Fatalf("GET: %d; want news unticked and offers ticked:\n%s", res.StatusCode, page)
	}
	if len(asked) != 1 || asked[0] != "lead:42" {
		t.Errorf("the defaults were asked for %v; want the link's contact lead:42 once", asked)
	}
	// Tick news, keep offers: one grant of news, nothing for offers.
	res, err := http.PostForm(link, url.Values{"action": {"save"}, "subscription": {"news", "offers"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	h, err := st.ConsentHistory(t.Context(), "ann@example.com")
	if err != nil || len(h) != 1 || h[0].Subscription != "news" || h[0].Action != store.ConsentGrant || h[0].Source != store.ConsentSourcePreferenceCenter {
		t.Fatalf("ledger after ticking news: %+v (%v); want one grant of news from the preference center", h, err)
	}
	_, body = get(t, link, browserUA)
	if !strings.Contains(string(body), `value="news" checked`) {
		t.Errorf("news is not ticked after its grant:\n%s", body)
	}
}

// RFC 8058's one-click POST SHOULD be multipart/form-data and MAY be
// urlencoded; some clients send no Content-Type. Each withdraws the
// message's subscription type only: read as anything else, the request was
// "unsubscribe from all" and suppressed the address.
func TestOneClickInEveryBodyFormWithdrawsTheTypeOnly(t *testing.T) {
	db, st, signer := preferenceStore(t)
	srv := &Server{DB: db, Suppressor: st, Links: signer, Clock: clock.NewFake(sentAt), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: Limits{PerSecond: -1}, Consent: st,
		Subscriptions: func(context.Context) ([]string, error) { return []string{"news", "offers"}, nil }}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	var multipartBody bytes.Buffer
	mw := multipart.NewWriter(&multipartBody)
	if err := mw.WriteField("List-Unsubscribe", "One-Click"); err != nil {
		t.Fatal(err)
	}
	mw.Close()
	for _, tc := range []struct {
		name, contentType, body string
	}{
		{"multipart/form-data", mw.FormDataContentType(), multipartBody.String()},
		{"urlencoded", "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click"},
		{"no content type", "", "List-Unsubscribe=One-Click"},
	} {
		c := msgClaims()
		c.Purpose, c.Subscription = links.PurposeUnsubscribe, "news"
		c.Email = strings.ReplaceAll(tc.name, " ", "-") + "@example.com"
		c.Email = strings.ReplaceAll(c.Email, "/", "-")
		req, err := http.NewRequest(http.MethodPost, hs.URL+"/u/"+signer.Sign(c), strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		h, err := st.ConsentHistory(t.Context(), c.Email)
		if res.StatusCode != 200 || err != nil || len(h) != 1 || h[0].Subscription != "news" || h[0].Action != store.ConsentWithdraw {
			t.Errorf("%s: %d, ledger %+v (%v); want 200 and one withdrawal of news", tc.name, res.StatusCode, h, err)
		}
		var suppressed int
		if err := db.Get(&suppressed, `SELECT count(*) FROM campaignctl.suppressions WHERE email_normalized = $1`, c.Email); err != nil || suppressed != 0 {
			t.Errorf("%s: the address was suppressed (%d, %v): one-click of a type must not unsubscribe from all", tc.name, suppressed, err)
		}
	}
}

// preferenceStore is a migrated store on a test database and the signer of
// the preference center's links.
func preferenceStore(t *testing.T) (*sqlx.DB, *store.Store, *links.Signer) {
	t.Helper()
	db, _ := storetest.Open(t)
	st := &store.Store{DB: db}
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	signer, err := links.NewSigner([]byte("pref-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	return db, st, signer
}

// confirmLink queues a confirmation mail of subscription type sub for
// contact lead/key at email and returns its signed /confirm/ path (valid
// for 72 h from sentAt) and its outbox row.
func confirmLink(t *testing.T, st *store.Store, signer *links.Signer, sub, key, email string) (path string, outboxID int64) {
	t.Helper()
	ctx := t.Context()
	if _, err := st.QueueConfirmations(ctx, sub, []store.ConfirmRequest{{ContactKey: key, Email: email}}, nil, sentAt); err != nil {
		t.Fatal(err)
	}
	if err := st.DB.GetContext(ctx, &outboxID, `SELECT max(id) FROM campaignctl.outbox WHERE kind = 'subscription' AND campaign = $1 AND contact_key = $2`, sub, key); err != nil {
		t.Fatal(err)
	}
	return "/confirm/" + signer.Sign(links.Claims{Purpose: links.PurposeConfirm, Kind: "subscription", Campaign: sub, Step: "2026-11",
		Model: "lead", ContactKey: key, Email: email, OutboxID: outboxID, Subscription: sub,
		IssuedAt: sentAt.Unix(), ExpiresAt: sentAt.Add(72 * time.Hour).Unix()}), outboxID
}

// Twenty simultaneous POSTs of one confirmation link (a double click, a
// reader's browser and a retrying proxy) confirm once (docs/consent.md:
// "two clicks at once confirm once"): one grant in the ledger, one
// blog_subscription event, one poke of the daemon; every request gets 200,
// one thanking, the others saying it was already confirmed.
func TestSimultaneousConfirmationsConfirmOnce(t *testing.T) {
	db, st, signer := preferenceStore(t)
	var pokes atomic.Int32
	const n = 20
	// The requests enter the store together, so their transactions overlap
	// however the HTTP server schedules them.
	together := &barrierConsent{ConsentStore: st, all: make(chan struct{}), n: n}
	srv := &Server{DB: db, Suppressor: st, Links: signer, Clock: clock.NewFake(sentAt.Add(time.Hour)), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: Limits{PerSecond: -1}, Consent: together, EventsStored: func() { pokes.Add(1) }}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	path, outboxID := confirmLink(t, st, signer, "blog", "42", "ann@example.com")
	// A connection each, open before the requests come, as in a daemon that
	// has been serving: opening them on demand spaces the transactions out.
	db.SetMaxIdleConns(n)
	conns := make([]*sql.Conn, n)
	for i := range conns {
		var err error
		if conns[i], err = db.Conn(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range conns {
		c.Close()
	}

	codes, bodies := make([]int, n), make([]string, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := http.Post(hs.URL+path, "application/x-www-form-urlencoded", nil)
			if err != nil {
				bodies[i] = err.Error()
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			codes[i], bodies[i] = res.StatusCode, string(b)
		}()
	}
	close(start)
	wg.Wait()
	thanked, already := 0, 0
	for i := range n {
		switch {
		case codes[i] == http.StatusOK && strings.Contains(bodies[i], "Thank you"):
			thanked++
		case codes[i] == http.StatusOK && strings.Contains(bodies[i], "already confirmed"):
			already++
		default:
			t.Errorf("request %d: %d\n%s", i, codes[i], bodies[i])
		}
	}
	if thanked != 1 || already != n-1 {
		t.Errorf("%d thanked and %d told it was already confirmed; want 1 and %d", thanked, already, n-1)
	}
	h, err := st.ConsentHistory(t.Context(), "ann@example.com")
	if err != nil || len(h) != 1 || h[0].Subscription != "blog" || h[0].Action != store.ConsentGrant || h[0].Source != store.ConsentSourceLink {
		t.Errorf("%d ledger entries (%v), the first %+v; want one grant of blog from the link", len(h), err, h[:min(1, len(h))])
	}
	var events int
	if err := db.Get(&events, `SELECT count(*) FROM campaignctl.events WHERE type = 'blog_subscription' AND contact_key = '42' AND external_id = $1`,
		fmt.Sprintf("confirm-%d", outboxID)); err != nil || events != 1 {
		t.Errorf("%d blog_subscription events (%v), want 1", events, err)
	}
	if p := pokes.Load(); p != 1 {
		t.Errorf("the daemon was poked %d times, want once", p)
	}
}

// barrierConsent holds each ConfirmSubscription until n have arrived (or
// 10 s passed, so a request that never comes fails the test, not hangs it).
type barrierConsent struct {
	ConsentStore
	mu      sync.Mutex
	arrived int
	n       int
	all     chan struct{}
}

func (b *barrierConsent) ConfirmSubscription(ctx context.Context, c store.Confirmation, eventType string) (int64, bool, error) {
	b.mu.Lock()
	if b.arrived++; b.arrived == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
	case <-time.After(10 * time.Second):
	}
	return b.ConsentStore.ConfirmSubscription(ctx, c, eventType)
}

// docs/consent.md: while the database cannot record an unsubscribe, a
// choice or a confirmation, the answer is 503 with Retry-After: 60, so the
// provider or the reader can try again. TestUnsubscribeTheDatabaseCannot…
// covers unsubscribing from all; these are the preference center's and the
// confirmation page's own writes (and reads), on a store that cannot
// connect.
func TestChoicesAndConfirmationsTheDatabaseCannotRecordSayRetryAfter(t *testing.T) {
	t.Parallel()
	away := &store.Store{DB: sqlx.MustOpen("postgres", "postgres://nobody@127.0.0.1:1/away?sslmode=disable&connect_timeout=1")}
	t.Cleanup(func() { away.DB.Close() })
	signer, _ := links.NewSigner(newSecret)
	srv := &Server{DB: away.DB, Suppressor: away, Links: signer, Clock: clock.NewFake(sentAt.Add(time.Hour)), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: Limits{PerSecond: -1}, Consent: away,
		Subscriptions: func(context.Context) ([]string, error) { return []string{"news", "offers"}, nil }}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	// Saving reads the choices first: here the reads answer (nothing
	// recorded yet) and the write cannot connect.
	saving := *srv
	saving.Consent = readsAnswer{away}
	hsSaving := httptest.NewServer(saving.Handler())
	t.Cleanup(hsSaving.Close)
	unsub := msgClaims()
	unsub.Purpose, unsub.Email, unsub.Subscription = links.PurposeUnsubscribe, "ann@example.com", "news"
	confirm := links.Claims{Purpose: links.PurposeConfirm, Subscription: "blog", Step: "2026-11", Model: "lead", ContactKey: "42",
		Email: "ann@example.com", OutboxID: 7, ExpiresAt: sentAt.Add(72 * time.Hour).Unix()}
	u, c := "/u/"+signer.Sign(unsub), "/confirm/"+signer.Sign(confirm)
	for _, tc := range []struct {
		name, method, url, body string
	}{
		{"one-click of the message's type", "POST", hs.URL + u, "List-Unsubscribe=One-Click"},
		{"saving choices, reading them", "POST", hs.URL + u, "action=save&subscription=offers"},
		{"saving choices, writing them", "POST", hsSaving.URL + u, "action=save&subscription=offers"},
		{"the preference center", "GET", hs.URL + u, ""},
		{"a confirmation", "POST", hs.URL + c, ""},
	} {
		req, _ := http.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "60" {
			t.Errorf("%s while the database is away: %d, Retry-After %q; want 503 with Retry-After: 60", tc.name, res.StatusCode, res.Header.Get("Retry-After"))
		}
	}
}

// readsAnswer is a ConsentStore whose reads find nothing recorded and whose
// writes go to the store it wraps.
type readsAnswer struct{ ConsentStore }

func (readsAnswer) Preferences(context.Context, string) (bool, map[string]store.ConsentEntry, error) {
	return false, map[string]store.ConsentEntry{}, nil
}

// docs/consent.md: an expired link answers 410, an altered, forged,
// retired-key or other-purpose link 404, a link whose outbox row is gone
// 410, GET shows the form; none of them records anything.
func TestConfirmationLinksThatRecordNothing(t *testing.T) {
	db, st, signer := preferenceStore(t)
	srv := &Server{DB: db, Suppressor: st, Links: signer, Clock: clock.NewFake(sentAt.Add(time.Hour)), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: Limits{PerSecond: -1}, Consent: st}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	path, outboxID := confirmLink(t, st, signer, "blog", "42", "ann@example.com")
	token := strings.TrimPrefix(path, "/confirm/")
	claims, err := signer.Verify(token, links.PurposeConfirm)
	if err != nil {
		t.Fatal(err)
	}
	retired, _ := links.NewSigner([]byte("retired-secret-0123456789"))
	expired, gone := claims, claims
	expired.ExpiresAt = sentAt.Add(time.Minute).Unix()
	gone.OutboxID = outboxID + 1000
	unsub := claims
	unsub.Purpose = links.PurposeUnsubscribe
	for _, tc := range []struct {
		name, token string
		want        int
		says        string
	}{
		{"expired", signer.Sign(expired), http.StatusGone, "expired"},
		{"altered", token[:len(token)-3] + "AAA", http.StatusNotFound, "Nothing was recorded"},
		{"retired key", retired.Sign(claims), http.StatusNotFound, "Nothing was recorded"},
		{"unsubscribe token", signer.Sign(unsub), http.StatusNotFound, "Nothing was recorded"},
		{"outbox row gone", signer.Sign(gone), http.StatusGone, "no longer known"},
	} {
		code, body := postForm(t, hs.URL+"/confirm/"+tc.token)
		if code != tc.want || !strings.Contains(body, tc.says) {
			t.Errorf("POST of a link %s: %d; want %d saying %q\n%s", tc.name, code, tc.want, tc.says, body)
		}
	}
	res, body := get(t, hs.URL+path, browserUA)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `<form method="post">`) || strings.Contains(string(body), "ann@example.com") {
		t.Errorf("GET of a valid link: %d; want 200 with the form and the address masked\n%s", res.StatusCode, body)
	}
	var entries, events int
	db.Get(&entries, `SELECT count(*) FROM campaignctl.consent_ledger`)
	db.Get(&events, `SELECT count(*) FROM campaignctl.events`)
	if entries != 0 || events != 0 {
		t.Errorf("%d ledger entries and %d events after links that record nothing, want none", entries, events)
	}
	if code, body := postForm(t, hs.URL+path); code != http.StatusOK || !strings.Contains(body, "Thank you") {
		t.Errorf("POST of the valid link afterwards: %d\n%s", code, body)
	}
}

// postForm POSTs an empty form to u and returns the status and body.
func postForm(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.PostForm(u, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// docs/consent.md: a consent's evidence keeps the client's IP: the peer, or
// the X-Forwarded-For client when the peer is a --trusted-proxy; from any
// other peer the header is the client's own word and is not taken.
func TestConsentEvidenceNamesTheClient(t *testing.T) {
	db, st, signer := preferenceStore(t)
	proxies, err := ParseTrustedProxies("127.0.0.1/32, ::1")
	if err != nil {
		t.Fatal(err)
	}
	serve := func(l Limits) string {
		srv := &Server{DB: db, Suppressor: st, Links: signer, Clock: clock.NewFake(sentAt.Add(time.Hour)), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Limits: l, Consent: st, Subscriptions: func(context.Context) ([]string, error) { return []string{"news", "blog"}, nil }}
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		return hs.URL
	}
	behindProxy, direct := serve(Limits{PerSecond: -1, TrustedProxies: proxies}), serve(Limits{PerSecond: -1})
	post := func(u, xff, body string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", xff)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d", u, res.StatusCode)
		}
	}
	for _, tc := range []struct {
		name, base, email, key, wantIP string
	}{
		{"behind the trusted proxy", behindProxy, "ann@example.com", "42", "198.51.100.23"},
		{"from an untrusted peer", direct, "bob@example.com", "43", "127.0.0.1"},
	} {
		path, _ := confirmLink(t, st, signer, "blog", tc.key, tc.email)
		post(tc.base+path, "192.0.2.1, 198.51.100.23", "")
		unsub := msgClaims()
		unsub.Purpose, unsub.Email, unsub.ContactKey = links.PurposeUnsubscribe, tc.email, tc.key
		post(tc.base+"/u/"+signer.Sign(unsub), "192.0.2.1, 198.51.100.23", "action=save&subscription=blog") // news unticked
		h, err := st.ConsentHistory(t.Context(), tc.email)
		if err != nil || len(h) != 2 {
			t.Fatalf("%s: ledger %+v (%v); want the confirmation and the saved choice", tc.name, h, err)
		}
		for _, e := range h {
			if ip := e.EvidenceMap()["ip"]; ip != tc.wantIP {
				t.Errorf("%s: the %s entry's evidence says ip %v, want %s", tc.name, e.Source, ip, tc.wantIP)
			}
		}
	}
}
