// Package mailer renders a plan template for one contact into a MIME message and
// delivers it over SMTP.
//
// Rendering uses html/template for the HTML part and text/template for the text
// part and the subject, so contact data is escaped where it lands in HTML. The
// Message-ID is derived from (campaign, step, contact), so a message re-sent after
// a crash carries the same Message-ID and receivers can drop the duplicate.
//
// The mailer does not decide whom to send to or when; the engine does.
package mailer
