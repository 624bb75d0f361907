package inbound

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/campaignctl/campaignctl/runtime/mailer"
)

// Kind is what an inbound message is.
type Kind string

const (
	KindReply     Kind = "reply"
	KindBounce    Kind = "bounce"    // an RFC 3464 delivery status notification
	KindComplaint Kind = "complaint" // an RFC 5965 feedback report
	// KindAutoReply: an out-of-office or other automatic answer (RFC 3834
	// Auto-Submitted, Precedence), or a message from the null sender that is no
	// DSN: not a person replying, so nothing is recorded.
	KindAutoReply Kind = "auto_reply"
	// KindReport: a multipart/report of another type, or a DSN without a
	// failed or delayed recipient (delivered, relayed): nothing to record.
	KindReport Kind = "report"
)

// Parsed is what Parse read from a message.
type Parsed struct {
	Kind Kind
	// MessageID of the inbound message itself, without angle brackets.
	MessageID string
	// Refs are Message-IDs (without brackets) of the messages this one is
	// about, most specific first: In-Reply-To then References (last first) for
	// a reply; the original's Message-ID for a report.
	Refs []string
	// OriginalReturnPath is the Return-Path of the original message a report
	// quotes, where our VERP address may be.
	OriginalReturnPath string
	// Recipients of a DSN whose Action is failed or delayed.
	Recipients []Recipient
	// FeedbackType of a complaint (abuse, fraud, …).
	FeedbackType string
}

// Recipient is one per-recipient block of a DSN (RFC 3464 §2.3).
type Recipient struct {
	FinalRecipient string // the address, without the "rfc822;" type
	Action         string // failed, delayed (lower case)
	Status         string // RFC 3463 status, e.g. 5.1.1
	Diagnostic     string // Diagnostic-Code without its type, e.g. "550 5.1.1 no such user"
}

// Bounce classifies the recipient's failure with the send path's rules for a
// synchronous answer to RCPT (mailer.Classify): hard only when the mailbox is
// known bad (5.1.x other than 5.1.7/5.1.8, 5.2.1, 5.4.4; 550/551/553 without
// status and without relay or policy wording). Delayed is always soft.
func (r Recipient) Bounce() (hard bool, verdict mailer.Verdict) {
	code, enhanced, text := diagnosticCode(r.Diagnostic)
	if r.Status != "" && validStatus(r.Status) {
		enhanced = r.Status
	}
	if code == 0 {
		switch {
		case strings.HasPrefix(enhanced, "5."):
			code = 550
		case strings.HasPrefix(enhanced, "4."):
			code = 450
		}
	}
	if r.Action == "delayed" && code >= 500 {
		code = 450
	}
	v := mailer.Classify(&mailer.SendError{Stage: mailer.StageRcpt, Code: code, Enhanced: enhanced, Message: text})
	return v == mailer.HardBounce && r.Action == "failed", v
}

// diagnosticCode reads "smtp; 550 5.1.1 <a@b>: user unknown".
func diagnosticCode(d string) (code int, enhanced, text string) {
	_, rest, ok := strings.Cut(d, ";")
	if !ok {
		rest = d
	}
	f := strings.Fields(rest)
	if len(f) > 0 {
		if n, err := strconv.Atoi(strings.TrimRight(f[0], "-")); err == nil && n >= 200 && n < 600 {
			code, f = n, f[1:]
		}
	}
	if len(f) > 0 && validStatus(f[0]) {
		enhanced, f = f[0], f[1:]
	}
	return code, enhanced, strings.Join(f, " ")
}

func validStatus(s string) bool {
	p := strings.Split(s, ".")
	if len(p) != 3 || (p[0] != "2" && p[0] != "4" && p[0] != "5") {
		return false
	}
	for _, x := range p[1:] {
		if n, err := strconv.Atoi(x); err != nil || n < 0 || n > 999 {
			return false
		}
	}
	return true
}

// ErrMalformed wraps every reason Parse cannot read a message.
var ErrMalformed = errors.New("malformed message")

// reason says what is wrong with a message without quoting it: the errors of
// net/mail, net/textproto, mime and mime/multipart quote the line or value
// they could not read, which may hold a contact's address or name, and Parse's
// errors are logged (docs/security.md: logs carry no contact data).
func reason(err error) string {
	var pe textproto.ProtocolError
	var ce base64.CorruptInputError
	switch {
	case errors.As(err, &pe):
		return "a malformed header line"
	case errors.As(err, &ce):
		return err.Error() // an offset
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "cut short"
	case errors.Is(err, mime.ErrInvalidMediaParameter):
		return "an invalid media parameter"
	}
	return "unreadable"
}

// maxParts bounds the parts of a report read.
const maxParts = 16

// Parse reads one message (as received over SMTP, headers and body). nullSender
// is true when the envelope sender was empty (MAIL FROM:<>), as for DSNs and
// automatic answers.
func Parse(raw []byte, nullSender bool) (*Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: headers: %s", ErrMalformed, reason(err))
	}
	p := &Parsed{MessageID: firstMsgID(msg.Header.Get("Message-Id"))}
	ct := msg.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct != "" && err != nil {
		return nil, fmt.Errorf("%w: Content-Type: %s", ErrMalformed, reason(err))
	}
	if mt == "multipart/report" {
		return p, parseReport(p, msg.Body, params)
	}
	if isAutoReply(msg.Header) || nullSender {
		p.Kind = KindAutoReply
		return p, nil
	}
	p.Kind = KindReply
	p.Refs = msgIDs(msg.Header.Get("In-Reply-To"))
	refs := msgIDs(msg.Header.Get("References"))
	for i := len(refs) - 1; i >= 0; i-- {
		p.Refs = append(p.Refs, refs[i])
	}
	return p, nil
}

