package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
)

// testCA is a self-signed certificate for "localhost" and 127.0.0.1, made
// afresh for each test: server is the relay's config, roots trusts it.
type testCA struct {
	server *tls.Config
	roots  *x509.CertPool
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	server, roots, err := smtptest.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	return testCA{server: server, roots: roots}
}

// setupTLSRelay starts a relay offering STARTTLS with a fresh certificate.
func setupTLSRelay(t *testing.T) (*relayBundle, testCA) {
	t.Helper()
	ca := newTestCA(t)
	b := setupRelay(t)
	b.relay.SetTLS(ca.server)
	return b, ca
}

// noAuthInClear fails the test if the relay received any AUTH outside TLS.
func noAuthInClear(t *testing.T, r *smtptest.Relay) {
	t.Helper()
	for _, a := range r.AuthAttempts() {
		if !a.TLS {
			t.Errorf("AUTH %s for %q crossed the connection in the clear", a.Mechanism, a.User)
		}
	}
}

func TestSMTPUsesSTARTTLSWhenOffered(t *testing.T) {
	for _, name := range []string{"localhost", ""} { // "": verify the IP SAN of 127.0.0.1
		t.Run("ServerName="+name, func(t *testing.T) {
			b, ca := setupTLSRelay(t)
			b.client.TLS = &tls.Config{RootCAs: ca.roots, ServerName: name}
			for i := range 3 { // the second and third reuse the pooled TLS connection
				if err := b.client.Send(context.Background(), testMessage("a@example.com", i)); err != nil {
					t.Fatal(err)
				}
			}
			msgs := b.relay.Messages()
			if len(msgs) != 3 {
				t.Fatalf("relay accepted %d, want 3", len(msgs))
			}
			for _, m := range msgs {
				if !m.TLS {
					t.Fatalf("message delivered in the clear: %+v", m)
				}
			}
		})
	}
}

func TestSMTPRequireTLSWithoutSTARTTLSSendsNothing(t *testing.T) {
	b := setupRelay(t) // no STARTTLS
	b.relay.SetAuth("user", "s3cret")
	b.client.RequireTLS = true
	b.client.Auth = &Auth{Username: "user", Password: "s3cret"}

	err := b.client.Send(context.Background(), testMessage("a@example.com", 0))
	se := sendErr(t, err)
	if se.Stage != StageStartTLS && se.Stage != StageEHLO {
		t.Fatalf("stage %q, want starttls: %v", se.Stage, err)
	}
	if n := b.relay.Count(); n != 0 {
		t.Fatalf("relay accepted %d messages without TLS", n)
	}
	if a := b.relay.AuthAttempts(); len(a) != 0 {
		t.Fatalf("credentials sent: %+v", a)
	}
	// A relay that cannot give the TLS we insist on is a configuration
	// problem to alarm on, not an outage to wait out.
	wantRelayRefused(t, err)
}

// wantRelayRefused: a refusal the client makes on its own (ErrConfig) is a
// configuration problem for an operator, not an outage and never a bounce.
func wantRelayRefused(t *testing.T, err error) {
	t.Helper()
	if v := Classify(err); v != RelayRefused {
		t.Fatalf("verdict %v, want %v for a refusal made by the client: %v", v, RelayRefused, err)
	}
}

func TestSMTPUntrustedCertificateSendsNothing(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(ca testCA) *tls.Config
	}{
		// System roots only: the self-signed certificate is unknown.
		{"unknown CA", func(testCA) *tls.Config { return &tls.Config{ServerName: "localhost"} }},
		{"empty pool", func(testCA) *tls.Config { return &tls.Config{RootCAs: x509.NewCertPool()} }},
		// Trusted CA but the certificate is not for this name.
		{"wrong name", func(ca testCA) *tls.Config { return &tls.Config{RootCAs: ca.roots, ServerName: "mail.example.com"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ca := setupTLSRelay(t)
			b.relay.SetAuth("user", "s3cret")
			b.client.TLS = tt.cfg(ca)
			b.client.Auth = &Auth{Username: "user", Password: "s3cret"}

			err := b.client.Send(context.Background(), testMessage("a@example.com", 0))
			se := sendErr(t, err)
			var verr *tls.CertificateVerificationError
			if se.Stage != StageStartTLS || !errors.As(err, &verr) {
				t.Fatalf("want a certificate error at starttls, got %v", err)
			}
			if v := Classify(err); v == HardBounce || v == Delivered {
				t.Fatalf("verdict %v", v)
			}
			if n := b.relay.Count(); n != 0 {
				t.Fatalf("relay accepted %d", n)
			}
			if a := b.relay.AuthAttempts(); len(a) != 0 {
				t.Fatalf("credentials sent: %+v", a)
			}
			waitConns(t, b.relay, 0) // the failed connection is not pooled
		})
	}
}

