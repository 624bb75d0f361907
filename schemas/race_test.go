//go:build race

package schemas

// raceEnabled reports whether the test binary runs under the race detector;
// see sequentialOnly.
const raceEnabled = true