func isAutoReply(h mail.Header) bool {
	if a := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); a != "" && a != "no" {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "bulk", "junk", "list", "auto_reply":
		return true
	}
	return h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != ""
}

func parseReport(p *Parsed, body io.Reader, params map[string]string) error {
	rt := strings.ToLower(params["report-type"])
	boundary := params["boundary"]
	if boundary == "" {
		return fmt.Errorf("%w: multipart/report without a boundary", ErrMalformed)
	}
	switch rt {
	case "delivery-status":
		p.Kind = KindBounce
	case "feedback-report":
		p.Kind = KindComplaint
	default:
		p.Kind = KindReport
		return nil
	}
	mr := multipart.NewReader(body, boundary)
	sawReport := false
	for i := 0; ; i++ {
		if i == maxParts {
			return fmt.Errorf("%w: more than %d parts", ErrMalformed, maxParts)
		}
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if sawReport {
				break // a truncated original is common; the report was read
			}
			return fmt.Errorf("%w: report part %d: %s", ErrMalformed, i+1, reason(err))
		}
		pt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		content, err := partContent(part)
		if err != nil {
			if sawReport {
				break
			}
			return fmt.Errorf("%w: report part %d: %s", ErrMalformed, i+1, reason(err))
		}
		switch pt {
		case "message/delivery-status", "message/global-delivery-status":
			if p.Kind != KindBounce {
				continue
			}
			sawReport = true
			for _, blk := range fieldBlocks(content) {
				action := strings.ToLower(strings.TrimSpace(blk.Get("Action")))
				if blk.Get("Final-Recipient") == "" && action == "" {
					continue // the per-message block
				}
				if action != "failed" && action != "delayed" {
					continue
				}
				_, addr, _ := strings.Cut(blk.Get("Final-Recipient"), ";")
				p.Recipients = append(p.Recipients, Recipient{
					FinalRecipient: strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>")),
					Action:         action,
					Status:         firstField(blk.Get("Status")),
					Diagnostic:     strings.Join(strings.Fields(blk.Get("Diagnostic-Code")), " "),
				})
			}
		case "message/feedback-report":
			if p.Kind != KindComplaint {
				continue
			}
			sawReport = true
			blks := fieldBlocks(content)
			if len(blks) > 0 {
				p.FeedbackType = strings.ToLower(strings.TrimSpace(blks[0].Get("Feedback-Type")))
			}
		case "message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers":
			h := readHeaderLoose(content)
			p.OriginalReturnPath = strings.Trim(strings.TrimSpace(h.Get("Return-Path")), "<>")
			if id := firstMsgID(h.Get("Message-Id")); id != "" {
				p.Refs = append(p.Refs, id)
			}
		}
	}
	if !sawReport {
		return fmt.Errorf("%w: report-type=%s without its %s part", ErrMalformed, rt, map[string]string{
			"delivery-status": "message/delivery-status", "feedback-report": "message/feedback-report"}[rt])
	}
	if p.Kind == KindBounce && len(p.Recipients) == 0 {
		p.Kind = KindReport // delivered, relayed or expanded: not a bounce
	}
	if p.Kind == KindComplaint && p.FeedbackType == "" {
		// RFC 5965 §3.1: Feedback-Type is required; without it nothing says
		// this is a complaint.
		return fmt.Errorf("%w: feedback report without a Feedback-Type field", ErrMalformed)
	}
	if p.Kind == KindComplaint && p.FeedbackType == "not-spam" {
		p.Kind = KindReport
	}
	return nil
}

// maxPartBytes bounds one decoded part (the server bounds the message too).
const maxPartBytes = 4 << 20

// partContent reads a part, decoding base64 (multipart.Reader already decodes
// quoted-printable).
func partContent(part *multipart.Part) ([]byte, error) {
	var r io.Reader = io.LimitReader(part, maxPartBytes)
	if strings.EqualFold(strings.TrimSpace(part.Header.Get("Content-Transfer-Encoding")), "base64") {
		r = base64.NewDecoder(base64.StdEncoding, &newlineSkipper{r: r})
	}
	return io.ReadAll(r)
}

// newlineSkipper drops CR and LF, which base64.NewDecoder already ignores in
// most inputs but not at every position.
type newlineSkipper struct{ r io.Reader }

func (n *newlineSkipper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// fieldBlocks splits a delivery-status or feedback-report body into its
// blocks of header-like fields, separated by blank lines (RFC 3464 §2.1).
func fieldBlocks(b []byte) []textproto.MIMEHeader {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	var out []textproto.MIMEHeader
	for _, blk := range bytes.Split(b, []byte("\n\n")) {
		blk = bytes.TrimSpace(blk)
		if len(blk) == 0 {
			continue
		}
		h := readHeaderLoose(append(blk, '\n', '\n'))
		if len(h) > 0 {
			out = append(out, h)
		}
	}
	return out
}

// readHeaderLoose reads the header fields at the start of b, keeping what it
// read before a malformed line (quoted originals are often cut short).
func readHeaderLoose(b []byte) textproto.MIMEHeader {
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(b))).ReadMIMEHeader()
	if err != nil && h == nil {
		return textproto.MIMEHeader{}
	}
	return h
}

// msgIDs returns the <…> ids in a header value, without brackets.
func msgIDs(v string) []string {
	var out []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return out
		}
		if id := strings.TrimSpace(v[i+1 : i+j]); id != "" && len(id) <= 255 {
			out = append(out, id)
		}
		v = v[i+j+1:]
	}
}

func firstMsgID(v string) string {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return strings.TrimSpace(v)
}

// firstField returns the first whitespace-separated word of s, or "" (a
// report without a Status, or with a blank one).
func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}
