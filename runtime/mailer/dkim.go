package mailer

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIM signs messages (RFC 6376) for one domain and selector. It is safe for
// concurrent use; SMTP calls Sign once per message, before the first attempt,
// so a retry on a fresh connection sends the same signed bytes.
//
// The signature uses relaxed/relaxed canonicalization (RFC 6376 §3.4.2,
// §3.4.4), which survives the header refolding and trailing-whitespace changes
// relays make, and covers the headers a receiver shows or acts on. From and
// Subject are listed twice in h= ("over-signing", §8.15): a second From or
// Subject added on the way breaks the signature instead of riding along.
type DKIM struct {
	opts dkim.SignOptions
	pub  crypto.PublicKey
}

// dkimHeaders are the header fields signed, in the order they are hashed.
// Fields a message lacks (Reply-To, List-Unsubscribe on transactional mail)
// are still listed: a verifier then treats them as empty, so adding one later
// breaks the signature (RFC 6376 §5.4).
var dkimHeaders = []string{
	"From", "From", "To", "Subject", "Subject", "Date", "Message-ID", "Reply-To",
	"List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding",
}

// NewDKIM returns a signer for domain and selector with the PEM-encoded
// private key: RSA (PKCS #1 "RSA PRIVATE KEY" or PKCS #8 "PRIVATE KEY") of at
// least 1024 bits (RFC 8301 §3.2; 2048 is what receivers expect), or Ed25519
// (RFC 8463, PKCS #8).
func NewDKIM(domain, selector string, keyPEM []byte) (*DKIM, error) {
	domain = strings.TrimSuffix(strings.TrimSpace(domain), ".")
	selector = strings.TrimSpace(selector)
	if domain == "" || selector == "" {
		return nil, errors.New("dkim: both the signing domain (--dkim-domain) and the selector (--dkim-selector) are needed")
	}
	key, err := ParseDKIMKey(keyPEM)
	if err != nil {
		return nil, err
	}
	d := &DKIM{
		opts: dkim.SignOptions{
			Domain:                 domain,
			Selector:               selector,
			Signer:                 key,
			Hash:                   crypto.SHA256,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             dkimHeaders,
		},
		pub: key.Public(),
	}
	// Sign once now, so a key the library cannot use fails at start-up rather
	// than on every message.
	if _, err := d.Sign([]byte("From: a@example.com\r\n\r\nx\r\n")); err != nil {
		return nil, err
	}
	return d, nil
}

// ParseDKIMKey reads a PEM-encoded RSA or Ed25519 private key.
func ParseDKIMKey(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("dkim: the key is not PEM: expected a block such as -----BEGIN PRIVATE KEY-----")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("dkim: PEM block %q is not a private key (want RSA PRIVATE KEY or PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("dkim: reading the private key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < 1024 {
			return nil, fmt.Errorf("dkim: an RSA key of %d bits is too short: receivers ignore signatures under 1024 bits (RFC 8301); use 2048", bits)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("dkim: unsupported key type %T (want RSA or Ed25519)", key)
}

// Domain is the signing domain (d=).
func (d *DKIM) Domain() string { return d.opts.Domain }

// Selector is the selector (s=).
func (d *DKIM) Selector() string { return d.opts.Selector }

// Sign returns the DKIM-Signature header field for msg (a whole message with
// CRLF line endings, as Message.AppendBytes writes it), ending in CRLF, to be
// written before the message's first header.
func (d *DKIM) Sign(msg []byte) (string, error) {
	s, err := dkim.NewSigner(&d.opts)
	if err != nil {
		return "", fmt.Errorf("dkim: %w", err)
	}
	if _, err := s.Write(msg); err != nil {
		s.Close()
		return "", fmt.Errorf("dkim: %w", err)
	}
	if err := s.Close(); err != nil {
		return "", fmt.Errorf("dkim: signing: %w", err)
	}
	return s.Signature(), nil
}

// DNSRecord is the TXT record to publish at <selector>._domainkey.<domain>
// (RFC 6376 §3.6.1) for this signer's key.
func (d *DKIM) DNSRecord() (string, error) {
	switch k := d.pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	}
	return "", fmt.Errorf("dkim: unsupported public key %T", d.pub)
}

// data encodes m as SMTP DATA content (see appendData) in the pooled buffers
// *rawp and *bodyp, and returns it with the message's size as SIZE declares
// it (messageSize) and the envelope's addresses. A message appendBytes found
// ready for DATA, unsigned, gets its terminator in place: no second pass, no
// copy; and its size is known without counting stuffed dots (it has none).
func (s *SMTP) data(m *Message, rawp, bodyp *[]byte) (body []byte, size int, from, to string, err error) {
	raw, from, to, ready, err := m.appendBytes((*rawp)[:0])
	*rawp = raw[:0]
	if err == nil {
		err = checkEnvelope(from, to)
	}
	if err != nil {
		return nil, 0, "", "", err
	}
	if ready && s.DKIM == nil {
		body = append(raw, '.', '\r', '\n')
		*rawp = body[:0]
		return body, len(raw), from, to, nil
	}
	body, err = s.appendData((*bodyp)[:0], raw, ready)
	*bodyp = body[:0]
	if ready {
		// The signature's lines start with no dot either.
		return body, len(body) - len(".\r\n"), from, to, err
	}
	return body, messageSize(body), from, to, err
}

// appendData appends raw to dst as SMTP DATA content (appendDotStuffed, or a
// copy and the terminator when raw is ready for DATA), preceded by its
// DKIM-Signature when s signs.
func (s *SMTP) appendData(dst, raw []byte, ready bool) ([]byte, error) {
	if s.DKIM != nil {
		sig, err := s.DKIM.Sign(raw)
		if err != nil {
			return dst, err
		}
		// The signature ends in CRLF and no line of it starts with '.', so the
		// content is the stuffed signature without its terminator, then the message.
		dst = appendDotStuffed(dst, []byte(sig))
		dst = dst[:len(dst)-len(".\r\n")]
	}
	if ready {
		dst = append(dst, raw...)
		return append(dst, '.', '\r', '\n'), nil
	}
	return appendDotStuffed(dst, raw), nil
}
