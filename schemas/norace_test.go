//go:build !race

package schemas

// raceEnabled: see race_test.go.
const raceEnabled = false
