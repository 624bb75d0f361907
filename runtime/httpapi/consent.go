package httpapi

// The preference center (GET and POST /u/<token>) and the double opt-in
// confirmation page (GET and POST /confirm/<token>).
//
// Both are plain HTML forms that POST back to the same URL: they work without
// JavaScript, need no cookie, and the signed token in the URL is the whole
// authority (and so the CSRF defence: a forged form would need a token, which
// only the mail carries). The pages show nothing about the contact beyond
// what the token binds, and the address only masked (a***@example.com).
//
// A confirmation link is confirmed by POST only: GET shows a button. Mail
// security scanners and link previews fetch every link of a message with GET
// within seconds of delivery; a GET that confirmed would record consent no
// person gave.

import (
	"context"
	"errors"
	"html/template"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// ConsentStore is what the preference center and the confirmation page read
// and write; *store.Store implements it.
type ConsentStore interface {
	ConfirmSubscription(ctx context.Context, c store.Confirmation, eventType string) (entry int64, fresh bool, err error)
	Preferences(ctx context.Context, email string) (suppressed bool, latest map[string]store.ConsentEntry, err error)
	RecordConsentChanges(ctx context.Context, email, source string, changes []store.ConsentChange, evidence map[string]any, at time.Time) error
}

var prefTpl = template.Must(template.New("p").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Email preferences</title></head>
<body><h1>Email preferences</h1>
{{if .Notice}}<p id="notice" role="status">{{.Notice}}</p>{{end}}
<p>For {{.Masked}}.</p>
{{if .Suppressed}}<p id="suppressed">This address is unsubscribed from all marketing email. You will not receive any.</p>
{{else}}{{if .Types}}<form method="post" id="preferences">
<fieldset><legend>Send me:</legend>
{{range .Types}}<label><input type="checkbox" id="sub-{{.Name}}" name="subscription" value="{{.Name}}"{{if .On}} checked{{end}}> {{.Name}}</label><br>
{{end}}</fieldset>
<button type="submit" id="save" name="action" value="save">Save my choices</button>
</form>{{end}}
<form method="post" id="all"><button type="submit" id="unsubscribe-all" name="action" value="all">Unsubscribe from all marketing email</button></form>
{{end}}<footer><noscript><span id="noscript">This page uses no JavaScript.</span></noscript></footer></body></html>
`))

type prefType struct {
	Name string
	On   bool
}

type prefPage struct {
	Masked, Notice string
	Suppressed     bool
	Types          []prefType
}

// maskEmail keeps the first character of the local part and the domain:
// enough for the reader to recognise their address, not to read it whole.
func maskEmail(e string) string {
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" {
		return "your address"
	}
	r := []rune(local)
	return string(r[0]) + "***@" + domain
}

// typeOn is whether mail of subscription type sub goes to the address, as
// the ledger says: the later of its latest entry for sub and for all
// marketing mail; without either, def (what the policy and the CRM's consent
// condition give).
func typeOn(latest map[string]store.ConsentEntry, sub string, def bool) bool {
	all, okAll := latest[""]
	own, okOwn := latest[sub]
	switch {
	case okOwn && okAll:
		if all.RecordedAt.After(own.RecordedAt) || (all.RecordedAt.Equal(own.RecordedAt) && all.ID > own.ID) {
			return all.Action == store.ConsentGrant
		}
		return own.Action == store.ConsentGrant
	case okOwn:
		return own.Action == store.ConsentGrant
	case okAll:
		return all.Action == store.ConsentGrant
	}
	return def
}

func (s *Server) preferencePage(w http.ResponseWriter, r *http.Request, c links.Claims, notice string) {
	types, suppressed, latest, ok := s.preferences(w, r, c)
	if !ok {
		return
	}
	defaults, ok := s.preferenceDefaults(w, r, c)
	if !ok {
		return
	}
	pg := prefPage{Masked: maskEmail(c.Email), Notice: notice, Suppressed: suppressed}
	for _, t := range types {
		pg.Types = append(pg.Types, prefType{Name: t, On: typeOn(latest, t, defaultOn(defaults, t))})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	prefTpl.Execute(w, pg)
}

// defaultOn is a type's state without a ledger entry: ticked unless the
// defaults say otherwise.
func defaultOn(defaults map[string]bool, sub string) bool {
	on, ok := defaults[sub]
	return !ok || on
}

// preferenceDefaults reads what each type's box shows without a ledger
// entry; on failure it answers 503 and returns ok false.
func (s *Server) preferenceDefaults(w http.ResponseWriter, r *http.Request, c links.Claims) (map[string]bool, bool) {
	if s.PreferenceDefaults == nil {
		return nil, true
	}
	d, err := s.PreferenceDefaults(r.Context(), c.Model, c.ContactKey)
	if err != nil {
		s.Log.Error("preference center: reading the consent defaults failed", "err", err)
		retryLater(w, "could not read your preferences, please retry")
		return nil, false
	}
	return d, true
}

// preferences reads the plan's subscription types and the address's
// suppression and latest ledger entry per type; on failure it answers 503
// and returns ok false.
func (s *Server) preferences(w http.ResponseWriter, r *http.Request, c links.Claims) (types []string, suppressed bool, latest map[string]store.ConsentEntry, ok bool) {
	types, err := s.Subscriptions(r.Context())
	if err == nil {
		suppressed, latest, err = s.Consent.Preferences(r.Context(), c.Email)
	}
	if err != nil {
		s.Log.Error("preference center: reading preferences failed", "err", err)
		retryLater(w, "could not read your preferences, please retry")
		return nil, false, nil, false
	}
	return types, suppressed, latest, true
}

// preferencePost handles what the preference center adds to POST /u/: the
// one-click unsubscribe of a message of a subscription type, and the "save"
// form. It returns false for the rest: unsubscribe from all.
func (s *Server) preferencePost(w http.ResponseWriter, r *http.Request, c links.Claims) bool {
	if err := parseUnsubscribeForm(w, r); err != nil {
		http.Error(w, "malformed form", http.StatusBadRequest)
		return true
	}
	now := s.Clock.Now()
	if r.PostForm.Get("List-Unsubscribe") == "One-Click" {
		if c.Subscription == "" {
			return false // a message of no type: unsubscribe from all marketing
		}
		ev := map[string]any{"campaign": c.Campaign, "one_click": true}
		if err := s.Consent.RecordConsentChanges(r.Context(), c.Email, store.ConsentSourceUnsubscribe,
			[]store.ConsentChange{{Subscription: c.Subscription, Action: store.ConsentWithdraw}}, ev, now); err != nil {
			s.Log.Error("one-click unsubscribe failed", "campaign", c.Campaign, "err", err)
			retryLater(w, "could not record the unsubscribe, please retry")
			return true
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		pageTpl.Execute(w, page{Title: "Unsubscribed", Body: "You will not receive " + c.Subscription + " email from us at this address any more."})
		return true
	}
	if r.PostForm.Get("action") != "save" {
		return false
	}
	if s.Subscriptions == nil {
		// Never read "save" as "unsubscribe from all".
		http.Error(w, "this daemon offers no subscription choices", http.StatusBadRequest)
		return true
	}
	types, suppressed, latest, ok := s.preferences(w, r, c)
	if !ok {
		return true
	}
	if suppressed {
		s.preferencePage(w, r, c, "")
		return true
	}
	defaults, ok := s.preferenceDefaults(w, r, c)
	if !ok {
		return true
	}
	want := r.PostForm["subscription"]
	for _, t := range want {
		if !slices.Contains(types, t) {
			http.Error(w, "unknown subscription type in the form: reload the page", http.StatusBadRequest)
			return true
		}
	}
	var changes []store.ConsentChange
	for _, t := range types {
		// Compared with what the page showed: ticking a box shown unticked
		// (an opt_in contact the CRM does not count as consenting) grants.
		on, was := slices.Contains(want, t), typeOn(latest, t, defaultOn(defaults, t))
		switch {
		case on && !was:
			changes = append(changes, store.ConsentChange{Subscription: t, Action: store.ConsentGrant})
		case !on && was:
			changes = append(changes, store.ConsentChange{Subscription: t, Action: store.ConsentWithdraw})
		}
	}
	ev := map[string]any{"campaign": c.Campaign, "ip": s.clientIP(r), "user_agent": cleanUserAgent(r.UserAgent())}
	if err := s.Consent.RecordConsentChanges(r.Context(), c.Email, store.ConsentSourcePreferenceCenter, changes, ev, now); err != nil {
		s.Log.Error("preference center: saving failed", "campaign", c.Campaign, "err", err)
		retryLater(w, "could not save your choices, please retry")
		return true
	}
	s.preferencePage(w, r, c, "Your choices are saved.")
	return true
}

// clientIP is the request's client address (X-Forwarded-For only from a
// trusted proxy), kept as evidence of a consent.
func (s *Server) clientIP(r *http.Request) string {
	a := s.Limits.client(r)
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

var confirmTpl = template.Must(template.New("c").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{{.Title}}</title></head>
<body><h1>{{.Title}}</h1><p>{{.Body}}</p>
{{if .Form}}<form method="post"><button type="submit" id="confirm">Confirm my subscription</button></form>{{end}}
</body></html>
`))

