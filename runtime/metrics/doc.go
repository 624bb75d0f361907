// Package metrics declares campaignctl's Prometheus metrics: the instruments
// the engine and the inbound listener update (New), the gauges read from the
// store when Prometheus scrapes (StoreCollector: enrollments, the outbox
// backlog, failed messages per object), and the build info.
//
// Label values come only from bounded sets declared in git (object kind and
// name, step, variant, status, sender, rule) — never from a contact — so the
// number of series is fixed by the plan, not by the audience. Counters count
// what this replica did (sum them over instances); the store gauges are the
// same on every replica (take max over instances).
//
// It does not serve /metrics (runtime/httpapi does), and the tracker's open
// and click counters live with the tracker in runtime/httpapi. What the
// dashboards and alerts read is documented in docs/sending.md, and
// deploy/grafana and deploy/prometheus are tested against these names.
package metrics
