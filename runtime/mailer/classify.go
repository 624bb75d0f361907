package mailer

import (
	"errors"
	"strconv"
	"strings"
)

// Verdict is what the sender should do after a Send, decided by Classify.
type Verdict int

const (
	// Delivered: the relay accepted the message (err == nil).
	Delivered Verdict = iota
	// RetryMessage: a transient failure specific to this message or recipient
	// (mailbox busy, greylisting, mailbox full): retry it later with backoff.
	RetryMessage
	// RelayUnavailable: the relay is down, overloaded or unreachable, or the
	// exchange broke off; nothing is known to be wrong with the message. Pause
	// the relay and requeue without blaming the message.
	RelayUnavailable
	// RelayRefused: a permanent refusal that is not about the recipient
	// (sender refused, authentication failed, relaying denied, policy, protocol
	// errors). The relay is misconfigured: pause sending, raise the alarm, and
	// never suppress the recipient.
	RelayRefused
	// HardBounce: the recipient's address does not exist or is disabled for
	// good; suppress it.
	HardBounce
	// MessageRejected: a permanent refusal of this message only (content,
	// size, spam filter): fail the message, keep the recipient.
	MessageRejected
)

var verdictNames = [...]string{
	Delivered:        "delivered",
	RetryMessage:     "retry",
	RelayUnavailable: "relay_unavailable",
	RelayRefused:     "relay_refused",
	HardBounce:       "hard_bounce",
	MessageRejected:  "rejected",
}

