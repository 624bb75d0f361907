package statuspage

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/internal/bearer"
)

// Prefix is where the page is mounted; every link and the cookie's path
// start with it.
const Prefix = "/ui"

// maxFormBytes bounds a login or lookup form.
const maxFormBytes = 4 << 10

// readTimeout bounds reading one page's numbers, below the daemon's HTTP
// WriteTimeout (30s) so the reader still gets an answer.
const readTimeout = 20 * time.Second

// contentSecurityPolicy allows the embedded stylesheet and nothing else: no
// script of any origin, no frame, forms posting only here.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed templates/*.html templates/style.css
var files embed.FS

var pages = map[string]*template.Template{}

func init() {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html"))
	for _, p := range []string{"login", "overview", "object", "contact", "error"} {
		pages[p] = template.Must(template.Must(layout.Clone()).ParseFS(files, "templates/"+p+".html"))
	}
}

var funcs = template.FuncMap{
	"numberCells": numberCells,
	"objectPath":  objectPath,
	"lower":       strings.ToLower,
	"chart":       layoutGraph,
	"stamp":       func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"funnelBars":  funnelBars,
}

// Options configure a Handler.
type Options struct {
	Source Source
	// Token is what a reader must present (see package doc); required.
	Token string
	Log   *slog.Logger
	// Now is the clock of session expiry (default time.Now).
	Now func() time.Time
	// SessionTTL is how long a login lasts (default DefaultSessionTTL).
	SessionTTL time.Duration
}

// Handler serves the page. Mount it at Prefix + "/".
type Handler struct {
	src   Source
	token string
	log   *slog.Logger
	now   func() time.Time
	ttl   time.Duration
	mux   *http.ServeMux
}

// New checks the options and builds the handler.
func New(o Options) (*Handler, error) {
	if o.Source == nil {
		return nil, errors.New("statuspage: no Source")
	}
	if o.Token == "" {
		return nil, errors.New("statuspage: no token: set " + TokenEnv + " (or the events token) to a random value, e.g. `openssl rand -hex 32`")
	}
	h := &Handler{src: o.Source, token: o.Token, log: o.Log, now: o.Now, ttl: o.SessionTTL}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.ttl <= 0 {
		h.ttl = DefaultSessionTTL
	}
	m := http.NewServeMux()
	m.HandleFunc("GET "+Prefix+"/style.css", h.style)
	m.HandleFunc("GET "+Prefix+"/login", h.loginPage)
	m.HandleFunc("POST "+Prefix+"/login", h.login)
	m.HandleFunc("POST "+Prefix+"/logout", h.logout)
	m.HandleFunc("GET "+Prefix+"/{$}", h.authed(h.overview))
	m.HandleFunc("GET "+Prefix+"/objects/{kind}/{name}", h.authed(h.object))
	m.HandleFunc("GET "+Prefix+"/contact", h.authed(h.contactForm))
	m.HandleFunc("POST "+Prefix+"/contact", h.authed(h.contact))
	m.HandleFunc(Prefix+"/", h.authed(func(w http.ResponseWriter, r *http.Request) {
		h.render(w, http.StatusNotFound, "error", page{Title: "Not found", Authed: true,
			Body: errorBody{Msg: "There is no such page. Start from the overview."}})
	}))
	h.mux = m
	return h, nil
}

// ServeHTTP sets the headers every answer carries, then routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer a browser sends
	// "Origin: null" on the page's own form posts.
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	if r.URL.Path == Prefix {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// authed lets a request with the bearer token or a session through; sends
// a browser without either to the login form; refuses a wrong bearer token.
func (h *Handler) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch h.authenticate(r) {
		case authBearer, authSession:
			if r.Method == http.MethodPost && !sameOrigin(r) {
				http.Error(w, "cross-site request refused: use the form on this page", http.StatusForbidden)
				return
			}
			next(w, r)
		case authBad:
			w.Header().Set("WWW-Authenticate", `Bearer realm="campaignctl status page"`)
			http.Error(w, "wrong bearer token: send Authorization: Bearer <the daemon's "+TokenEnv+", or its events token when that is unset>", http.StatusUnauthorized)
		default:
			if r.Method == http.MethodGet {
				http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
				return
			}
			h.render(w, http.StatusUnauthorized, "login", page{Title: "Sign in", Body: loginBody{Msg: "Your session ended: sign in again."}})
		}
	}
}

// page is what the layout renders; Body is the page's own data.
type page struct {
	Title  string
	Authed bool
	Body   any
}

type errorBody struct{ Msg string }

type loginBody struct{ Msg string }

