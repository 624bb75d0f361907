package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/campaignctl/campaignctl/runtime/store"
)

// Metrics are the daemon's instruments.
type Metrics struct {
	Messages         *prometheus.CounterVec
	Enqueued         *prometheus.CounterVec
	ReconcileRuns    *prometheus.CounterVec
	ReconcileSeconds prometheus.Histogram
	SendSeconds      prometheus.Histogram
	AppliedRevision  prometheus.Gauge
	Leader           prometheus.Gauge
	// The send path.
	SMTPFailures     *prometheus.CounterVec
	Unrecorded       prometheus.Gauge
	Claimed          prometheus.Gauge
	LostClaims       prometheus.Counter
	GivenUp          prometheus.Counter
	RelayUp          prometheus.Gauge
	RelayPauses      *prometheus.CounterVec
	InvalidAddresses *prometheus.CounterVec
	// SMTPConnLimit: the connections the daemon opens to the relay at most,
	// fewer than --concurrency while the relay refuses more.
	SMTPConnLimit prometheus.Gauge
	// SentBySender counts delivered messages by sender: the denominator of
	// the bounce and complaint rates per sender.
	SentBySender *prometheus.CounterVec
	// The inbound listener (runtime/inbound).
	Bounces    *prometheus.CounterVec
	Complaints *prometheus.CounterVec
	Inbound    *prometheus.CounterVec
	Held       *prometheus.CounterVec
	// AudienceSeconds: evaluating a campaign's segment and enqueuing its
	// audience (ObserveAudience).
	AudienceSeconds prometheus.Histogram
	// Event retention (the leader's pass): partitions dropped and the events
	// they held. No labels: a month is not a bounded set.
	EventPartitionsDropped prometheus.Counter
	EventsDropped          prometheus.Counter
}

// Message outcomes, the values of the status label.
const (
	StatusSent      = "sent"
	StatusRetry     = "retry"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
	// StatusDeferred: given back untried because the relay was down or refused
	// us; it says nothing about the recipient.
	StatusDeferred = "deferred"
)

