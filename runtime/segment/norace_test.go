//go:build !race

package segment_test

// raceEnabled: see race_test.go.
const raceEnabled = false
