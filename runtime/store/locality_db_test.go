package store_test

import "testing"

// The test cluster listens on 127.0.0.1: the server sees a loopback
// connection and says so.
func TestServerOnThisMachineOverLoopback(t *testing.T) {
	st := migrated(t)
	local, err := st.ServerOnThisMachine(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !local {
		t.Fatal("a database on 127.0.0.1 reads as on another machine")
	}
}
