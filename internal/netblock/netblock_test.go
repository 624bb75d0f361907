package netblock

import (
	"net/netip"
	"testing"
)

func TestClient(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"::ffff:203.0.113.7":   "203.0.113.7",
		"2001:db8:1:2:aaaa::1": "2001:db8:1:2::",
		"2001:db8:1:2:bbbb::9": "2001:db8:1:2::",
		"2001:db8:1:3::1":      "2001:db8:1:3::",
	} {
		if got := Client(netip.MustParseAddr(in)); got.String() != want {
			t.Errorf("Client(%s) = %s, want %s", in, got, want)
		}
	}
	if got := Client(netip.Addr{}); got.IsValid() {
		t.Errorf("Client of the zero address = %s, want the zero address", got)
	}
}