func TestSMTPAuthPlainOverSTARTTLS(t *testing.T) {
	b, ca := setupTLSRelay(t)
	b.relay.SetAuth("user", "s3cret")
	b.relay.SetAuthOnlyOverTLS(true)
	tlsCfg := &tls.Config{RootCAs: ca.roots, ServerName: "localhost"}

	wrong := &SMTP{Addr: b.addr, TLS: tlsCfg, Auth: &Auth{Username: "user", Password: "nope"}}
	defer wrong.Close()
	err := wrong.Send(context.Background(), testMessage("a@example.com", 0))
	if se := sendErr(t, err); se.Stage != StageAuth || se.Code != 535 {
		t.Fatalf("wrong password: %v", err)
	}
	// Never the recipient's fault: RelayRefused is not HardBounce.
	if v := Classify(err); v != RelayRefused {
		t.Fatalf("wrong password: verdict %v, want %v", v, RelayRefused)
	}
	if n := b.relay.Count(); n != 0 {
		t.Fatalf("relay accepted %d after a failed AUTH", n)
	}

	b.client.TLS = tlsCfg
	b.client.Auth = &Auth{Username: "user", Password: "s3cret"}
	for i := range 2 {
		if err := b.client.Send(context.Background(), testMessage("a@example.com", i)); err != nil {
			t.Fatal(err)
		}
	}
	msgs := b.relay.Messages()
	if len(msgs) != 2 {
		t.Fatalf("relay accepted %d, want 2", len(msgs))
	}
	for _, m := range msgs {
		if !m.TLS || m.User != "user" {
			t.Fatalf("delivered %+v, want TLS as user", m)
		}
	}
	att := b.relay.AuthAttempts()
	if len(att) != 2 || att[0].OK || !att[1].OK || att[1].Mechanism != "PLAIN" {
		t.Fatalf("auth attempts %+v: want one failed and one good PLAIN (one per connection)", att)
	}
	noAuthInClear(t, b.relay)
}

func TestSMTPAuthLoginWhenOnlyLoginOffered(t *testing.T) {
	for _, overTLS := range []bool{true, false} {
		name := "clear-loopback"
		if overTLS {
			name = "starttls"
		}
		t.Run(name, func(t *testing.T) {
			b := setupRelay(t)
			b.relay.SetAuth("user", "s3cret")
			b.relay.SetAuthMechanisms("LOGIN")
			if overTLS {
				ca := newTestCA(t)
				b.relay.SetTLS(ca.server)
				b.client.TLS = &tls.Config{RootCAs: ca.roots, ServerName: "localhost"}
			}
			wrong := &SMTP{Addr: b.addr, TLS: b.client.TLS, Auth: &Auth{Username: "user", Password: "nope"}}
			defer wrong.Close()
			err := wrong.Send(context.Background(), testMessage("a@example.com", 0))
			if se := sendErr(t, err); se.Stage != StageAuth || se.Code != 535 || Classify(err) != RelayRefused {
				t.Fatalf("wrong password: %v, verdict %v", err, Classify(err))
			}

			b.client.Auth = &Auth{Username: "user", Password: "s3cret"}
			if err := b.client.Send(context.Background(), testMessage("a@example.com", 1)); err != nil {
				t.Fatal(err)
			}
			msgs := b.relay.Messages()
			if len(msgs) != 1 || msgs[0].User != "user" || msgs[0].TLS != overTLS {
				t.Fatalf("delivered %+v", msgs)
			}
			att := b.relay.AuthAttempts()
			if len(att) != 2 || att[1].Mechanism != "LOGIN" || !att[1].OK || att[0].OK {
				t.Fatalf("auth attempts %+v", att)
			}
		})
	}
}

