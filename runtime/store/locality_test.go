package store

import (
	"net"
	"testing"
)

func TestAddressIsLocal(t *testing.T) {
	_, lan, _ := net.ParseCIDR("192.168.7.20/24")
	lan.IP = net.ParseIP("192.168.7.20")
	ifaces := []net.Addr{lan, &net.IPAddr{IP: net.ParseIP("10.9.9.9")}}
	for addr, want := range map[string]bool{
		"127.0.0.1":    true,
		"127.3.2.1":    true, // all of 127.0.0.0/8 is loopback
		"::1":          true,
		"192.168.7.20": true, // this machine's own address
		"192.168.7.21": false,
		"10.9.9.9":     false, // not an *net.IPNet: not an interface address
		"203.0.113.5":  false,
	} {
		if got := addressIsLocal(net.ParseIP(addr), ifaces); got != want {
			t.Errorf("addressIsLocal(%s) = %v, want %v", addr, got, want)
		}
	}
}