type confirmView struct {
	Title, Body string
	Form        bool
}

// confirmClaims verifies the confirmation token, or answers with a page
// saying why not: 404 for a damaged, forged or other-purpose link, 410 for
// an expired one. Neither records anything.
func (s *Server) confirmClaims(w http.ResponseWriter, r *http.Request) (links.Claims, bool) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Type", "text/html; charset=utf-8")
	if s.Links == nil || s.Consent == nil {
		http.NotFound(w, r)
		return links.Claims{}, false
	}
	c, err := s.Links.Verify(r.PathValue("token"), links.PurposeConfirm)
	if err != nil || c.Subscription == "" || c.Email == "" || c.Model == "" || c.ContactKey == "" || c.OutboxID == 0 {
		w.WriteHeader(http.StatusNotFound)
		confirmTpl.Execute(w, confirmView{Title: "Link not valid", Body: "This confirmation link is damaged or was not issued by us. Nothing was recorded. Use the link from the most recent confirmation email."})
		return c, false
	}
	if c.Expired(s.Clock.Now().Unix()) {
		w.WriteHeader(http.StatusGone)
		confirmTpl.Execute(w, confirmView{Title: "Link expired", Body: "This confirmation link has expired, so nothing was recorded. Subscribe again to get a new link."})
		return c, false
	}
	return c, true
}