func TestSMTPSkipsSTARTTLSToLoopbackWithoutTLSConfig(t *testing.T) {
	b, _ := setupTLSRelay(t)
	// TLS nil: the self-signed certificate of a local relay would not verify,
	// and TLS on loopback buys nothing, so the client stays in the clear.
	if err := b.client.Send(context.Background(), testMessage("a@example.com", 0)); err != nil {
		t.Fatal(err)
	}
	if msgs := b.relay.Messages(); len(msgs) != 1 || msgs[0].TLS {
		t.Fatalf("delivered %+v, want one message in the clear", msgs)
	}
}

// remoteLookingLoopback returns a name for 127.0.0.1 that isLoopback does not
// recognise, so a relay on 127.0.0.1 looks remote to the client: the seam for
// testing the "only over TLS or to loopback" rule, since smtp.go decides
// loopback-ness from Addr's host text alone. "" if there is none. Names are
// resolved from the hosts file only (DNS is made to fail), and only a name
// resolving to 127.0.0.1 and nothing else is used, so the test never connects
// anywhere but 127.0.0.1.
func remoteLookingLoopback(t *testing.T) string {
	t.Helper()
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests")
	}}
	cands := []string{"localhost."} // the FQDN form of localhost
	if h, err := os.Hostname(); err == nil && h != "" {
		cands = append(cands, h)
	}
	for _, name := range cands {
		if isLoopback(name) || net.ParseIP(strings.TrimSuffix(name, ".")) != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		addrs, err := noDNS.LookupHost(ctx, name)
		cancel()
		if err != nil || len(addrs) == 0 {
			continue
		}
		only := true
		for _, a := range addrs {
			only = only && a == "127.0.0.1"
		}
		if only {
			// The client's default resolver reads the hosts file first too
			// (nsswitch "files dns"), so it gets the same answer without DNS.
			return name
		}
	}
	return ""
}

func TestSMTPNoCredentialsInClearToNonLoopbackRelay(t *testing.T) {
	name := remoteLookingLoopback(t)
	if name == "" {
		t.Skip("no host-file name for 127.0.0.1 that the client takes for a remote relay")
	}
	t.Logf("relay on 127.0.0.1 addressed as %q", name)
	b := setupRelay(t) // AUTH offered, no STARTTLS
	b.relay.SetAuth("user", "s3cret")
	_, port, _ := net.SplitHostPort(b.addr)
	addr := net.JoinHostPort(name, port)

	t.Run("no STARTTLS: refuses to authenticate", func(t *testing.T) {
		c := &SMTP{Addr: addr, Auth: &Auth{Username: "user", Password: "s3cret"}}
		defer c.Close()
		err := c.Send(context.Background(), testMessage("a@example.com", 0))
		se := sendErr(t, err)
		if se.Stage != StageAuth || se.Code != 0 || !strings.Contains(err.Error(), "without TLS") {
			t.Fatalf("want a local refusal at auth, got %v", err)
		}
		if a := b.relay.AuthAttempts(); len(a) != 0 {
			t.Fatalf("credentials crossed the connection: %+v", a)
		}
		if b.relay.Count() != 0 {
			t.Fatal("message delivered")
		}
		wantRelayRefused(t, err)
	})

	t.Run("STARTTLS offered: TLS nil still verifies the certificate", func(t *testing.T) {
		ca := newTestCA(t)
		b.relay.SetTLS(ca.server)
		defer b.relay.SetTLS(nil)
		c := &SMTP{Addr: addr, Auth: &Auth{Username: "user", Password: "s3cret"}}
		defer c.Close()
		err := c.Send(context.Background(), testMessage("a@example.com", 1))
		var verr *tls.CertificateVerificationError
		if se := sendErr(t, err); se.Stage != StageStartTLS || !errors.As(err, &verr) {
			t.Fatalf("want a certificate error at starttls, got %v", err)
		}
		if a := b.relay.AuthAttempts(); len(a) != 0 {
			t.Fatalf("credentials crossed the connection: %+v", a)
		}

		c2 := &SMTP{Addr: addr, TLS: &tls.Config{RootCAs: ca.roots, ServerName: "localhost"}, Auth: &Auth{Username: "user", Password: "s3cret"}}
		defer c2.Close()
		if err := c2.Send(context.Background(), testMessage("a@example.com", 2)); err != nil {
			t.Fatal(err)
		}
		if msgs := b.relay.Messages(); len(msgs) != 1 || !msgs[0].TLS || msgs[0].User != "user" {
			t.Fatalf("delivered %+v", msgs)
		}
		noAuthInClear(t, b.relay)
	})
}

