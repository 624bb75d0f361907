package links

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// Purpose is what a token may be used for. It is signed with the token, and
// Verify refuses a token presented for another purpose.
type Purpose byte

const (
	PurposeUnsubscribe Purpose = 'u'
	PurposeOpen        Purpose = 'o'
	PurposeClick       Purpose = 'c'
	// PurposeConfirm is a double opt-in confirmation link (/confirm/): it
	// binds the contact, the subscription type and the wording version, and
	// expires.
	PurposeConfirm Purpose = 'f'
)

func (p Purpose) String() string {
	switch p {
	case PurposeUnsubscribe:
		return "unsubscribe"
	case PurposeOpen:
		return "open"
	case PurposeClick:
		return "click"
	case PurposeConfirm:
		return "confirm"
	}
	return fmt.Sprintf("purpose(%d)", byte(p))
}

// Claims is what a token asserts. Which fields are set depends on the purpose:
// an unsubscribe token needs Campaign, Step and Email; open and click tokens
// identify the message (Kind, Campaign, Step, Variant, Model, ContactKey,
// Occurrence, OutboxID) without the address, and a click token its URL.
type Claims struct {
	// Purpose is PurposeUnsubscribe when zero at Sign.
	Purpose Purpose
	// Kind and Campaign name the object (Campaign is its name, whatever its
	// kind: the events table's campaign column).
	Kind, Campaign, Step, Variant string
	Model, ContactKey             string
	Email                         string
	// URL is a click's destination.
	URL        string
	Occurrence int
	OutboxID   int64
	// IssuedAt is when the message was composed, in Unix seconds: a pixel
	// fetched seconds after it is a prefetch, not a reader.
	IssuedAt int64
	// Subscription is the subscription type the token is about: of a
	// confirmation link, and of a marketing message's unsubscribe link (its
	// template's type, which one-click withdraws).
	Subscription string
	// ExpiresAt, in Unix seconds, is when the token stops being valid (0:
	// never). Verify does not read a clock: the caller checks Expired.
	ExpiresAt int64
	// KeyID is set by Verify: the key that signed the token, "" for a legacy
	// token. Ignored by Sign.
	KeyID string
}

// ErrBadToken is returned for a token that is malformed, whose signature fails,
// whose key is unknown or retired, or that was issued for another purpose.
var ErrBadToken = errors.New("invalid or tampered link")

// MinSecretLen is the shortest secret accepted.
const MinSecretLen = 16

// maxTokenLen bounds what Verify decodes: a click token carries a URL, and
// rewriting skips URLs longer than 2,048 bytes.
const maxTokenLen = 4096

const (
	payloadVersion = 1
	// payloadV2 adds Subscription and ExpiresAt; a token without either is
	// still written as version 1, byte for byte as before.
	payloadV2 = 2
	macLen    = 16
	keyIDLen  = 8
	// macDomain separates version-1 MACs from legacy ones (which are over the
	// payload alone) and from any other use of the same secret.
	macDomain = "campaignctl link v1\x00"
)

type key struct {
	id     string
	secret []byte
	// macs holds keyed HMAC states: hmac.New hashes the key's pads, which
	// costs more than the MAC of a short payload (a message signs a token
	// per link).
	macs *sync.Pool
}

func newKey(secret []byte) key {
	secret = append([]byte(nil), secret...)
	return key{id: KeyID(secret), secret: secret, macs: &sync.Pool{New: func() any { return hmac.New(sha256.New, secret) }}}
}

// Signer signs with its current key and verifies with the current and older
// keys. It is safe for concurrent use.
type Signer struct {
	current key
	byID    map[string]key
	// all is current first, then the older keys: the legacy format has no key
	// id, so each is tried in turn.
	all []key
}

// KeyID is the id a token signed with secret carries: the first 8 hex digits
// of a SHA-256 of the secret (with a domain prefix, so it is not the plain
// hash someone may have stored elsewhere).
func KeyID(secret []byte) string {
	sum := sha256.Sum256(append([]byte("campaignctl link key id\x00"), secret...))
	return hex.EncodeToString(sum[:])[:keyIDLen]
}

// NewSigner returns a signer with one key. The secret must be at least 16 bytes.
func NewSigner(secret []byte) (*Signer, error) {
	return FromSecrets(secret)
}

