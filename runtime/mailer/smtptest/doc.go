// Package smtptest is an SMTP relay for tests that fails on demand: it can
// refuse connections (Down), answer any stage with a chosen reply (SetReply),
// answer slowly (SetDelay), never answer after the body (SetStall), reset the
// connection in the middle of a body (SetDropMidData) and require AUTH PLAIN
// (SetAuth). It records what it accepted (Messages, Deliveries, Wait) and how
// many connections are open (Connections), so tests can check for duplicates
// and leaks.
//
// It speaks enough ESMTP for a real client — PIPELINING (RFC 2920), enhanced
// status codes (RFC 2034), 8BITMIME, SIZE — on raw net and bufio, because
// injecting faults at exact points of the exchange is simpler there than
// through a server library. STARTTLS (SetTLS, with a certificate the test
// makes) and AUTH PLAIN and LOGIN (SetAuth, SetAuthMechanisms) are there to test
// the client's TLS and credential rules. It listens on loopback only and does
// not depend on package testing, so a Go program can run it too.
package smtptest