// A loopback relay that offers AUTH only after STARTTLS (Postfix with
// smtpd_tls_auth_only) cannot be used with TLS nil: the client skips
// STARTTLS on loopback and then finds no AUTH. It fails without sending
// anything; documented here so a change in the behaviour is noticed.
func TestSMTPLoopbackRelayWithAuthOnlyOverTLSNeedsTLSConfig(t *testing.T) {
	b, ca := setupTLSRelay(t)
	b.relay.SetAuth("user", "s3cret")
	b.relay.SetAuthOnlyOverTLS(true)
	b.client.Auth = &Auth{Username: "user", Password: "s3cret"}

	err := b.client.Send(context.Background(), testMessage("a@example.com", 0))
	if se := sendErr(t, err); se.Stage != StageAuth || se.Code != 0 {
		t.Fatalf("TLS nil: %v", err)
	}
	if b.relay.Count() != 0 || len(b.relay.AuthAttempts()) != 0 {
		t.Fatalf("sent something: %d messages, auth %+v", b.relay.Count(), b.relay.AuthAttempts())
	}

	c := &SMTP{Addr: b.addr, TLS: &tls.Config{RootCAs: ca.roots}, Auth: b.client.Auth}
	defer c.Close()
	if err := c.Send(context.Background(), testMessage("a@example.com", 1)); err != nil {
		t.Fatalf("with a TLS config: %v", err)
	}
	noAuthInClear(t, b.relay)
}

// SMTPS (port 465, RFC 8314 §3.3): with ImplicitTLS the client speaks TLS
// from the first byte, authenticates over it and sends in batches; the
// certificate is verified. Without it, a client reading the greeting of an
// SMTPS relay times out (the relay waits for a TLS hello): that is what
// --smtp-implicit-tls is for, and what port 465 turns on by default.
func TestSMTPImplicitTLS(t *testing.T) {
	ca := newTestCA(t)
	r := smtptest.New()
	r.SetImplicitTLS(ca.server)
	r.SetAuth("mailer", "s3cret")
	addr, err := r.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })

	c := &SMTP{Addr: addr, ImplicitTLS: true, TLS: &tls.Config{RootCAs: ca.roots}, Auth: &Auth{Username: "mailer", Password: "s3cret"}}
	t.Cleanup(func() { c.Close() })
	msgs := []*Message{testMessage("a@example.com", 0), testMessage("b@example.com", 1), testMessage("c@example.com", 2)}
	for i, err := range c.SendBatch(context.Background(), msgs) {
		if err != nil {
			t.Fatalf("message %d over SMTPS: %v", i, err)
		}
	}
	for _, d := range r.Messages() {
		if !d.TLS || d.User != "mailer" {
			t.Errorf("delivered to %v over TLS %v as %q; want TLS and the user", d.To, d.TLS, d.User)
		}
	}
	if r.Count() != 3 {
		t.Fatalf("%d delivered, want 3", r.Count())
	}
	noAuthInClear(t, r)

	untrusted := &SMTP{Addr: addr, ImplicitTLS: true, CommandTimeout: 2 * time.Second}
	t.Cleanup(func() { untrusted.Close() })
	err = untrusted.Send(context.Background(), testMessage("d@example.com", 3))
	var cert *tls.CertificateVerificationError
	if se := sendErr(t, err); se.Stage != StageConnect || !errors.As(err, &cert) {
		t.Errorf("an unknown certificate: %v, want a connect-stage certificate error", err)
	}

	plain := &SMTP{Addr: addr, CommandTimeout: 300 * time.Millisecond}
	t.Cleanup(func() { plain.Close() })
	err = plain.Send(context.Background(), testMessage("e@example.com", 4))
	if se := sendErr(t, err); se.Stage != StageGreeting || !se.Timeout() {
		t.Errorf("plain SMTP to an SMTPS relay: %v, want a greeting timeout", err)
	}
	if r.Count() != 3 {
		t.Errorf("%d delivered, want still 3", r.Count())
	}
}