func (v Verdict) String() string {
	if v >= 0 && int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Classify decides what err from Send means for the message, the recipient and
// the relay. It looks at the stage the exchange failed in, the reply code
// (RFC 5321 §4.2) and the enhanced status (RFC 3463), in that order of trust:
// the stage says what the relay was judging, the enhanced status what it
// objected to, the basic code only whether to try again.
//
// When in doubt it prefers a verdict that loses nothing: a recipient is
// suppressed (HardBounce) only on clear evidence that the mailbox is bad.
func Classify(err error) Verdict {
	if err == nil {
		return Delivered
	}
	var se *SendError
	if !errors.As(err, &se) {
		// Context cancellation, or an error from something that is not an SMTP
		// exchange: nothing says the message is at fault.
		return RelayUnavailable
	}
	if se.Stage == StageCompose {
		// The message could not be encoded; sending it again will not help.
		return MessageRejected
	}
	if errors.Is(se.Err, ErrConfig) {
		return RelayRefused
	}
	code := se.Code
	switch {
	case code == 0:
		// No reply: refused connection, timeout, broken connection. Even at
		// the message stage (MaybeDelivered) nothing blames the message.
		return RelayUnavailable
	case code == 421:
		// RFC 5321 §3.8: 421 means the server is closing the channel (shutting
		// down, overloaded), whatever command it answered.
		return RelayUnavailable
	case code == 530 || code == 534 || code == 535 || code == 538:
		// RFC 4954 §6: authentication required / too weak / failed /
		// encryption required: our configuration, at any stage.
		return RelayRefused
	case code >= 400 && code < 500:
		return classifyTransient(se)
	case code >= 500 && code < 600:
		return classifyPermanent(se)
	}
	// 1xx, 2xx or 3xx where a different reply was due: the relay is confused
	// or not an SMTP server; try later without blaming the message.
	return RelayUnavailable
}

// classifyTransient handles 4xx replies (RFC 5321 §4.2.1: "transient negative
// completion", the same request may succeed later).
func classifyTransient(se *SendError) Verdict {
	switch se.Stage {
	case StageRcpt, StageMessage:
		switch se.Enhanced {
		case "4.3.1", "4.3.2", "4.4.5":
			// RFC 3463 §3.4/§3.5: the relay's storage is full, it is not
			// accepting messages, or it is congested — relay-level, not
			// about this message.
			return RelayUnavailable
		}
		// 450 4.2.1 mailbox busy, 451 4.7.1 greylisting, 452 4.2.2 mailbox
		// full, 452 too many recipients: this message, later.
		return RetryMessage
	}
	// Greeting, EHLO, STARTTLS, AUTH, MAIL and the DATA command carry nothing
	// specific to the recipient or the content: a 4xx there (451 local error,
	// 454 TLS not available, 452 insufficient storage) is the relay's state.
	return RelayUnavailable
}

// classifyPermanent handles 5xx replies (RFC 5321 §4.2.1: "permanent negative
// completion").
func classifyPermanent(se *SendError) Verdict {
	_, subject, detail := splitStatus(se.Enhanced)
	switch se.Stage {
	case StageRcpt:
		return classifyRcpt(se, subject, detail)
	case StageData:
		if subject == "5" || se.Code == 500 || se.Code == 501 || se.Code == 502 || se.Code == 503 {
			// RFC 3463 §3.6: protocol status, e.g. 503 5.5.1 bad sequence:
			// our client or the relay is broken, not the message.
			return RelayRefused
		}
		return MessageRejected
	case StageMessage:
		switch {
		case subject == "1" && (detail == "7" || detail == "8"):
			// RFC 3463 §3.2: X.1.7 bad sender's mailbox syntax, X.1.8 bad
			// sender's system address: the sender is misconfigured.
			return RelayRefused
		case subject == "1":
			// RFC 3463 §3.2: the destination address is bad, reported after
			// the content (as relays that verify recipients late do).
			return HardBounce
		case subject == "2" && detail == "1":
			// RFC 3463 §3.3: X.2.1 mailbox disabled.
			return HardBounce
		case subject == "2" && detail == "2":
			// X.2.2 mailbox full is permanent in the code but usually clears.
			return RetryMessage
		case subject == "5":
			return RelayRefused
		}
		// Content rejected (X.6.x), too big (552, X.3.4, X.2.3), spam or
		// policy verdicts on this content (X.7.1 after the body): this
		// message only.
		return MessageRejected
	}
	// Connect, greeting, EHLO, STARTTLS, AUTH, MAIL: the relay refuses us or
	// our sender, not the recipient (RFC 3463 §3.2 X.1.7/X.1.8, §3.8 X.7.x).
	return RelayRefused
}

func classifyRcpt(se *SendError, subject, detail string) Verdict {
	switch subject {
	case "1":
		if detail == "7" || detail == "8" {
			// RFC 3463 §3.2: X.1.7/X.1.8 are about the sender's address.
			return RelayRefused
		}
		// RFC 3463 §3.2: X.1.0 other address status, X.1.1 bad destination
		// mailbox, X.1.2 bad destination system, X.1.3 bad mailbox syntax,
		// X.1.6 mailbox moved, X.1.10 null MX (RFC 7505).
		return HardBounce
	case "2":
		switch detail {
		case "1":
			// RFC 3463 §3.3: X.2.1 mailbox disabled, not accepting messages.
			return HardBounce
		case "2":
			// X.2.2 mailbox full: permanent by code, transient in practice.
			return RetryMessage
		}
		// X.2.3 message too long for the mailbox, X.2.4 mailing list expansion
		// problem, X.2.0 other: not proof that the mailbox is bad.
		return MessageRejected
	case "3":
		if detail == "4" {
			// RFC 3463 §3.5: X.3.4 message too big for the system.
			return MessageRejected
		}
		// Mail system status: the relay's own condition.
		return RelayRefused
	case "4":
		if detail == "4" {
			// RFC 3463 §3.5: X.4.4 unable to route — the recipient's domain has
			// no mail host (Postfix: "Host or domain name not found").
			return HardBounce
		}
		// Network and routing status: the relay's connectivity.
		return RelayRefused
	case "5":
		// RFC 3463 §3.6: protocol status (syntax, too many recipients).
		return RelayRefused
	case "6":
		// RFC 3463 §3.7: media not supported, conversion required.
		return MessageRejected
	case "7":
		// RFC 3463 §3.8: security or policy — relaying denied (5.7.1), sender
		// blocked, authentication needed: never the recipient's fault.
		return RelayRefused
	}
	// No enhanced status (or X.0.x, "other undefined status"): fall back to the
	// basic code and the text.
	if looksLikeRelayRefusal(se.Message) {
		return RelayRefused
	}
	switch se.Code {
	case 550, 551, 553:
		// RFC 5321 §4.2.2/§4.2.3: 550 mailbox unavailable, 551 user not
		// local, 553 mailbox name not allowed.
		return HardBounce
	case 552:
		// RFC 5321 §4.2.2: 552 exceeded storage allocation — a full mailbox.
		return RetryMessage
	case 500, 501, 502, 503, 504, 555:
		// RFC 5321 §4.2.2: syntax errors, bad sequence, parameters not
		// recognised: the client or relay is broken.
		return RelayRefused
	}
	// 554 "transaction failed" and the rest: not enough to suppress anyone.
	return MessageRejected
}

// relayWords mark a refusal without enhanced status as being about the relay,
// the sender or policy rather than the mailbox ("Relay access denied",
// "Sender address rejected", "blocked using zen.spamhaus.org").
var relayWords = []string{"relay", "auth", "policy", "spam", "block", "blacklist", "denied", "sender", "listed", "reputation", "not permitted"}

func looksLikeRelayRefusal(text string) bool {
	t := strings.ToLower(text)
	for _, w := range relayWords {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

// splitStatus splits "5.1.1" into "5", "1", "1"; "" gives three "".
func splitStatus(enh string) (class, subject, detail string) {
	class, rest, _ := strings.Cut(enh, ".")
	subject, detail, _ = strings.Cut(rest, ".")
	return class, subject, detail
}
