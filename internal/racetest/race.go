//go:build race

package racetest

// Enabled reports whether the binary runs under the race detector.
const Enabled = true
