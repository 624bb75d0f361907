package metrics

import (
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campaignctl/campaignctl/runtime/store"
)

//go:embed store_queries.sql
var storeQueriesSQL string

var storeQueries = store.ParseNamedQueries(storeQueriesSQL)

// Querier runs a query; *sql.DB and *sqlx.DB implement it.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// StoreCollector reports gauges read from the store when Prometheus scrapes:
// enrollments per object and state, the outbox backlog and the failed
// messages per object. The queries run
// at most once per MinInterval (the figures in between are the last ones
// read) and each scrape waits at most Timeout for them; a failed or slow read
// keeps the last figures and sets campaignctl_store_scrape_success to 0.
type StoreCollector struct {
	db          Querier
	Timeout     time.Duration
	MinInterval time.Duration

	enrollments, backlog, oldestDue, failed, success, duration *prometheus.Desc

	mu      sync.Mutex
	readAt  time.Time
	cached  []prometheus.Metric
	ok      bool
	took    time.Duration
	reading bool
}

// Defaults of a StoreCollector.
const (
	DefaultStoreTimeout     = 2 * time.Second
	DefaultStoreMinInterval = 10 * time.Second
)

// NewStoreCollector returns a collector over db; register it with the
// daemon's registry.
func NewStoreCollector(db Querier) *StoreCollector {
	return &StoreCollector{
		db: db, Timeout: DefaultStoreTimeout, MinInterval: DefaultStoreMinInterval,
		enrollments: prometheus.NewDesc("campaignctl_enrollments",
			"Enrollments by object kind, object and state (active, held: active and waiting for an A/B decision, exited), read from the store on scrape.",
			[]string{"kind", "object", "state"}, nil),
		backlog: prometheus.NewDesc("campaignctl_outbox_pending_messages",
			"Messages not yet handed to the relay, by object kind, object and whether they are due (due: waiting, held by policy or retrying) or held for an A/B decision (held), read from the store on scrape.",
			[]string{"kind", "object", "state"}, nil),
		oldestDue: prometheus.NewDesc("campaignctl_outbox_oldest_due_timestamp_seconds",
			"Due time (Unix seconds, engine clock) of the earliest pending message not held for an A/B decision, by lane (waited: confirmations and autoresponders; one_to_one: sequences' and workflows' steps; campaign); absent for a lane with none. A value that stops moving while messages wait means that lane's sending is stuck.",
			[]string{"lane"}, nil),
		failed: prometheus.NewDesc("campaignctl_outbox_failed_messages",
			"Messages given up on (outbox status failed: hard bounce, rejected, retries or relay outage past the give-up age, unusable template or policy), by object kind and object, since the object was first sent, read from the store on scrape; absent for an object with none. An object with failed messages is what campaignctl status calls Degraded; the ObjectDegraded alert fires when this grows.",
			[]string{"kind", "object"}, nil),
		success: prometheus.NewDesc("campaignctl_store_scrape_success",
			"1 when the last read of the store's gauges succeeded within its timeout, 0 when the figures reported are older ones.",
			nil, nil),
		duration: prometheus.NewDesc("campaignctl_store_scrape_duration_seconds",
			"Time the last read of the store's gauges took.",
			nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *StoreCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.enrollments, c.backlog, c.oldestDue, c.failed, c.success, c.duration} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the store when the last
// read is older than MinInterval, then sends the figures.
func (c *StoreCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	stale := time.Since(c.readAt) >= c.MinInterval
	c.mu.Unlock()
	if stale {
		c.refresh()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.cached {
		ch <- m
	}
	ch <- prometheus.MustNewConstMetric(c.success, prometheus.GaugeValue, boolFloat(c.ok))
	ch <- prometheus.MustNewConstMetric(c.duration, prometheus.GaugeValue, c.took.Seconds())
}

func (c *StoreCollector) refresh() {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	ms, err := c.read(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readAt, c.took, c.ok = time.Now(), time.Since(start), err == nil
	if err == nil {
		c.cached = ms
	}
}

func (c *StoreCollector) read(ctx context.Context) ([]prometheus.Metric, error) {
	var out []prometheus.Metric
	rows, err := c.db.QueryContext(ctx, storeQueries["enrollments-by-state"])
	if err != nil {
		return nil, fmt.Errorf("enrollments by state: %w", err)
	}
	for rows.Next() {
		var kind, object, state string
		var n float64
		if err := rows.Scan(&kind, &object, &state, &n); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, prometheus.MustNewConstMetric(c.enrollments, prometheus.GaugeValue, n, kind, object, state))
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("enrollments by state: %w", err)
	}
	rows, err = c.db.QueryContext(ctx, storeQueries["outbox-backlog"])
	if err != nil {
		return nil, fmt.Errorf("outbox backlog: %w", err)
	}
	for rows.Next() {
		var kind, object string
		var due, held float64
		if err := rows.Scan(&kind, &object, &due, &held); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out,
			prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, due, kind, object, "due"),
			prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, held, kind, object, "held"))
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("outbox backlog: %w", err)
	}
	rows, err = c.db.QueryContext(ctx, storeQueries["outbox-failed"])
	if err != nil {
		return nil, fmt.Errorf("failed messages: %w", err)
	}
	for rows.Next() {
		var kind, object string
		var n float64
		if err := rows.Scan(&kind, &object, &n); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, n, kind, object))
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("failed messages: %w", err)
	}
	rows, err = c.db.QueryContext(ctx, storeQueries["outbox-oldest-due"])
	if err != nil {
		return nil, fmt.Errorf("oldest due message: %w", err)
	}
	for rows.Next() {
		var lane string
		var oldest sql.NullTime
		if err := rows.Scan(&lane, &oldest); err != nil {
			rows.Close()
			return nil, err
		}
		if oldest.Valid {
			out = append(out, prometheus.MustNewConstMetric(c.oldestDue, prometheus.GaugeValue, float64(oldest.Time.UnixNano())/1e9, lane))
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("oldest due message: %w", err)
	}
	return out, nil
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
