// Package mailer renders a plan template for one contact into a MIME message and
// delivers it over SMTP.
//
// Rendering uses html/template for the HTML part and text/template for the text
// part and the subject, so contact data is escaped where it lands in HTML.
// Compile parses a template once; Compiled.Render is safe for concurrent use. The
// Message-ID is derived from (campaign, step, contact), so a message re-sent after
// a crash carries the same Message-ID and receivers can drop the duplicate.
//
// SMTP keeps a pool of persistent connections to one relay and pipelines MAIL,
// RCPT and DATA (RFC 2920) when the relay offers it. Its invariants:
//
//   - No phase can hang: every read and write has a deadline (DialTimeout,
//     CommandTimeout, DataTimeout), and cancelling ctx closes the connection
//     of an exchange in progress.
//   - Send returns nil only after a 2xx reply to the message's final dot.
//     Anything else is a *SendError naming the stage that failed, the reply
//     code, the RFC 3463 enhanced status and the relay's text.
//   - A connection is reused only in a known state: after a successful
//     message, or after RSET following a refused MAIL/RCPT/DATA. Broken
//     connections (I/O error, timeout, 421) are closed. A pooled connection
//     that fails before the relay replied to anything of the message is
//     retried on another one (each pooled connection at most once), which
//     cannot send a message twice. A relay that ends a session after some
//     messages of a batch (421 to the next MAIL: a cap on messages per
//     connection) gets the rest of the batch on a fresh connection.
//   - A relay full of our connections (a new one refused while others are
//     open) is shared, not treated as down: see SMTP.get.
//   - SendError.MaybeDelivered is true only when the whole message was written
//     and the reply never came; only then can a retry duplicate a delivery.
//
// Classify turns a Send error into a Verdict — retry the message, pause the
// relay, alarm on a refusing relay, suppress a hard-bouncing recipient, or fail
// just this message — from the stage and the enhanced status, so that a
// relay's "550 5.7.1 relaying denied" never suppresses a recipient.
//
// The mailer does not decide whom to send to, when, or what to do about a
// verdict; the engine does. Package smtptest is a fault-injecting relay for
// tests of both.
package mailer
