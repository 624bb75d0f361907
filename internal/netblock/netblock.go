// Package netblock says which address a client counts as, for the limits
// the HTTP side and the inbound listener keep per client.
package netblock

import "net/netip"

// Client returns the address a counts as: an IPv4 address (an IPv4-mapped
// IPv6 one unmapped) as itself, an IPv6 address as its /64, the block one
// host or one home gets, so a client cannot buy a new share of a limit by
// changing addresses within it.
func Client(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}
