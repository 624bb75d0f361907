package store

import (
	"context"
	"database/sql"
	"fmt"
	"net"
)

// ServerOnThisMachine reports whether the database server runs on this
// machine, as the server itself sees the connection: over a Unix socket, a
// loopback address, or an address of one of this machine's interfaces. A
// server in another container or VM of the same host reads as elsewhere.
func (s *Store) ServerOnThisMachine(ctx context.Context) (bool, error) {
	var addr sql.NullString
	if err := s.DB.QueryRowContext(ctx, `SELECT host(inet_server_addr())`).Scan(&addr); err != nil {
		return false, fmt.Errorf("asking the database for its address: %w", err)
	}
	if !addr.Valid {
		return true, nil // a Unix socket
	}
	ip := net.ParseIP(addr.String)
	if ip == nil {
		return false, fmt.Errorf("the database gave an address that is not an IP address: %q", addr.String)
	}
	ifaces, _ := net.InterfaceAddrs() // none on an error: loopback is still recognised
	return addressIsLocal(ip, ifaces), nil
}

// addressIsLocal says whether ip is a loopback address or one of ifaces'.
func addressIsLocal(ip net.IP, ifaces []net.Addr) bool {
	if ip.IsLoopback() {
		return true
	}
	for _, a := range ifaces {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
