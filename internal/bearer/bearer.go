// Package bearer holds what every token-protected endpoint of the daemon
// (POST /v1/events, the status page) does with its token: refuse a weak one
// at start, read it from an Authorization header, and compare it in constant
// time.
package bearer

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// MinLen is the shortest token accepted: 16 characters of the b64token
// alphabet are at least 96 bits when random.
const MinLen = 16

// Check refuses a token too short to be secret, or with characters an
// Authorization header or a form could mangle (RFC 6750's b64token alphabet
// only). envName, the variable it came from, is said in the message; the
// token never is.
func Check(envName, tok string) error {
	if len(tok) < MinLen {
		return fmt.Errorf("%s is %d characters long; use at least %d random ones, e.g. from `openssl rand -hex 32`", envName, len(tok), MinLen)
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/=", c) >= 0) {
			return fmt.Errorf("%s has a character other than A-Z a-z 0-9 - . _ ~ + / = at position %d (a trailing newline?); use e.g. `openssl rand -hex 32`", envName, i+1)
		}
	}
	return nil
}

// Matches compares the digests of got and want in constant time: comparing
// the tokens themselves would leak want's length. An empty want matches
// nothing.
func Matches(got, want string) bool {
	if want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// FromHeader returns the token of an "Authorization: Bearer <token>" header;
// the scheme is case-insensitive (RFC 9110).
func FromHeader(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