func (h *Handler) render(w http.ResponseWriter, status int, name string, p page) {
	var b bytes.Buffer
	if err := pages[name].ExecuteTemplate(&b, "layout.html", p); err != nil {
		h.log.Error("status page: rendering failed", "page", name, "err", err)
		http.Error(w, "the status page failed to render; see the daemon's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// fail shows a UserError as it is; any other error is logged (it names no
// contact: Source errors carry the store's words, not the query) and the
// page says where to look.
func (h *Handler) fail(w http.ResponseWriter, what string, err error) {
	if IsUserError(err) {
		h.render(w, http.StatusNotFound, "error", page{Title: "Not found", Authed: true, Body: errorBody{Msg: err.Error()}})
		return
	}
	h.log.Error("status page: reading failed", "what", what, "err", err)
	h.render(w, http.StatusServiceUnavailable, "error", page{Title: "Unavailable", Authed: true,
		Body: errorBody{Msg: "The store could not be read (" + what + "); the daemon's log says why. Reload to retry."}})
}

func (h *Handler) style(w http.ResponseWriter, r *http.Request) {
	css, _ := files.ReadFile("templates/style.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=300")
	w.Write(css)
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if s := h.authenticate(r); s == authSession || s == authBearer {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return
	}
	h.render(w, http.StatusOK, "login", page{Title: "Sign in", Body: loginBody{}})
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site request refused: use the form on this page", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if !bearer.Matches(strings.TrimSpace(r.PostForm.Get("token")), h.token) {
		h.render(w, http.StatusUnauthorized, "login", page{Title: "Sign in", Body: loginBody{
			Msg: "That is not this daemon's token. It is the value of " + TokenEnv + " in the daemon's environment (or of CAMPAIGNCTL_EVENTS_TOKEN when that is unset)."}})
		return
	}
	h.setSession(w, r)
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	clearSession(w, r)
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}

func readCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), readTimeout)
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := readCtx(r)
	defer cancel()
	ov, err := h.src.Overview(ctx)
	if err != nil {
		h.fail(w, "the objects", err)
		return
	}
	h.render(w, http.StatusOK, "overview", page{Title: "Status", Authed: true, Body: ov})
}

func (h *Handler) object(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := readCtx(r)
	defer cancel()
	kind, name := r.PathValue("kind"), r.PathValue("name")
	o, err := h.src.Object(ctx, kind, name)
	if err != nil {
		h.fail(w, kind+" "+strconv.Quote(name), err)
		return
	}
	h.render(w, http.StatusOK, "object", page{Title: o.Row.Kind + " " + o.Row.Name, Authed: true, Body: o})
}

type contactBody struct {
	Query    string
	Msg      string
	Contacts []Contact
}

func (h *Handler) contactForm(w http.ResponseWriter, r *http.Request) {
	h.render(w, http.StatusOK, "contact", page{Title: "Contact lookup", Authed: true, Body: contactBody{}})
}

func (h *Handler) contact(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	q := strings.TrimSpace(r.PostForm.Get("q"))
	body := contactBody{Query: q}
	if q == "" {
		body.Msg = "Type a contact as MODEL:KEY (lead:42) or an email address."
		h.render(w, http.StatusBadRequest, "contact", page{Title: "Contact lookup", Authed: true, Body: body})
		return
	}
	ctx, cancel := readCtx(r)
	defer cancel()
	cs, err := h.src.Contact(ctx, q)
	switch {
	case IsUserError(err):
		body.Msg = err.Error()
		h.render(w, http.StatusNotFound, "contact", page{Title: "Contact lookup", Authed: true, Body: body})
		return
	case err != nil:
		h.fail(w, "the contact", err)
		return
	}
	body.Contacts = cs
	h.render(w, http.StatusOK, "contact", page{Title: "Contact lookup", Authed: true, Body: body})
}

// objectPath is the page of an object; kind and name are path-escaped.
func objectPath(kind, name string) string {
	return Prefix + "/objects/" + pathEscape(kind) + "/" + pathEscape(name)
}

func pathEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)+strconv.FormatUint(uint64(c)&15, 16)))
	}
	return b.String()
}

// cell is one number of a table row, keyed for tests and scripts by Col.
type cell struct {
	Col, Text string
}

// numberColumns are the smart buttons in report's order.
var numberColumns = []string{"sent", "received", "opened", "clicked", "replied", "bounced", "ignored", "machine", "complained", "goals"}

func numberCells(n Numbers) []cell {
	goals := "-"
	if n.Goals != nil {
		goals = n.Goals.String()
	}
	return []cell{
		{"sent", strconv.FormatInt(n.Sent, 10)},
		{"received", n.Received.String()},
		{"opened", n.Opened.String()},
		{"clicked", n.Clicked.String()},
		{"replied", n.Replied.String()},
		{"bounced", n.Bounced.String()},
		{"ignored", n.Ignored.String()},
		{"machine", n.MachineOpened.String()},
		{"complained", n.Complained.String()},
		{"goals", goals},
	}
}

// bar is one stage of a step's funnel, drawn with <meter>: no script, no
// inline style.
type bar struct {
	Stage       string
	Count, Base int64
	Share       string // of sent
}

func funnelBars(n Numbers) []bar {
	share := func(c int64) string {
		if n.Sent == 0 {
			return "-"
		}
		return FormatPercent(100 * float64(c) / float64(n.Sent))
	}
	base := max(n.Sent, 1)
	out := []bar{{"sent", n.Sent, base, share(n.Sent)}}
	for _, s := range []struct {
		name string
		c    int64
	}{{"received", n.Received.Count}, {"opened", n.Opened.Count}, {"clicked", n.Clicked.Count}, {"replied", n.Replied.Count}} {
		out = append(out, bar{s.name, s.c, base, share(s.c)})
	}
	return out
}