// New creates the metrics and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Held: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campaignctl_messages_held_total",
			Help: "Messages held back at send time and due again later, by object kind, object and rule (quiet_hours, frequency_cap, rate_per_minute, daily_quota, paused: the object is paused in the plan).",
		}, []string{"kind", "object", "rule"}),
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campaignctl_messages_total",
			Help: "Messages handed to SMTP or given up on, by object kind (campaign, sequence, workflow, autoresponder), object, step, A/B variant (empty without a test) and outcome (sent, retry, failed, cancelled, deferred).",
		}, []string{"kind", "object", "step", "variant", "status"}),
		Enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campaignctl_messages_enqueued_total",
			Help: "Outbox rows created, by object kind, object and step (empty for a campaign's single step): a campaign's audience materialized, or the messages an enrollment's advance enqueued.",
		}, []string{"kind", "object", "step"}),
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
	m.SMTPFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "campaignctl_smtp_failures_total",
		Help: "Delivery attempts that failed, by SMTP stage (connect, mail, rcpt, message, …), reply code (none for a network error or timeout) and verdict (retry, relay_unavailable, relay_refused, hard_bounce, rejected).",
	}, []string{"stage", "code", "verdict"})
	m.Unrecorded = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "campaignctl_send_unrecorded_messages",
		Help: "Messages the relay accepted whose outcome is not yet committed: the in-flight window a crash would send again.",
	})
	m.Claimed = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "campaignctl_outbox_claimed_rows",
		Help: "Outbox rows this replica holds (claimed, not yet recorded).",
	})
	m.LostClaims = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "campaignctl_outcomes_lost_claim_total",
		Help: "Outcomes not recorded because another replica had taken the row over after this replica's lease ran out.",
	})
	m.GivenUp = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "campaignctl_outcomes_given_up_total",
		Help: "Outcomes the ledger could not commit for a whole lease (the database unreachable or failing): their rows are claimed again once the lease runs out, and the messages the relay had accepted among them are sent twice.",
	})
	m.RelayUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "campaignctl_relay_up",
		Help: "1 while the SMTP relay accepts mail, 0 while sending is paused because it is down or refuses us.",
	})
	m.RelayUp.Set(1)
	m.SMTPConnLimit = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "campaignctl_smtp_connections_allowed",
		Help: "SMTP connections this daemon opens to the relay at most: --concurrency, or fewer while the relay refuses connections beyond that many (one more is tried 30 s after each refusal).",
	})
	m.RelayPauses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "campaignctl_relay_pauses_total",
		Help: "Times sending paused for the relay, by reason (unavailable, refused).",
	}, []string{"reason"})
	m.InvalidAddresses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "campaignctl_invalid_addresses_total",
		Help: "Contacts left out of an audience because their email address is malformed, by campaign.",
	}, []string{"campaign"})
	m.Bounces = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "campaignctl_bounces_total",
		Help: "Asynchronous bounces (DSNs) recorded by the inbound listener, by sender (plan name) and kind (hard, soft): over campaignctl_sender_messages_sent_total, the bounce rate per sender.",
	}, []string{"sender", "kind"})
	m.Complaints = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "campaignctl_complaints_total",
		Help: "Feedback-loop complaints (ARF) recorded by the inbound listener, by sender (plan name): alert well before the providers' 0.3% complaint rate.",
	}, []string{"sender"})
	m.Inbound = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "campaignctl_inbound_messages_total",
		Help: "Messages the inbound listener received, by what became of them (reply, bounce, complaint, duplicate, auto_reply, report, unmatched, malformed, forged, busy, error).",
	}, []string{"result"})
	m.SentBySender = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "campaignctl_sender_messages_sent_total",
		Help: "Messages the relay accepted, by sender (plan name): the denominator of the bounce and complaint rates, e.g. rate(campaignctl_complaints_total[1d]) / rate(campaignctl_sender_messages_sent_total[1d]).",
	}, []string{"sender"})
	reg.MustRegister(m.Bounces, m.Complaints, m.Inbound, m.SentBySender)
	m.AudienceSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "campaignctl_audience_materialization_duration_seconds",
		Help:    "Time taken to evaluate a campaign's segment and enqueue its audience in the outbox, once per campaign.",
		Buckets: prometheus.ExponentialBuckets(0.01, 4, 8),
	})
	m.EventPartitionsDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "campaignctl_event_partitions_dropped_total",
		Help: "Monthly partitions of the events table dropped by the event retention (the policies' event_retention), after their counts were kept in event_month_counts.",
	})
	m.EventsDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "campaignctl_events_dropped_total",
		Help: "Contact events dropped with their monthly partition by the event retention.",
	})
	reg.MustRegister(m.AudienceSeconds, NewBuildInfo(), m.EventPartitionsDropped, m.EventsDropped)
	reg.MustRegister(m.Held, m.Messages, m.Enqueued, m.ReconcileRuns, m.ReconcileSeconds, m.SendSeconds, m.AppliedRevision, m.Leader,
		m.SMTPFailures, m.Unrecorded, m.Claimed, m.LostClaims, m.GivenUp, m.RelayUp, m.RelayPauses, m.SMTPConnLimit, m.InvalidAddresses)
	return m
}

// CountEnqueued counts the messages an advance of kind/object enqueued, by
// step; nil-safe. One label lookup per step, not per message: a batch holds
// thousands of messages and a handful of steps.
func (m *Metrics) CountEnqueued(kind, object string, msgs []store.StepMessage) {
	if m == nil || m.Enqueued == nil {
		return
	}
	for i := 0; i < len(msgs); {
		j := i + 1
		for j < len(msgs) && msgs[j].Step == msgs[i].Step {
			j++
		}
		m.Enqueued.WithLabelValues(kind, object, msgs[i].Step).Add(float64(j - i))
		i = j
	}
}