// FromSecrets returns a signer that signs with current and also verifies
// tokens signed with any of old (keys being rotated out). Every secret must be
// at least 16 bytes; an old secret equal to the current one is ignored.
func FromSecrets(current []byte, old ...[]byte) (*Signer, error) {
	if len(current) < MinSecretLen {
		return nil, fmt.Errorf("link signing secret must be at least %d bytes: set CAMPAIGNCTL_SECRET", MinSecretLen)
	}
	s := &Signer{byID: map[string]key{}}
	add := func(secret []byte) error {
		k := newKey(secret)
		if prev, ok := s.byID[k.id]; ok {
			if hmac.Equal(prev.secret, k.secret) {
				return nil
			}
			return fmt.Errorf("two link signing secrets have the same key id %s; generate another new secret", k.id)
		}
		s.byID[k.id] = k
		s.all = append(s.all, k)
		return nil
	}
	if err := add(current); err != nil {
		return nil, err
	}
	s.current = s.all[0]
	for i, o := range old {
		if len(o) < MinSecretLen {
			return nil, fmt.Errorf("old link signing secret %d of CAMPAIGNCTL_SECRET_OLD is shorter than %d bytes", i+1, MinSecretLen)
		}
		if err := add(o); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SplitSecrets splits a comma-separated list of secrets (CAMPAIGNCTL_SECRET_OLD),
// trimming spaces and dropping empty entries. Secrets in such a list cannot
// contain commas; hex or base64 secrets never do.
func SplitSecrets(list string) [][]byte {
	var out [][]byte
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, []byte(s))
		}
	}
	return out
}

// KeyID returns the id of the key the signer signs with.
func (s *Signer) KeyID() string { return s.current.id }

// KeyIDs returns the ids of every key the signer verifies with, current first.
func (s *Signer) KeyIDs() []string {
	ids := make([]string, len(s.all))
	for i, k := range s.all {
		ids[i] = k.id
	}
	return ids
}

// enc is strict: a token has exactly one spelling, so a mutated token never
// decodes to the bytes of a valid one (non-zero padding bits are refused, and
// Verify refuses the CR and LF the decoder would skip).
var enc = base64.RawURLEncoding.Strict()

// tokenChars reports whether tok uses only the base64url alphabet and dots.
func tokenChars(tok string) bool {
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Sign returns a URL-safe token for c under the current key.
func (s *Signer) Sign(c Claims) string {
	if c.Purpose == 0 {
		c.Purpose = PurposeUnsubscribe
	}
	payload := encodePayload(c)
	var b strings.Builder
	b.Grow(keyIDLen + 2 + enc.EncodedLen(len(payload)) + enc.EncodedLen(macLen))
	b.WriteString(s.current.id)
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(payload))
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(macV1(s.current, payload)))
	return b.String()
}

