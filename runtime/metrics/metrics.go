// Package metrics declares campaignctl's Prometheus metrics. Label values come only
// from bounded sets declared in git (campaign, step, status names) — never from a
// contact — so cardinality is fixed by the plan, not by the audience.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the daemon's instruments.
type Metrics struct {
	Messages         *prometheus.CounterVec
	Enqueued         *prometheus.CounterVec
	ReconcileRuns    *prometheus.CounterVec
	ReconcileSeconds prometheus.Histogram
	SendSeconds      prometheus.Histogram
	AppliedRevision  prometheus.Gauge
	Leader           prometheus.Gauge
}

// Message outcomes, the values of the status label.
const (
	StatusSent      = "sent"
	StatusRetry     = "retry"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// New creates the metrics and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campaignctl_messages_total",
			Help: "Messages handed to SMTP or given up on, by campaign, step and outcome (sent, retry, failed, cancelled).",
		}, []string{"campaign", "step", "status"}),
		Enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campaignctl_messages_enqueued_total",
			Help: "Outbox rows created by materializing an audience, by campaign and step.",
		}, []string{"campaign", "step"}),
		ReconcileRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campaignctl_reconcile_runs_total",
			Help: "Reconcile passes by result (ok, error).",
		}, []string{"result"}),
		ReconcileSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "campaignctl_reconcile_duration_seconds",
			Help:    "Time taken by one reconcile pass.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		SendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "campaignctl_smtp_send_duration_seconds",
			Help:    "Time taken to hand one message to the SMTP relay.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}),
		AppliedRevision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "campaignctl_applied_revision",
			Help: "Id of the applied plan revision this daemon last reconciled.",
		}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "campaignctl_leader",
			Help: "1 when this replica holds the reconcile leadership lock.",
		}),
	}
	reg.MustRegister(m.Messages, m.Enqueued, m.ReconcileRuns, m.ReconcileSeconds, m.SendSeconds, m.AppliedRevision, m.Leader)
	return m
}
