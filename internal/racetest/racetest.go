// Package racetest tells a test whether its binary runs under the race
// detector, for the tests make test runs smaller under it, or only without it:
// they start no goroutine of their own, or race code other tests race
// already, and scripts/test.sh runs them at full size without -race
// (plain_also).
package racetest

import "testing"

// Skip skips t under the race detector, saying why.
func Skip(t testing.TB, why string) {
	t.Helper()
	if Enabled {
		t.Skip(why)
	}
}

// Tenth is n under the race detector's tenth: n/10 under it, n without.
func Tenth(n int) int {
	if Enabled {
		return n / 10
	}
	return n
}
