//go:build race

package mailer

// raceEnabled reports whether the test binary runs under the race detector.
// The encoders' random differential tests then run a tenth of their inputs:
// they are sequential, so the race detector finds nothing in them, while the
// full runs happen without it (scripts/test.sh, plain_also).
const raceEnabled = true
