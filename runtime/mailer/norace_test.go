//go:build !race

package mailer

// raceEnabled: see race_test.go.
const raceEnabled = false
