package engine_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A contact whose address is internationalized (a non-ASCII local part and
// an IDN domain) is mailed over SMTPUTF8 by a relay that offers it, to the
// domain's A-label; a relay that does not fails that message alone, with the
// reason, and neither pauses nor suppresses anyone. Before, the address went
// raw in an undeclared transaction, which Postfix refuses (553 5.6.7).
func TestInternationalizedAddressGoesOverSMTPUTF8(t *testing.T) {
	t.Parallel()
	for _, offered := range []bool{true, false} {
		rb := setupRelay(t, 8) // active: 2, 4, 6, 8
		rb.st.DB.MustExec(`UPDATE contacts SET email = 'José@Bücher.example' WHERE id = 4`)
		rb.relay.SetSMTPUTF8(offered)
		rb.apply(t, testPlan("Hi", campaign("c", "")))
		rb.pass(t)
		d := rb.relay.Deliveries()
		if offered {
			if d["josé@xn--bcher-kva.example"] != 1 || len(d) != 4 {
				t.Errorf("with SMTPUTF8: deliveries %v, want the four contacts once, José at the A-label", d)
			}
			for _, m := range rb.relay.Messages() {
				if m.UTF8 != strings.HasPrefix(strings.ToLower(m.To[0]), "josé") {
					t.Errorf("%s: SMTPUTF8 declared %v", m.To[0], m.UTF8)
				}
			}
			continue
		}
		if len(d) != 3 || d["josé@xn--bcher-kva.example"] != 0 {
			t.Errorf("without SMTPUTF8: deliveries %v, want the three others", d)
		}
		var status, reason string
		if err := rb.st.DB.QueryRow(`SELECT status, coalesce(last_error, '') FROM campaignctl.outbox WHERE contact_key = '4'`).Scan(&status, &reason); err != nil {
			t.Fatal(err)
		}
		if status != "failed" || !strings.Contains(reason, "SMTPUTF8") {
			t.Errorf("José's row: %s %q, want failed saying the relay lacks SMTPUTF8", status, reason)
		}
		if n := rb.suppressed(t); n != 0 {
			t.Errorf("%d addresses suppressed", n)
		}
		if p := testutil.ToFloat64(rb.eng.Metrics.RelayPauses.WithLabelValues("refused")) + testutil.ToFloat64(rb.eng.Metrics.RelayPauses.WithLabelValues("unavailable")); p != 0 {
			t.Errorf("sending paused %v times for one address the relay cannot take", p)
		}
	}
}
