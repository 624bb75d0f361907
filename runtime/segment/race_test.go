//go:build race

package segment_test

// raceEnabled reports whether the test binary runs under the race detector.
// TestDifferentialPushdownVsInProcess then runs a tenth of its corpus: the
// race detector looks at the scan's decoder goroutine, which every filter
// exercises alike, while the full corpus runs without it (scripts/test.sh).
const raceEnabled = true
