// Package abtest splits an A/B-tested send between its variants and decides the
// test once the figures are in.
//
// It owns two pure functions and the statistics under them. Assign places one
// contact: in the test share (TestPercent of the audience) with one variant, or in
// the remainder that later receives the winner. Decide turns per-variant figures
// into a Verdict: the winner, or what the test's inconclusive policy says to do.
// Neither touches a database, a clock or a random source, so the engine can call
// them on any replica, before or after a restart, and get the same answer.
//
// # Assignment
//
// A contact's place is a function of (kind, object, step, contact key) alone:
// SHA-256 of the four strings joined by a 0 byte. The first 8 bytes of the digest,
// as a big-endian integer modulo 100, put the contact in the test when below
// TestPercent; the next 8 bytes, modulo the number of variants, pick its variant.
// Using two independent parts of the digest keeps the variant split even inside
// the test group, whatever TestPercent is. Including the object and step means a
// contact who landed in the test of one send is not, for that reason, in the test
// of the next. Changing the scheme reshuffles every running test, so tests pin a
// few assignments.
//
// # Decision
//
// Proportion metrics (open_rate, click_rate, reply_rate, conversions) compare the
// best variant with the runner-up by a two-proportion z-test with a pooled
// standard error, and report each rate with a 95% Wilson score interval, which
// stays inside [0, 1] and behaves at rates near 0 or 1 where the normal
// approximation does not. Revenue compares per-contact revenue means by Welch's
// t-test and reports each mean with a 95% Student t interval. The t distribution
// is computed through the regularized incomplete beta function, evaluated by its
// continued fraction.
//
// With more than two variants only the best and the runner-up are compared, at
// the 0.05 level and without a correction for multiple comparisons: if the top two
// are not told apart, no winner is named. A variant with fewer than MinSends
// sends, a tie, or p >= Alpha makes the test inconclusive, and the test's policy
// applies: send_first (the default) sends the first variant, send_all keeps
// splitting the remainder among all variants (SplitVariant says which), stop sends
// the remainder nothing. Figures that cannot be right (successes above sends,
// negative counts, NaN revenue) are an error, not a verdict.
//
// The package does not count sends, opens or revenue (the store does, from the
// events table), does not decide when a test is due (the engine waits
// DecideAfter), and does not record the verdict or send anything.
package abtest
