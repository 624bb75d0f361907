// Package store is campaignctl's Postgres store: the embedded, numbered migrations
// of the runner's own schema (campaignctl.*) and every query the runtime runs on
// it. Queries live in queries.sql, one "-- name:" block each, with the reason for
// their shape next to them.
//
// The store never reads the CRM's contact tables; segment evaluation does that
// (package segment). Time is always passed in by the caller, never taken from
// now() in SQL, so tests and the demo's accelerated clock control it. The one
// exception is events.received_at, the database's own receipt stamp, which no
// decision reads.
package store
