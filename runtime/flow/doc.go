// Package flow is the engine's state machine, as pure code: given an object's
// definition, one enrollment's state and the facts gathered about its contact,
// Advance returns what to do now (send, skip, hold, exit) and when to look
// again. It reads no database, no clock and no network, so every rule of a
// sequence is a table test.
//
// What it owns: the order of steps, offsets from enrollment, when-conditions on
// engagement with an earlier step ("ignored" is decided when the step runs: sent,
// not bounced, and no open, click or reply since), the goal as an exit before
// any further step, and where an A/B test puts the contact (the test group gets
// its variant at once; the rest waits for the decision, then gets the winner,
// keeps being split, or gets nothing); and the calendar of a recurring
// (multiple-mode) autoresponder, recurrence.go: which dates it issues on,
// and what one enrollment does at an issue (send it, skip it, or exit).
//
// What it does not: gathering the facts (the engine does that set-based for a
// batch of enrollments), send-time policy (quiet hours, frequency caps and
// suppression are decided in the send path, for every kind alike), and
// deciding an A/B test (package abtest, run by the leader).
package flow
