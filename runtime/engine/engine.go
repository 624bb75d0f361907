package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/mailer"
	"github.com/campaignctl/campaignctl/runtime/metrics"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// Mailer delivers one message.
type Mailer interface {
	Send(ctx context.Context, m *mailer.Message) error
}

// Engine runs the latest applied plan. Fill in the exported fields, then call Run
// or the individual steps.
type Engine struct {
	Store   *store.Store
	Mailer  Mailer
	Clock   clock.Clock
	Links   *links.Signer
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// PublicURL is the base of links in mail (unsubscribe), e.g. https://mail.example.com.
	PublicURL string
	// Worker names this replica in claimed rows.
	Worker string
	// BatchSize bounds rows per materialization insert and per claim.
	BatchSize int
	// Concurrency is the number of messages in flight to SMTP at once.
	Concurrency int
	// Lease is how long a claimed row stays claimed before another replica may
	// retry it.
	Lease time.Duration

	mu      sync.Mutex
	current *loaded
	// partitionsMonth is the month for which the events partitions around now
	// were last ensured; the leader checks again when the month changes.
	partitionsMonth time.Time
}

type loaded struct {
	revision int64
	plan     *plan.Plan
	eval     *segment.Evaluator
}

func (e *Engine) defaults() {
	if e.BatchSize <= 0 {
		e.BatchSize = 500
	}
	if e.Concurrency <= 0 {
		e.Concurrency = 4
	}
	if e.Lease <= 0 {
		e.Lease = 5 * time.Minute
	}
	if e.Log == nil {
		e.Log = slog.Default()
	}
	if e.Worker == "" {
		e.Worker = "campaignctl"
	}
}

// load returns the latest applied plan, decoding it only when the revision changed.
func (e *Engine) load(ctx context.Context) (*loaded, error) {
	rev, err := e.Store.LatestRevision(ctx)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	cur := e.current
	e.mu.Unlock()
	if cur != nil && cur.revision == rev.ID {
		return cur, nil
	}
	p, err := plan.Decode([]byte(rev.Plan))
	if err != nil {
		return nil, fmt.Errorf("revision %d: %w", rev.ID, err)
	}
	ev, err := segment.New(p)
	if err != nil {
		return nil, fmt.Errorf("revision %d: %w", rev.ID, err)
	}
	l := &loaded{revision: rev.ID, plan: p, eval: ev}
	e.mu.Lock()
	e.current = l
	e.mu.Unlock()
	if e.Metrics != nil {
		e.Metrics.AppliedRevision.Set(float64(rev.ID))
	}
	return l, nil
}

// Reconcile brings the store's campaigns in line with the latest revision and
// materializes due audiences. It does nothing unless this replica is the leader.
func (e *Engine) Reconcile(ctx context.Context) (err error) {
	e.defaults()
	start := time.Now()
	defer func() {
		if e.Metrics != nil {
			e.Metrics.ReconcileSeconds.Observe(time.Since(start).Seconds())
			result := "ok"
			if err != nil {
				result = "error"
			}
			e.Metrics.ReconcileRuns.WithLabelValues(result).Inc()
		}
	}()
	leader, release, err := e.Store.TryLeader(ctx)
	if err != nil {
		return err
	}
	if e.Metrics != nil {
		e.Metrics.Leader.Set(boolGauge(leader))
	}
	if !leader {
		return nil
	}
	defer release()

	l, err := e.load(ctx)
	if errors.Is(err, store.ErrNoRevision) {
		return nil
	}
	if err != nil {
		return err
	}
	now := e.Clock.Now()
	if err := e.ensureEventPartitions(ctx, now); err != nil {
		return err
	}
	desired := map[string]bool{}
	for _, c := range l.plan.Campaigns {
		desired[c.Name] = true
		var sendAt *time.Time
		if c.SendAt != "" {
			t, err := time.Parse(time.RFC3339, c.SendAt)
			if err != nil {
				return fmt.Errorf("campaign %s: send_at %q: %w", c.Name, c.SendAt, err)
			}
			sendAt = &t
		}
		if err := e.Store.UpsertCampaign(ctx, c.Name, c.Hash, l.revision, sendAt, now); err != nil {
			return err
		}
	}
	actual, err := e.Store.Campaigns(ctx)
	if err != nil {
		return err
	}
	for _, a := range actual {
		if !desired[a.Name] && a.Status != store.StatusRemoved {
			e.Log.Info("campaign removed from plan: cancelling its pending sends", "campaign", a.Name)
			if err := e.Store.RemoveCampaign(ctx, a.Name, now); err != nil {
				return err
			}
		}
	}
	for _, a := range actual {
		if !desired[a.Name] || a.Status != store.StatusScheduled {
			continue
		}
		if a.SendAt.Valid && a.SendAt.Time.After(now) {
			continue
		}
		c, _ := l.plan.Campaign(a.Name)
		if err := e.materialize(ctx, l, c, now); err != nil {
			return err
		}
	}
	return e.Store.FinishCampaigns(ctx, now)
}

