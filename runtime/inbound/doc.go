// Package inbound is the daemon's SMTP listener for what comes back from sent
// mail: replies, delivery status notifications (RFC 3464) and feedback-loop
// complaints (RFC 5965 ARF). Each becomes one row of campaignctl.events
// (type reply, bounce or complaint) with the object, step and contact of the
// message it is about, so the engine's replied and bounced branches, responder
// exclusion, segments and reports read it like any other event; hard bounces
// and complaints also suppress the address.
//
// # Finding the message
//
// Outgoing mail carries a VERP return path, "bounce+<token>@<bounce domain>"
// (MAIL FROM; the engine asks Addresses for it). The token is the outbox row's
// id with an 80-bit HMAC under the link secret (Tokens), in lower-case hex so
// that MTAs that fold the case of local parts do not break it. DSNs go to the
// return path, so every DSN names its message.
//
// Replies go to the sender's Reply-To or From, a mailbox people read. So a
// per-message Reply-To "reply+<token>@<reply domain>" is set only when the
// operator asks for it (--reply-domain) and only for senders without a
// Reply-To of their own; the listener records such replies and does not
// forward them. Otherwise, when the sender's mail (or a copy) is routed to the
// listener (--inbound-domain), a reply is matched by its In-Reply-To and
// References against the Message-IDs the outbox recorded (mailer.MessageID:
// a hash of object, step and contact, then the outbox row's id, read back by
// primary key; the hash alone before migration 018, found through its index).
//
// Complaints come to whatever address the feedback loop was registered with;
// the listener finds the message through the token in the quoted original's
// Return-Path, else its Message-ID.
//
// Mail to a return path that is no report (vacation responders answer the
// envelope sender) and mail marked automatic (Auto-Submitted, Precedence) is
// never a reply. A recipient with a forged, altered or retired token is
// refused at RCPT (550 5.1.1) and logged.
//
// # Classifying bounces
//
// Each failed or delayed recipient of a DSN is classified by mailer.Classify
// as if the relay had answered RCPT with the DSN's Diagnostic-Code and Status:
// the send path's rule for a synchronous answer, so an address is hard-bounced
// (and suppressed) by the same evidence either way; delayed is always soft.
//
// # Idempotency and failures
//
// One report delivered twice is one event: its external_id is a hash of the
// kind, the outbox id and the report's Message-ID (or bytes), checked under a
// transaction-scoped advisory lock. A database failure answers 451, so the
// sending MTA retries; a message that cannot be parsed is taken, logged and
// counted (malformed), never retried.
//
// # Limits against hostile clients
//
// What one client, or many, can make the listener hold is bounded (the
// figures are in docs/sending.md): connections in all and per client
// address; each read and write by a timeout, which under stress (every slot
// taken) shortens and applies to a whole line, as Postfix's smtpd does; a
// session by a cap on its length; a command line by its length (a message's
// lines are not: commandLines follows the SMTP framing to tell them apart);
// the message data of all sessions together by a memory budget, past which
// a message is answered 452 so that its sender retries. A client that never
// reads its replies ends its session at the first write that times out.
//
// The listener does not send anything (no forwarding, no auto-reply), does not
// authenticate clients or check SPF/DKIM of what it receives (it takes mail
// only for its own domains; a forged report can at worst record an event for
// the one message whose token or Message-ID its author holds), and does not
// parse non-standard bounces that are not multipart/report.
package inbound