// Verify checks a token issued for want and returns its claims. Every failure
// is ErrBadToken (wrapped with the reason, for logs; never show it to the
// link's visitor).
func (s *Signer) Verify(token string, want Purpose) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: too long", ErrBadToken)
	}
	if !tokenChars(token) {
		return Claims{}, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	var c Claims
	var err error
	switch strings.Count(token, ".") {
	case 1:
		c, err = s.verifyLegacy(token)
	case 2:
		c, err = s.verifyV1(token)
	default:
		return Claims{}, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	if err != nil {
		return Claims{}, err
	}
	if c.Purpose != want {
		return Claims{}, fmt.Errorf("%w: issued for %s, used for %s", ErrBadToken, c.Purpose, want)
	}
	return c, nil
}

func (s *Signer) verifyV1(token string) (Claims, error) {
	kid, rest, _ := strings.Cut(token, ".")
	p, sig, _ := strings.Cut(rest, ".")
	k, ok := s.byID[kid]
	if !ok {
		return Claims{}, fmt.Errorf("%w: unknown or retired key %q", ErrBadToken, kid)
	}
	payload, err1 := enc.DecodeString(p)
	got, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil || len(got) != macLen {
		return Claims{}, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	if !hmac.Equal(got, macV1(k, payload)) {
		return Claims{}, fmt.Errorf("%w: signature", ErrBadToken)
	}
	c, err := decodePayload(payload)
	if err != nil {
		// Signed by us, yet unreadable: only a bug could do that.
		return Claims{}, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	c.KeyID = kid
	return c, nil
}

// verifyLegacy checks a token of the format before key ids: an unsubscribe
// link, HMAC-SHA256 (first 16 bytes) of campaign, step and email joined by
// U+001F, under the raw secret. Any key of the signer may have signed it.
func (s *Signer) verifyLegacy(token string) (Claims, error) {
	p, sig, _ := strings.Cut(token, ".")
	payload, err1 := enc.DecodeString(p)
	got, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil || len(got) != macLen {
		return Claims{}, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	ok := false
	for _, k := range s.all {
		mac := hmac.New(sha256.New, k.secret)
		mac.Write(payload)
		if hmac.Equal(got, mac.Sum(nil)[:macLen]) {
			ok = true
			break
		}
	}
	if !ok {
		return Claims{}, fmt.Errorf("%w: signature", ErrBadToken)
	}
	parts := strings.Split(string(payload), "\x1f")
	if len(parts) != 3 {
		return Claims{}, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	return Claims{Purpose: PurposeUnsubscribe, Campaign: parts[0], Step: parts[1], Email: parts[2]}, nil
}

func macV1(k key, payload []byte) []byte {
	mac := k.macs.Get().(hash.Hash)
	mac.Reset()
	mac.Write([]byte(macDomain))
	mac.Write([]byte(k.id))
	mac.Write([]byte{0})
	mac.Write(payload)
	sum := mac.Sum(make([]byte, 0, sha256.Size))[:macLen]
	k.macs.Put(mac)
	return sum
}

// encodePayload writes the version, the purpose, then each string as a
// uvarint length and its bytes and each integer as a varint, in a fixed order:
// no separator a field could contain, and a decoder that must consume exactly
// every byte.
func encodePayload(c Claims) []byte {
	strs := [...]string{c.Kind, c.Campaign, c.Step, c.Variant, c.Model, c.ContactKey, c.Email, c.URL}
	n := 2 + 5*binary.MaxVarintLen64 + len(c.Subscription)
	for _, s := range strs {
		n += binary.MaxVarintLen64 + len(s)
	}
	b := make([]byte, 0, n)
	v2 := c.Subscription != "" || c.ExpiresAt != 0
	if v2 {
		b = append(b, payloadV2, byte(c.Purpose))
	} else {
		b = append(b, payloadVersion, byte(c.Purpose))
	}
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, int64(c.Occurrence))
	b = binary.AppendVarint(b, c.OutboxID)
	b = binary.AppendVarint(b, c.IssuedAt)
	if v2 {
		b = binary.AppendUvarint(b, uint64(len(c.Subscription)))
		b = append(b, c.Subscription...)
		b = binary.AppendVarint(b, c.ExpiresAt)
	}
	return b
}

// Expired reports whether the token's expiry (if it has one) is past at now.
func (c Claims) Expired(now int64) bool { return c.ExpiresAt != 0 && now >= c.ExpiresAt }

var errPayload = errors.New("malformed payload")

func decodePayload(b []byte) (Claims, error) {
	if len(b) < 2 || (b[0] != payloadVersion && b[0] != payloadV2) {
		return Claims{}, errPayload
	}
	c := Claims{Purpose: Purpose(b[1])}
	switch c.Purpose {
	case PurposeUnsubscribe, PurposeOpen, PurposeClick, PurposeConfirm:
	default:
		return Claims{}, errPayload
	}
	r := bytes.NewReader(b[2:])
	for _, dst := range [...]*string{&c.Kind, &c.Campaign, &c.Step, &c.Variant, &c.Model, &c.ContactKey, &c.Email, &c.URL} {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > uint64(r.Len()) {
			return Claims{}, errPayload
		}
		s := make([]byte, n)
		r.Read(s)
		*dst = string(s)
	}
	var ints [3]int64
	for i := range ints {
		v, err := binary.ReadVarint(r)
		if err != nil {
			return Claims{}, errPayload
		}
		ints[i] = v
	}
	if b[0] == payloadV2 {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > uint64(r.Len()) {
			return Claims{}, errPayload
		}
		s := make([]byte, n)
		r.Read(s)
		c.Subscription = string(s)
		if c.ExpiresAt, err = binary.ReadVarint(r); err != nil {
			return Claims{}, errPayload
		}
		if c.Subscription == "" && c.ExpiresAt == 0 {
			return Claims{}, errPayload // one spelling per token: that is version 1
		}
	}
	if r.Len() != 0 {
		return Claims{}, errPayload
	}
	c.Occurrence, c.OutboxID, c.IssuedAt = int(ints[0]), ints[1], ints[2]
	return c, nil
}
