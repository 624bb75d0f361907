// Package engine runs an applied plan: it reconciles the campaigns of the latest
// revision against the store (create, update, remove), materializes each due
// campaign's audience into the outbox, and sends due outbox rows through the
// mailer.
//
// Reconcile is level-triggered and idempotent: running it again, or on two
// replicas at once, changes nothing that is already right. Only the replica that
// holds the leadership lock reconciles; every replica sends, claiming disjoint
// rows with SKIP LOCKED. The outbox's unique keys are what guarantee one message
// per (campaign, step, contact) and per normalized address.
//
// Sending is a pipeline (send.go): a claimer keeps a small queue of claimed rows,
// workers compose and hand them to the relay, a ledger writes their outcomes in
// batches fenced by the claim, and a renewer keeps the claims' leases alive on
// the database's clock. A relay that is down or refuses us pauses every worker
// (relay.go) instead of failing or bouncing recipients. Reconcile runs beside
// the pipeline (run.go), so a plan change applies mid-send. docs/sending.md
// states the guarantees and the in-flight window.
//
// The engine does not parse sources, evaluate CEL itself (package segment does)
// or speak SMTP (package mailer does).
package engine