// ensureEventPartitions keeps monthly partitions of the events table ahead of
// the clock (last month to three months on), so a daemon that runs for months
// never lets events pile up in the default partition. It checks once per month.
// Months are UTC months, as the partitions are, whatever the clock's zone.
func (e *Engine) ensureEventPartitions(ctx context.Context, now time.Time) error {
	now = now.UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	e.mu.Lock()
	done := e.partitionsMonth.Equal(month)
	e.mu.Unlock()
	if done {
		return nil
	}
	if _, err := e.Store.EnsureEventPartitions(ctx, month.AddDate(0, -1, 0), month.AddDate(0, 3, 0)); err != nil {
		return fmt.Errorf("events partitions: %w", err)
	}
	e.mu.Lock()
	e.partitionsMonth = month
	e.mu.Unlock()
	return nil
}

// materialize streams a campaign's audience into the outbox, batch by batch. A
// crash half way is harmless: the next pass inserts again and the unique keys
// drop what is already there.
func (e *Engine) materialize(ctx context.Context, l *loaded, c *plan.Campaign, now time.Time) error {
	var total, fresh int64
	// The catalog is read at each materialization, so a constraint dropped since
	// the revision was loaded can never make the SQL skip a NULL guard it needs.
	ev, err := l.eval.WithCatalog(ctx, e.Store.DB)
	if err != nil {
		return fmt.Errorf("campaign %q: %w", c.Name, err)
	}
	path, err := ev.Each(ctx, e.Store.DB, c.Segment, now, e.BatchSize, func(batch []segment.Match) error {
		rs := make([]store.Recipient, len(batch))
		for i, m := range batch {
			rs[i] = store.Recipient{Key: m.Key, Email: m.Email}
		}
		n, err := e.Store.EnqueueBatch(ctx, c.Name, "", now, now, rs)
		total += int64(len(batch))
		fresh += n
		return err
	})
	if err != nil {
		return fmt.Errorf("campaign %s: materializing segment %s: %w", c.Name, c.Segment, err)
	}
	if e.Metrics != nil {
		e.Metrics.Enqueued.WithLabelValues(c.Name, "").Add(float64(fresh))
	}
	e.Log.Info("audience materialized", "campaign", c.Name, "segment", c.Segment, "path", string(path), "matched", total, "enqueued", fresh)
	return e.Store.MarkMaterialized(ctx, c.Name, total, now)
}

// SendDue claims due outbox rows and sends them until none is due. It returns how
// many messages were handed to SMTP.
func (e *Engine) SendDue(ctx context.Context) (int, error) {
	e.defaults()
	l, err := e.load(ctx)
	if errors.Is(err, store.ErrNoRevision) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	sent := 0
	for {
		now := e.Clock.Now()
		rows, err := e.Store.ClaimDue(ctx, now, e.Worker, e.Lease, e.BatchSize)
		if err != nil {
			return sent, err
		}
		if len(rows) == 0 {
			return sent, nil
		}
		n, err := e.sendBatch(ctx, l, rows)
		sent += n
		if err != nil {
			return sent, err
		}
	}
}

func (e *Engine) sendBatch(ctx context.Context, l *loaded, rows []store.Claimed) (int, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		sent     int
		firstErr error
	)
	contacts := loadBatchContacts(ctx, e.Store.DB, l.plan, rows)
	sem := make(chan struct{}, e.Concurrency)
	for _, r := range rows {
		sem <- struct{}{}
		wg.Add(1)
		go func(r store.Claimed) {
			defer func() { <-sem; wg.Done() }()
			ok, err := e.sendOne(ctx, l, contacts, r)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				sent++
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}(r)
	}
	wg.Wait()
	return sent, firstErr
}

