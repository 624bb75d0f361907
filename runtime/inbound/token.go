package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/campaignctl/campaignctl/runtime/links"
)

// Purpose is what an address token is for: the return path of bounces, or the
// per-message Reply-To. It is inside the MAC, so a bounce address cannot be
// replayed as a reply address.
type Purpose string

const (
	PurposeBounce Purpose = "bounce"
	PurposeReply  Purpose = "reply"
	// PurposeUnsubscribe is the mailto: of List-Unsubscribe (RFC 2369): any
	// mail to it unsubscribes the message's address.
	PurposeUnsubscribe Purpose = "unsubscribe"
)

// ErrBadToken is a token that is malformed, forged, signed with an unknown or
// retired key, or issued for another purpose.
var ErrBadToken = errors.New("invalid or forged address token")

// macDomain separates these MACs from the link tokens' and any other use of
// the same secret.
const macDomain = "campaignctl inbound address v1\x00"

// macHexLen is the MAC's length in hex digits (80 bits): enough that forging
// one by guessing is hopeless, short enough that a local part stays well under
// RFC 5321's 64 octets ("bounce+" + id + key id + MAC ≈ 45).
const macHexLen = 20

// Tokens signs and verifies the outbox ids carried in addresses, with the
// secrets of the link signer (CAMPAIGNCTL_SECRET, then CAMPAIGNCTL_SECRET_OLD):
// the key id is links.KeyID, so a rotation retires both kinds of token at once.
//
// The format is "<purpose>+<outbox id>-<key id>-<mac>", all lower case digits
// and hex, because local parts are often case-folded on the way (RFC 5321
// says they are case-sensitive, many MTAs disagree). links.Signer's tokens are
// base64url (mixed case) and carry the address, too long for a local part;
// hence this small HMAC of its own.
type Tokens struct {
	current string
	keys    map[string][]byte
}

// NewTokens returns a signer with current and, for verifying only, old
// secrets (each at least links.MinSecretLen bytes).
func NewTokens(current []byte, old ...[]byte) (*Tokens, error) {
	t := &Tokens{keys: map[string][]byte{}}
	for i, s := range append([][]byte{current}, old...) {
		if len(s) < links.MinSecretLen {
			return nil, fmt.Errorf("inbound: secret %d is shorter than %d bytes: set CAMPAIGNCTL_SECRET", i+1, links.MinSecretLen)
		}
		id := links.KeyID(s)
		if i == 0 {
			t.current = id
		}
		if _, dup := t.keys[id]; !dup {
			t.keys[id] = append([]byte(nil), s...)
		}
	}
	return t, nil
}

func mac(secret []byte, p Purpose, id int64) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(macDomain))
	h.Write([]byte(p))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, id, 10))
	return hex.EncodeToString(h.Sum(nil))[:macHexLen]
}

// LocalPart returns the local part of the address for outbox row id.
func (t *Tokens) LocalPart(p Purpose, id int64) string {
	return string(p) + "+" + strconv.FormatInt(id, 10) + "-" + t.current + "-" + mac(t.keys[t.current], p, id)
}

// Verify reads the outbox id from an address's local part ("bounce+12-…"),
// case-insensitively. Every failure wraps ErrBadToken.
func (t *Tokens) Verify(localPart string) (Purpose, int64, error) {
	lp := strings.ToLower(localPart)
	var p Purpose
	switch {
	case strings.HasPrefix(lp, string(PurposeBounce)+"+"):
		p = PurposeBounce
	case strings.HasPrefix(lp, string(PurposeReply)+"+"):
		p = PurposeReply
	case strings.HasPrefix(lp, string(PurposeUnsubscribe)+"+"):
		p = PurposeUnsubscribe
	default:
		return "", 0, fmt.Errorf("%w: no bounce+, reply+ or unsubscribe+ prefix", ErrBadToken)
	}
	parts := strings.Split(lp[len(p)+1:], "-")
	if len(parts) != 3 {
		return "", 0, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	id, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != parts[0] {
		return "", 0, fmt.Errorf("%w: malformed id", ErrBadToken)
	}
	secret, ok := t.keys[parts[1]]
	if !ok {
		return "", 0, fmt.Errorf("%w: unknown or retired key %q", ErrBadToken, parts[1])
	}
	if !hmac.Equal([]byte(parts[2]), []byte(mac(secret, p, id))) {
		return "", 0, fmt.Errorf("%w: signature", ErrBadToken)
	}
	return p, id, nil
}
