// Package smtpcapture is a real SMTP server that accepts every message sent to it
// and keeps it for inspection: the receiving end for tests of the mailer and the
// engine, and the "inbox" of `make demo`.
//
// Tests talk real SMTP to it over loopback, so the mailer is exercised through the
// same protocol path as in production (dot-stuffing, CRLF, multi-recipient
// transactions, error replies). Each accepted message is kept in memory
// (Messages, Count, Wait) and, when a directory is given, written as one .eml file
// per message, atomically (temp file + rename), so a watcher never reads half a
// message. RejectRecipient injects per-recipient SMTP errors (5xx hard bounces,
// 4xx temporary failures) to test retry and bounce handling.
//
// What it does not do: relay or deliver anything, TLS, authentication, DSN
// reports, or limits beyond message size and recipient count. It only listens on
// loopback addresses: it accepts mail from anyone who can connect, so it must not be
// reachable from other machines.
package smtpcapture