// sendOne renders and sends one claimed row and records the outcome. It returns an
// error only for failures of the store, which stop the pass; delivery failures
// are recorded on the row.
func (e *Engine) sendOne(ctx context.Context, l *loaded, contacts batchContacts, r store.Claimed) (bool, error) {
	count := func(status string) {
		if e.Metrics != nil {
			e.Metrics.Messages.WithLabelValues(r.Campaign, r.Step, status).Inc()
		}
	}
	c, ok := l.plan.Campaign(r.Campaign)
	if !ok {
		count(metrics.StatusCancelled)
		return false, e.Store.MarkCancelled(ctx, r.ID, "campaign no longer in the applied plan")
	}
	if sup, err := e.Store.IsSuppressed(ctx, r.Email); err != nil {
		return false, err
	} else if sup {
		count(metrics.StatusCancelled)
		return false, e.Store.MarkCancelled(ctx, r.ID, "address suppressed")
	}
	msg, tplHash, err := e.compose(l, contacts, c, r)
	if err != nil {
		count(metrics.StatusFailed)
		e.Log.Error("cannot compose message", "campaign", r.Campaign, "outbox_id", r.ID, "err", err)
		return false, e.Store.MarkFailed(ctx, r.ID, err.Error())
	}
	start := time.Now()
	err = e.Mailer.Send(ctx, msg)
	if e.Metrics != nil {
		e.Metrics.SendSeconds.Observe(time.Since(start).Seconds())
	}
	now := e.Clock.Now()
	if err == nil {
		count(metrics.StatusSent)
		return true, e.Store.MarkSent(ctx, r.ID, now, msg.MessageID, tplHash)
	}
	var se *mailer.SendError
	if errors.As(err, &se) && se.Permanent() {
		count(metrics.StatusFailed)
		if se.Code == 550 || se.Code == 551 || se.Code == 553 {
			if err := e.Store.Suppress(ctx, r.Email, "hard_bounce", r.Campaign, now); err != nil {
				return false, err
			}
		}
		return false, e.Store.MarkFailed(ctx, r.ID, err.Error())
	}
	if r.Attempts >= maxAttempts {
		count(metrics.StatusFailed)
		return false, e.Store.MarkFailed(ctx, r.ID, fmt.Sprintf("giving up after %d attempts: %v", r.Attempts, err))
	}
	count(metrics.StatusRetry)
	return false, e.Store.MarkRetry(ctx, r.ID, now.Add(backoff(r.Attempts)), err.Error())
}

const maxAttempts = 8

// backoff doubles from one minute, capped at six hours.
func backoff(attempt int) time.Duration {
	d := time.Minute << min(attempt, 9)
	return min(d, 6*time.Hour)
}

func (e *Engine) compose(l *loaded, contacts batchContacts, c *plan.Campaign, r store.Claimed) (*mailer.Message, string, error) {
	tpl, ok := l.plan.Template(c.Template)
	if !ok {
		return nil, "", fmt.Errorf("template %s not in plan", c.Template)
	}
	snd, ok := l.plan.Sender(c.Sender)
	if !ok {
		return nil, "", fmt.Errorf("sender %s not in plan", c.Sender)
	}
	seg, _ := l.plan.Segment(c.Segment)
	model, ok := l.plan.Model(seg.Model)
	if !ok {
		return nil, "", fmt.Errorf("model %s not in plan", seg.Model)
	}
	contact, err := contacts.get(model, r.ContactKey)
	if err != nil {
		return nil, "", err
	}
	unsub := e.unsubscribeURL(c.Name, r.Step, r.Email)
	data := map[string]any{
		model.Name:        contact,
		"unsubscribe_url": unsub,
		"campaign":        c.Name,
	}
	out, err := mailer.Render(tpl, data)
	if err != nil {
		return nil, "", err
	}
	to := r.Email
	if name, ok := contact["name"].(string); ok && name != "" {
		to = (&mail.Address{Name: name, Address: r.Email}).String()
	}
	return &mailer.Message{
		From:            snd.From,
		ReplyTo:         snd.ReplyTo,
		To:              to,
		Subject:         out.Subject,
		HTML:            out.HTML,
		Text:            out.Text,
		MessageID:       mailer.MessageID(c.Name, r.Step, r.ContactKey, snd.From),
		Date:            e.Clock.Now(),
		ListUnsubscribe: unsub,
		Headers:         map[string]string{"X-Campaignctl-Campaign": c.Name},
	}, tpl.Hash, nil
}

func (e *Engine) unsubscribeURL(campaign, step, email string) string {
	if e.Links == nil || e.PublicURL == "" {
		return ""
	}
	tok := e.Links.Sign(links.Claims{Campaign: campaign, Step: step, Email: strings.ToLower(strings.TrimSpace(email))})
	return strings.TrimRight(e.PublicURL, "/") + "/u/" + url.PathEscape(tok)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
