// Package links signs and verifies the tokens carried by links in sent mail
// (unsubscribe today; open and click tracking later). A token names the campaign,
// the step and the recipient's address and carries an HMAC-SHA256 over them, so a
// link cannot be forged or edited to unsubscribe someone else.
//
// It does not store anything nor serve HTTP.
package links

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// Signer signs and verifies tokens with one secret.
type Signer struct{ secret []byte }

// NewSigner returns a signer. The secret must be at least 16 bytes.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < 16 {
		return nil, errors.New("link signing secret must be at least 16 bytes: set CAMPAIGNCTL_SECRET")
	}
	return &Signer{secret: append([]byte(nil), secret...)}, nil
}

// Claims is what a token asserts.
type Claims struct {
	Campaign, Step, Email string
}

// ErrBadToken is returned for a token that is malformed or whose signature fails.
var ErrBadToken = errors.New("invalid or tampered link")

// Sign returns a URL-safe token for c.
func (s *Signer) Sign(c Claims) string {
	payload := c.Campaign + "\x1f" + c.Step + "\x1f" + c.Email
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(payload))
	sum := mac.Sum(nil)[:16]
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sum)
}

// Verify checks a token and returns its claims.
func (s *Signer) Verify(token string) (Claims, error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, ErrBadToken
	}
	enc := base64.RawURLEncoding
	payload, err := enc.DecodeString(p)
	if err != nil {
		return Claims{}, ErrBadToken
	}
	got, err := enc.DecodeString(sig)
	if err != nil {
		return Claims{}, ErrBadToken
	}
	mac := hmac.New(sha256.New, s.secret)
	mac.Write(payload)
	if !hmac.Equal(got, mac.Sum(nil)[:16]) {
		return Claims{}, ErrBadToken
	}
	parts := strings.Split(string(payload), "\x1f")
	if len(parts) != 3 {
		return Claims{}, ErrBadToken
	}
	return Claims{Campaign: parts[0], Step: parts[1], Email: parts[2]}, nil
}
