// Package events validates contact events and imports them into the runner's
// events table (campaignctl.events, see runtime/store).
//
// An event is one thing a contact did: a page view on a topic, a form submit, a
// click or open of a campaign's step, a reply, a bounce, a purchase. Segments read
// them for engagement predicates (clicked within 30 days, 3 page views of a topic
// in 14 days, inactive for 90 days), so what gets in must be right: Validate names
// the field, shows the value and says what is expected.
//
// Import reads NDJSON, one event object per line, as a stream: it holds one batch
// (5,000 events by default) and one line (at most 1 MiB) in memory, never the whole
// input. All batches go into ONE transaction, so a bad line anywhere aborts the
// import and nothing is stored; re-running it after the fix is safe, because events
// that carry an "id" are stored once per (model, id, time). Before storing a batch
// it creates the monthly partitions of the months the batch meets (those within
// ten years of now; others stay in the default partition). Creating one locks
// campaignctl.events until the import commits, and two imports that both create
// partitions after storing a batch deadlock: Postgres cancels one, whose error
// says to run it again. Migrate keeps the months around today partitioned, so only
// backfills of older months meet this.
//
// ParseBatch (NDJSON) and ParseJSONArray read a whole batch the same way without
// storing it, reporting every bad line; the daemon's POST /v1/events (package
// httpapi) uses them, then stores the batch in one transaction.
//
// A Schema (SchemaOf the applied plan) adds the properties workflow triggers
// declare: an event of a declared model and type whose property has another
// JSON type than declared (a string "thirty" for a float value) is a bad line
// naming "properties.<name>", its value and the workflow that declared it, so
// the types the compiler checked conditions against hold at run time. The
// daemon's POST /v1/events and `campaignctl events import` use the latest
// applied plan's.
//
// The package does not evaluate segments (package segment does), does not speak
// HTTP, and does not check that a model or contact exists in the plan or the CRM:
// events of unknown contacts are kept, since the CRM record can arrive later.
package events
