package mailer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
)

func TestClassify(t *testing.T) {
	se := func(st Stage, code int, enh, msg string) error {
		return &SendError{Stage: st, Code: code, Enhanced: enh, Message: msg}
	}
	tests := []struct {
		err  error
		want Verdict
	}{
		{nil, Delivered},

		// No reply at all.
		{&SendError{Stage: StageConnect, Err: errors.New("connection refused")}, RelayUnavailable},
		{&SendError{Stage: StageGreeting, Err: os.ErrDeadlineExceeded}, RelayUnavailable},
		{&SendError{Stage: StageMail, Err: errors.New("EOF")}, RelayUnavailable},
		{&SendError{Stage: StageData, Err: errors.New("reset")}, RelayUnavailable},
		{&SendError{Stage: StageMessage, Err: os.ErrDeadlineExceeded}, RelayUnavailable},
		{&SendError{Stage: StageCompose, Err: errors.New("bad from")}, MessageRejected},
		{context.Canceled, RelayUnavailable},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), RelayUnavailable},
		{errors.New("something else"), RelayUnavailable},
		{fmt.Errorf("engine: %w", se(StageRcpt, 550, "5.1.1", "no such user")), HardBounce},

		// 421 anywhere.
		{se(StageGreeting, 421, "", "busy"), RelayUnavailable},
		{se(StageRcpt, 421, "4.7.0", "too many errors"), RelayUnavailable},
		{se(StageMessage, 421, "4.4.2", "timeout"), RelayUnavailable},

		// 4xx before the recipient: relay state.
		{se(StageGreeting, 450, "", "later"), RelayUnavailable},
		{se(StageEHLO, 451, "", "later"), RelayUnavailable},
		{se(StageStartTLS, 454, "4.7.0", "TLS not available"), RelayUnavailable},
		{se(StageAuth, 454, "4.7.0", "temporary authentication failure"), RelayUnavailable},
		{se(StageMail, 451, "4.3.0", "local error"), RelayUnavailable},
		{se(StageMail, 452, "4.3.1", "insufficient storage"), RelayUnavailable},
		{se(StageData, 451, "4.3.0", "queue file write error"), RelayUnavailable},

		// 4xx for the recipient or the message.
		{se(StageRcpt, 450, "4.2.1", "mailbox busy"), RetryMessage},
		{se(StageRcpt, 451, "4.7.1", "greylisted"), RetryMessage},
		{se(StageRcpt, 450, "4.2.0", "Greylisted"), RetryMessage},
		{se(StageRcpt, 452, "4.2.2", "mailbox full"), RetryMessage},
		{se(StageRcpt, 452, "", "too many recipients"), RetryMessage},
		{se(StageRcpt, 450, "4.1.1", "recipient verification in progress"), RetryMessage},
		{se(StageRcpt, 452, "4.3.1", "insufficient system storage"), RelayUnavailable},
		{se(StageRcpt, 453, "4.3.2", "system not accepting"), RelayUnavailable},
		{se(StageRcpt, 451, "4.4.5", "congestion"), RelayUnavailable},
		{se(StageMessage, 451, "4.7.1", "try later"), RetryMessage},
		{se(StageMessage, 452, "4.3.1", "insufficient storage"), RelayUnavailable},
		{se(StageMessage, 450, "", "later"), RetryMessage},

		// Authentication, any stage.
		{se(StageMail, 530, "5.7.0", "authentication required"), RelayRefused},
		{se(StageAuth, 535, "5.7.8", "bad credentials"), RelayRefused},
		{se(StageRcpt, 530, "5.7.0", "authentication required"), RelayRefused},
		{se(StageAuth, 534, "5.7.9", "mechanism too weak"), RelayRefused},
		{se(StageStartTLS, 538, "5.7.11", "encryption required"), RelayRefused},

		// 5xx before the recipient: the relay refuses us.
		{se(StageGreeting, 554, "", "no SMTP service here"), RelayRefused},
		{se(StageEHLO, 501, "5.5.4", "bad hostname"), RelayRefused},
		{se(StageStartTLS, 501, "", "syntax"), RelayRefused},
		{se(StageMail, 553, "", "sender not allowed"), RelayRefused},
		{se(StageMail, 550, "5.1.8", "bad sender domain"), RelayRefused},
		{se(StageMail, 550, "5.1.1", "odd, but at MAIL"), RelayRefused},
		{se(StageMail, 552, "5.3.4", "too big"), RelayRefused},

		// 5xx at RCPT by enhanced status.
		{se(StageRcpt, 550, "5.1.1", "no such user"), HardBounce},
		{se(StageRcpt, 550, "5.1.0", "address rejected"), HardBounce},
		{se(StageRcpt, 550, "5.1.2", "bad destination system"), HardBounce},
		{se(StageRcpt, 553, "5.1.3", "bad syntax"), HardBounce},
		{se(StageRcpt, 551, "5.1.6", "mailbox moved"), HardBounce},
		{se(StageRcpt, 556, "5.1.10", "null MX"), HardBounce},
		{se(StageRcpt, 553, "5.1.7", "bad sender mailbox syntax"), RelayRefused},
		{se(StageRcpt, 550, "5.1.8", "bad sender system"), RelayRefused},
		{se(StageRcpt, 550, "5.2.1", "mailbox disabled"), HardBounce},
		{se(StageRcpt, 552, "5.2.2", "mailbox full"), RetryMessage},
		{se(StageRcpt, 552, "5.2.3", "too long for mailbox"), MessageRejected},
		{se(StageRcpt, 550, "5.2.0", "other mailbox status"), MessageRejected},
		{se(StageRcpt, 552, "5.3.4", "message too big"), MessageRejected},
		{se(StageRcpt, 550, "5.3.0", "mail system error"), RelayRefused},
		{se(StageRcpt, 550, "5.4.4", "Host or domain name not found"), HardBounce},
		{se(StageRcpt, 550, "5.4.1", "Recipient address rejected: Access denied"), RelayRefused},
		{se(StageRcpt, 550, "5.4.6", "routing loop"), RelayRefused},
		{se(StageRcpt, 452, "4.5.3", "too many recipients"), RetryMessage},
		{se(StageRcpt, 552, "5.5.3", "too many recipients"), RelayRefused},
		{se(StageRcpt, 503, "5.5.1", "need MAIL"), RelayRefused},
		{se(StageRcpt, 554, "5.6.0", "media"), MessageRejected},
		{se(StageRcpt, 554, "5.7.1", "Relay access denied"), RelayRefused},
		{se(StageRcpt, 550, "5.7.1", "Client host blocked using zen.spamhaus.org"), RelayRefused},
		{se(StageRcpt, 550, "5.7.26", "DMARC"), RelayRefused},

		// 5xx at RCPT without a usable enhanced status.
		{se(StageRcpt, 550, "", "no such user here"), HardBounce},
		{se(StageRcpt, 551, "", "user not local; please try <x@y.example>"), HardBounce},
		{se(StageRcpt, 553, "", "mailbox name not allowed"), HardBounce},
		{se(StageRcpt, 550, "5.0.0", "User unknown"), HardBounce},
		{se(StageRcpt, 550, "", "relay not permitted"), RelayRefused},
		{se(StageRcpt, 550, "", "Authentication required"), RelayRefused},
		{se(StageRcpt, 550, "", "rejected by policy"), RelayRefused},
		{se(StageRcpt, 550, "", "Rejected as spam"), RelayRefused},
		{se(StageRcpt, 553, "", "Blocked by RBL"), RelayRefused},
		{se(StageRcpt, 550, "", "Access denied"), RelayRefused},
		{se(StageRcpt, 553, "", "Sender address rejected"), RelayRefused},
		{se(StageRcpt, 550, "5.0.0", "IP listed at bl.example"), RelayRefused},
		{se(StageRcpt, 552, "", "exceeded storage allocation"), RetryMessage},
		{se(StageRcpt, 501, "", "syntax error in parameters"), RelayRefused},
		{se(StageRcpt, 554, "", "transaction failed"), MessageRejected},

		// 5xx to the DATA command.
		{se(StageData, 554, "5.5.1", "no valid recipients"), RelayRefused},
		{se(StageData, 503, "", "bad sequence"), RelayRefused},
		{se(StageData, 554, "", "transaction failed"), MessageRejected},
		{se(StageData, 550, "5.7.1", "policy"), MessageRejected},

		// 5xx after the body.
		{se(StageMessage, 554, "5.6.0", "content rejected"), MessageRejected},
		{se(StageMessage, 552, "5.3.4", "message too big"), MessageRejected},
		{se(StageMessage, 552, "", "exceeded storage allocation"), MessageRejected},
		{se(StageMessage, 554, "5.7.1", "spam"), MessageRejected},
		{se(StageMessage, 550, "5.1.1", "no such user (checked late)"), HardBounce},
		{se(StageMessage, 550, "5.2.1", "mailbox disabled"), HardBounce},
		{se(StageMessage, 552, "5.2.2", "mailbox full"), RetryMessage},
		{se(StageMessage, 550, "5.1.8", "bad sender domain"), RelayRefused},
		{se(StageMessage, 554, "5.5.0", "protocol"), RelayRefused},
		{se(StageMessage, 554, "", "rejected"), MessageRejected},

		// Replies that make no sense where they came.
		{se(StageData, 250, "", "ok instead of 354"), RelayUnavailable},
		{se(StageAuth, 334, "", "unexpected challenge"), RelayUnavailable},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestVerdictString(t *testing.T) {
	want := map[Verdict]string{
		Delivered: "delivered", RetryMessage: "retry", RelayUnavailable: "relay_unavailable",
		RelayRefused: "relay_refused", HardBounce: "hard_bounce", MessageRejected: "rejected", Verdict(42): "verdict(42)",
	}
	for v, s := range want {
		if v.String() != s {
			t.Errorf("%d.String() = %q, want %q", int(v), v.String(), s)
		}
	}
}

func TestSendErrorTimeoutAndMaybeDelivered(t *testing.T) {
	tests := []struct {
		err            SendError
		timeout, maybe bool
	}{
		{SendError{Stage: StageMessage, Err: fmt.Errorf("x: %w", os.ErrDeadlineExceeded)}, true, true},
		{SendError{Stage: StageMessage, Err: errors.New("EOF")}, false, true},
		{SendError{Stage: StageMessage, Code: 451}, false, false},
		{SendError{Stage: StageData, Err: os.ErrDeadlineExceeded}, true, false},
		{SendError{Stage: StageRcpt, Err: context.DeadlineExceeded}, true, false},
	}
	for _, tt := range tests {
		if tt.err.Timeout() != tt.timeout || tt.err.MaybeDelivered() != tt.maybe {
			t.Errorf("%v: Timeout=%v MaybeDelivered=%v", &tt.err, tt.err.Timeout(), tt.err.MaybeDelivered())
		}
	}
}
