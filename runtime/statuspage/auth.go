package statuspage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/internal/bearer"
)

const (
	// TokenEnv names the environment variable holding the page's token; when
	// it is unset the daemon uses the events API's.
	TokenEnv = "CAMPAIGNCTL_UI_TOKEN"
	// cookieName holds a session: "<expiry unix seconds>.<hex HMAC>".
	cookieName = "campaignctl_ui"
	// DefaultSessionTTL is how long a login lasts.
	DefaultSessionTTL = 12 * time.Hour
	// sessionLabel separates the session MAC from any other use of the token.
	sessionLabel = "campaignctl status page session v1\x00"
)

// CheckToken refuses a token too short to be secret, or with characters a
// header or a form could mangle (internal/bearer). envName is said in the
// message.
func CheckToken(envName, tok string) error { return bearer.Check(envName, tok) }

// sessionMAC is the HMAC of a session's expiry keyed by the token: a cookie
// cannot be forged without the token, does not reveal it, and stops working
// when the token changes or the expiry passes.
func sessionMAC(token string, expiry int64) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(sessionLabel))
	m.Write([]byte(strconv.FormatInt(expiry, 10)))
	return m.Sum(nil)
}

func sessionValue(token string, expiry time.Time) string {
	e := expiry.Unix()
	return strconv.FormatInt(e, 10) + "." + hex.EncodeToString(sessionMAC(token, e))
}

// validSession checks a cookie value at now.
func validSession(token, value string, now time.Time) bool {
	if token == "" {
		return false
	}
	exp, mac, ok := strings.Cut(value, ".")
	if !ok {
		return false
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() >= e {
		return false
	}
	got, err := hex.DecodeString(mac)
	if err != nil {
		return false
	}
	return hmac.Equal(got, sessionMAC(token, e))
}

// authState says how a request stands.
type authState int

const (
	authNone    authState = iota // no credentials: send to the login form
	authBad                      // a bearer token that does not match: 401
	authBearer                   // a matching bearer token
	authSession                  // a valid session cookie
)

func (h *Handler) authenticate(r *http.Request) authState {
	if v := r.Header.Get("Authorization"); v != "" {
		scheme, tok, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || !bearer.Matches(strings.TrimSpace(tok), h.token) {
			return authBad
		}
		return authBearer
	}
	if c, err := r.Cookie(cookieName); err == nil && validSession(h.token, c.Value, h.now()) {
		return authSession
	}
	return authNone
}

// secureRequest says whether the browser reached us over HTTPS (directly, or
// through a proxy that says so), so the cookie gets the Secure attribute.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (h *Handler) setSession(w http.ResponseWriter, r *http.Request) {
	exp := h.now().Add(h.ttl)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: sessionValue(h.token, exp), Path: Prefix + "/",
		Expires: exp, MaxAge: int(h.ttl.Seconds()), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
}

func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix + "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
}

// sameOrigin refuses a cross-site POST: the SameSite=Strict cookie already
// keeps a session out of one, and this also covers the login form (login
// CSRF) and browsers that send no SameSite. Browsers say where a request
// comes from in Sec-Fetch-Site (trusted first: a page cannot forge it) or
// Origin. A request with neither (curl, a script with the bearer token)
// passes: the bearer token is its proof.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	return o == "http://"+r.Host || o == "https://"+r.Host
}