func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request) {
	c, ok := s.confirmClaims(w, r)
	if !ok {
		return
	}
	confirmTpl.Execute(w, confirmView{Title: "Confirm your subscription",
		Body: "Confirm that " + maskEmail(c.Email) + " wants to receive " + c.Subscription + " email from us.", Form: true})
}

func (s *Server) confirm(w http.ResponseWriter, r *http.Request) {
	c, ok := s.confirmClaims(w, r)
	if !ok {
		return
	}
	_, fresh, err := s.Consent.ConfirmSubscription(r.Context(), store.Confirmation{
		OutboxID: c.OutboxID, Subscription: c.Subscription, Model: c.Model, ContactKey: c.ContactKey, Email: c.Email,
		WordingVersion: c.Step, IP: s.clientIP(r), UserAgent: cleanUserAgent(r.UserAgent()), At: s.Clock.Now(),
	}, plan.EventSubscriptionConfirmed)
	if errors.Is(err, store.ErrNoConfirmation) {
		w.WriteHeader(http.StatusGone)
		confirmTpl.Execute(w, confirmView{Title: "Link no longer valid", Body: "This confirmation is no longer known to us, so nothing was recorded. Subscribe again to get a new link."})
		return
	}
	if err != nil {
		s.Log.Error("confirming a subscription failed", "subscription", c.Subscription, "err", err)
		retryLater(w, "could not record your confirmation, please retry")
		return
	}
	if fresh && s.EventsStored != nil {
		s.EventsStored()
	}
	body := "Thank you: you will receive " + c.Subscription + " email from us."
	if !fresh {
		body = "This subscription was already confirmed."
	}
	confirmTpl.Execute(w, confirmView{Title: "Subscription confirmed", Body: body})
}

// maxUnsubscribeForm bounds the body of a POST to /u/: a one-click request
// or the preference center's form.
const maxUnsubscribeForm = 64 << 10

// parseUnsubscribeForm reads a POST to /u/ into r.PostForm. RFC 8058 says a
// one-click request SHOULD be multipart/form-data and MAY be
// application/x-www-form-urlencoded; both are read (r.ParseForm alone skips
// a multipart body, and a one-click request then read as "unsubscribe from
// all"). A body without a Content-Type is read as urlencoded.
func parseUnsubscribeForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxUnsubscribeForm)
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if mt, _, _ := mime.ParseMediaType(ct); mt == "multipart/form-data" {
		return r.ParseMultipartForm(maxUnsubscribeForm)
	}
	return r.ParseForm()
}
