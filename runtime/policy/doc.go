// Package policy is the one place where the send path decides, per message, whether
// a policy's time rules let it go out now: quiet hours in the contact's own time
// zone and the per-contact frequency cap.
//
// Compile resolves the policy an object uses (the one it names, else the plan's
// "default", else none) for one mail class, drops the rules that class bypasses
// and parses every HH:MM and duration once. Rules.Hold is then a few integer
// comparisons: it does not allocate when it lets a message go, and allocates only
// the reason text when it holds one. The package is pure: the caller passes now,
// so tests and the accelerated demo clock control time.
//
// # Semantics
//
// Quiet hours are the window [start, end) on the contact's local wall clock; it
// may wrap midnight ("21:00"–"08:00") and start == end means none. A held message
// may go at the next instant the local clock reads end, built with time.Date in
// the contact's zone so it is right across DST changes: when end falls in a
// spring-forward gap it is the first instant after the gap, and on a fall-back
// night, when the clock reads end twice, a message held during the repeated hour
// waits for the second reading. (Where a transition itself takes the clock out
// of the window before end, that transition is the answer.) A contact whose zone is empty, "Local" or not a
// zone this machine knows is treated as UTC, and the reason says so. Loaded zones
// are cached for the life of the process (time.LoadLocation reads a file); a
// binary that must not depend on the host's zoneinfo imports time/tzdata.
//
// The frequency cap holds a message when the contact already received Max
// marketing messages in the last Per. Hold does not know when the oldest of them
// leaves the window, so it proposes a conservative retry (an hour, or Per when
// that is shorter) and the caller counts again then.
//
// # What it does not do
//
// It does not count sends: the caller asks FrequencyWindow what to count, counts
// in the store and passes the count in. Daily quotas and the send rate are shared
// by every replica of the daemon, so they belong with the store, which sees all
// their sends, not with a per-process check. Suppression (unsubscribed,
// blacklisted, hard bounces, complaints) is a property of the address, kept in
// the store's suppressions table and applied by the send path. Hold never sees
// the contact's address or name, so its reasons are safe to log.
package policy
