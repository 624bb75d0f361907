package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/flow"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/mailer"
	"github.com/campaignctl/campaignctl/runtime/metrics"
	"github.com/campaignctl/campaignctl/runtime/policy"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// Mailer delivers one message.
type Mailer interface {
	Send(ctx context.Context, m *mailer.Message) error
}

// BatchMailer is a Mailer that can also deliver several messages in one
// exchange (mailer.SMTP pipelines them over one connection). errs[i] means for
// msgs[i] what Send's error would: nil only when the relay accepted it. A
// BatchMailer honours each message's Reserve, HandOff and Done, in Send as in
// SendBatch: the engine takes window tokens through Reserve only for a
// BatchMailer (for a plain Mailer it takes one before each Send).
type BatchMailer interface {
	Mailer
	SendBatch(ctx context.Context, msgs []*mailer.Message) (errs []error)
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
	// NoTracking turns open and click tracking off. Otherwise marketing mail
	// gets its links rewritten through /c/ and an open pixel (/o/) whenever
	// Links and PublicURL are set (track.go).
	NoTracking bool
	// Inbound, if set, gives each message its VERP return path and, for a
	// sender without a Reply-To, a per-message Reply-To (inbound.go).
	Inbound InboundAddresses
	// Worker names this replica in claimed rows.
	Worker string
	// BatchSize bounds rows per materialization insert and per claim.
	BatchSize int
	// Concurrency is the number of messages in flight to SMTP at once (one
	// relay connection each).
	Concurrency int
	// Lease is how long a claim stays valid without renewal, on the database's
	// clock. The owner renews it every Lease/3 while the row is in flight, so it
	// only runs out when the replica died or lost the database.
	Lease time.Duration
	// LedgerBatch bounds the in-flight window: messages handed to the relay
	// whose outcome is not yet committed, which a kill -9 would send again. A
	// message enters it just before its envelope is written and leaves it
	// when its outcome is committed. Outcomes are written LedgerBatch/2 at a
	// time, or after LedgerDelay.
	// Default 256: with 64, workers waited for window tokens while a ledger
	// write of 32 outcomes competed for the CPU (docs/sending.md).
	LedgerBatch int
	LedgerDelay time.Duration
	// GiveUpAfter is how long after its first attempt a message that keeps
	// failing temporarily (4xx, relay down) is still retried, like an MTA's queue
	// lifetime. Measured on Clock.
	GiveUpAfter time.Duration
	// ShutdownGrace is how long, once the context is cancelled, messages already
	// handed to the relay may take to finish and their outcomes to be written.
	ShutdownGrace time.Duration
	// EnrollInterval is how often the leader looks for contacts newly matching
	// a sequence's or autoresponder's segment (default 1 minute, real time),
	// besides right after a new revision is applied. Each look is one INSERT …
	// SELECT with an anti join that reads the whole segment.
	EnrollInterval time.Duration
	// RelayBackoff is the first pause after the relay is found down (default
	// 0.5 s); a relay that refuses us pauses ten times longer. Both double per
	// consecutive failure, up to 30 s and 5 minutes.
	RelayBackoff time.Duration
	// RetentionInterval is how often (real time) the leader looks for
	// expired event months when nothing else prompts it (default
	// DefaultRetentionInterval; retention.go).
	RetentionInterval time.Duration

	mu sync.Mutex
	// current is the revision the daemon runs; read by every message's
	// hand-off check (composedUnder), hence atomic.
	current atomic.Pointer[loaded]
	// loadMu lets one caller at a time decode a new revision: at start the
	// reconcile pass and the send pass both ask for the plan, and each
	// decoded it. planLoads counts the decodes.
	loadMu    sync.Mutex
	planLoads atomic.Int64
	// partitionsMonth is the month for which the events partitions around now
	// were last ensured; the leader checks again when the month changes.
	partitionsMonth time.Time
	// retentionMonth, retentionRev and lastRetention: the cutoff's month,
	// the revision and the real time of the last event retention pass.
	retentionMonth time.Time
	retentionRev   int64
	lastRetention  time.Time
	relay          relayGate
	// rateSlots spreads what a spent sender rate holds over the next minutes
	// (budget.go).
	rateSlots rateSlots
	// drained is set by a daemon's send pipeline when its last claim found
	// nothing due and it holds no rows: only then is the (costlier) idle check
	// worth running.
	drained atomic.Bool
	// wakeSend and wakeReconcile shorten the other loop's wait: new rows were
	// enqueued, or the send pipeline just ran dry (time for the idle check).
	wakeSend, wakeReconcile chan struct{}
	// wakeOneToOne: mail to one person was enqueued (a confirmation, an
	// autoresponder's message: the waited lane; a sequence's or workflow's
	// step: the one-to-one lane); the claimer asks for it even while the
	// campaigns' queue is full.
	wakeOneToOne chan struct{}
	// wakeAdvance: contacts were enrolled or an A/B test decided.
	wakeAdvance chan struct{}
	wakeOnce    sync.Once
	// logged holds the last error logged per subject, so a failure that
	// persists is logged when it starts or changes, not on every pass.
	loggedMu sync.Mutex
	logged   map[string]string
	// lastEnroll is when (real time) and under which revision the leader last
	// enrolled newly matching contacts.
	lastEnroll    time.Time
	lastEnrollRev int64
	// enrolledRev is the revision Idle knows the leader enrolled under
	// (revisions.enrolled_at set).
	enrolledRev atomic.Int64
	// lastExitRev is the revision whose removed objects' enrollments were
	// last exited.
	lastExitRev int64
	// waitsSeen is, by series, the step offsets shortenWaits last brought
	// the enrollments in line with: a revision that leaves them as they are
	// costs no UPDATE.
	waitsSeen map[string]string
}

// queuedOneToOne wakes the send path for mail to one person just enqueued
// (the waited or the one-to-one lane): its claimer asks for it even while
// the campaigns' queue is full.
func (e *Engine) queuedOneToOne() {
	poke(e.wakeSend)
	poke(e.wakeOneToOne)
}

func (e *Engine) wakeChans() {
	e.wakeOnce.Do(func() {
		e.wakeSend = make(chan struct{}, 1)
		e.wakeOneToOne = make(chan struct{}, 1)
		e.wakeReconcile = make(chan struct{}, 1)
		e.wakeAdvance = make(chan struct{}, 1)
	})
}

// logOnce logs err about subject unless the same error was the last logged
// for it.
// A nil err forgets subject's last error, so its next failure is logged.
func (e *Engine) logOnce(subject, msg string, err error) {
	e.loggedMu.Lock()
	if err == nil {
		delete(e.logged, subject)
		e.loggedMu.Unlock()
		return
	}
	if e.logged == nil {
		e.logged = map[string]string{}
	}
	same := e.logged[subject] == err.Error()
	e.logged[subject] = err.Error()
	e.loggedMu.Unlock()
	if !same {
		e.Log.Error(msg, "subject", subject, "err", err)
	}
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

type loaded struct {
	revision int64
	plan     *plan.Plan
	eval     *segment.Evaluator
	// templates are parsed once per revision, not once per message.
	templates map[string]*mailer.Compiled
	// templateErrs holds why a template could not be parsed; its messages fail.
	templateErrs map[string]error
	// variantHashes are the content hashes of A/B variants' templates, by
	// variantKey, recorded with each message sent.
	variantHashes map[string]string
	// variantSubs are the subscription types of A/B variants' templates, by
	// variantKey, for the consent their messages need.
	variantSubs map[string]string
	// consent holds the consent conditions of the plan's models, compiled,
	// by consentKey.
	consent map[string]*consentRule
	// anyOptIn: some message of the revision needs consent, so claimed
	// batches read the consent ledger.
	anyOptIn bool
	// optInTypes are the subscription types some object sends marketing mail
	// of under an opt_in policy (the preference center's defaults).
	optInTypes map[string]bool
	// anySubscription: some template belongs to a subscription type, so a
	// per-type withdrawal may cancel marketing mail under opt_out too.
	anySubscription bool
	// series are the plan's sequences and autoresponders by seriesKey,
	// compiled (or with the error that kept one from compiling).
	series map[string]*series
	// workflows are the plan's workflows, compiled, by name order.
	workflows []*workflow
	// ab holds the decided A/B tests (by variantKey with no variant), as last
	// read from the store.
	abMu sync.Mutex
	ab   map[string]flow.ABOutcome
	// rules are the send-time policies by rulesKey; ruleErrs why one could
	// not compile.
	rules    map[string]*policy.Rules
	ruleErrs map[string]error
	// anyCap: some object of the revision has a frequency cap, so claimed
	// batches count their addresses' recent mail.
	anyCap bool
	// paused are the objects paused in the plan, by seriesKey; pausedRefs
	// the same, for the claim query.
	paused     map[string]bool
	pausedRefs []store.ObjectRef
	// doubleOptIns are the double opt-in subscription types by name.
	doubleOptIns map[string]doubleOptIn
	// written are, by model, the fields the plan's workflows write
	// (plan.FieldsWorkflowsWrite): templates see those over the CRM's row, and
	// so do segments (segment.New reads the same set from the plan).
	written map[string]map[string]bool
}

// ErrNoPublicURL: marketing mail needs a working unsubscribe link, which needs
// the daemon's public URL and signing key.
var ErrNoPublicURL = errors.New("the applied plan has marketing mail, which must carry a working unsubscribe link, but the daemon has no public URL: pass --public-url https://… and set CAMPAIGNCTL_SECRET")

func (e *Engine) defaults() {
	if e.BatchSize <= 0 {
		e.BatchSize = 500
	}
	if e.Concurrency <= 0 {
		e.Concurrency = 4
	}
	if e.Lease <= 0 {
		e.Lease = 30 * time.Second
	}
	if e.LedgerBatch <= 0 {
		e.LedgerBatch = 256
	}
	if e.LedgerDelay <= 0 {
		e.LedgerDelay = 20 * time.Millisecond
	}
	if e.GiveUpAfter <= 0 {
		e.GiveUpAfter = 72 * time.Hour
	}
	if e.EnrollInterval <= 0 {
		e.EnrollInterval = time.Minute
	}
	if e.RelayBackoff <= 0 {
		e.RelayBackoff = 500 * time.Millisecond
	}
	if e.ShutdownGrace <= 0 {
		e.ShutdownGrace = 10 * time.Second
	}
	if e.Log == nil {
		e.Log = slog.Default()
	}
	e.wakeChans()
	if e.Worker == "" {
		e.Worker = "campaignctl"
	}
}

// HasMarketing reports whether p sends marketing mail, which needs an
// unsubscribe link.
func HasMarketing(p *plan.Plan) bool {
	for _, c := range p.Campaigns {
		if c.Class == "" || c.Class == plan.ClassMarketing {
			return true
		}
	}
	// A sequence or an autoresponder sends marketing mail unless every
	// template it uses says otherwise.
	for _, s := range seriesOf(p) {
		for _, st := range s.Steps {
			if t, ok := p.Template(st.Template); !ok || t.Class == "" || t.Class == plan.ClassMarketing {
				return true
			}
		}
	}
	return false
}

// load returns the latest applied plan, decoding it only when the revision changed.
func (e *Engine) load(ctx context.Context) (*loaded, error) {
	id, err := e.Store.LatestRevisionID(ctx)
	if err != nil {
		return nil, err
	}
	if cur := e.loadedNow(); cur != nil && cur.revision == id {
		return cur, nil
	}
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	// Another caller may have loaded it, or a later one, while this one waited.
	if cur := e.loadedNow(); cur != nil && cur.revision >= id {
		return cur, nil
	}
	e.planLoads.Add(1)
	rev, err := e.Store.LatestRevision(ctx)
	if err != nil {
		return nil, err
	}
	p, err := plan.Decode([]byte(rev.Plan))
	if err != nil {
		return nil, fmt.Errorf("revision %d: %w", rev.ID, err)
	}
	ser := seriesOf(p)
	ev, err := segment.New(withHiddenSegments(p, ser, workflowHiddenSegments(p)))
	if err != nil {
		return nil, fmt.Errorf("revision %d: %w", rev.ID, err)
	}
	dois := doubleOptIns(p)
	if (HasMarketing(p) || len(dois) > 0) && (e.PublicURL == "" || e.Links == nil) {
		return nil, fmt.Errorf("revision %d: %w", rev.ID, ErrNoPublicURL)
	}
	l := &loaded{revision: rev.ID, plan: p, eval: ev, templates: map[string]*mailer.Compiled{}, templateErrs: map[string]error{}, variantHashes: map[string]string{}, variantSubs: map[string]string{}}
	for i := range p.Templates {
		t := &p.Templates[i]
		c, err := mailer.Compile(t)
		if err != nil {
			l.templateErrs[t.Name] = err
			continue
		}
		l.templates[t.Name] = c
	}
	l.paused, l.pausedRefs = pausedObjects(p)
	l.loadSequences(ser)
	l.loadWorkflows(workflowsOf(p))
	l.doubleOptIns = dois
	l.written = p.FieldsWorkflowsWrite()
	l.loadRules()
	l.loadConsent()
	e.current.Store(l)
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
		// Another leader may change the waits meanwhile: when this one
		// leads again, it brings every series in line once more.
		e.waitsSeen = nil
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
	if n, err := e.Store.ReleasePausedHolds(ctx, l.pausedRefs, now); err != nil {
		return err
	} else if n > 0 {
		e.Log.Info("messages held while their object was paused are due again", "messages", n)
		poke(e.wakeSend)
	}
	// A failed retention pass (a lock it could not get in time, a plan with a
	// bad value) must not hold up sending: logged, tried again next pass.
	e.logOnce("event retention", "event retention pass failed; no events were lost, it is tried again", e.applyEventRetention(ctx, l, now))
	actual, err := e.Store.Campaigns(ctx)
	if err != nil {
		return err
	}
	stored := make(map[string]store.Campaign, len(actual))
	for _, a := range actual {
		stored[a.Name] = a
	}
	desired := map[string]bool{}
	upserted := false
	for _, c := range l.plan.Campaigns {
		desired[c.Name] = true
		// What upsert-campaign would leave as it is (same hash, not removed)
		// is not sent to it: an idle pass writes nothing (the upsert's
		// ON CONFLICT locked each row, a WAL record per campaign per pass).
		if a, ok := stored[c.Name]; ok && a.Hash == c.Hash && a.Status != store.StatusRemoved {
			continue
		}
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
		upserted = true
	}
	if upserted {
		if actual, err = e.Store.Campaigns(ctx); err != nil {
			return err
		}
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
		if c.Paused {
			continue // stays scheduled: materialized once unpaused
		}
		if err := e.materialize(ctx, l, c, now); err != nil {
			return err
		}
	}
	if err := e.reconcileSequences(ctx, l, now); err != nil {
		return err
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
	defer e.Metrics.ObserveAudience(time.Now())
	var total, fresh, invalid int64
	// The catalog is read at each materialization, so a constraint dropped since
	// the revision was loaded can never make the SQL skip a NULL guard it needs.
	ev, err := l.eval.WithCatalog(ctx, e.Store.DB)
	if err != nil {
		return fmt.Errorf("campaign %q: %w", c.Name, err)
	}
	growth := e.Store.NewOutboxGrowth()
	enq, err := e.Store.NewCampaignEnqueuer(ctx, c.Name, c.Class)
	if err != nil {
		return err
	}
	path, err := ev.Each(ctx, e.Store.DB, c.Segment, now, e.BatchSize, func(batch []segment.Match) error {
		defer poke(e.wakeSend) // the first rows can go out while the rest is enqueued
		rs := make([]store.Recipient, 0, len(batch))
		for _, m := range batch {
			// A contact without an address is simply not mailable; one with a
			// malformed address is counted and logged (by number, not address), so
			// the relay never sees it and the CRM can be fixed.
			if strings.TrimSpace(m.Email) != "" {
				if _, err := mailer.ValidateAddress(m.Email); err != nil {
					invalid++
					continue
				}
			}
			rs = append(rs, store.Recipient{Key: m.Key, Email: m.Email})
		}
		var n int64
		var err error
		if c.ABTest != nil {
			variants, dues := campaignVariants(c, rs, now)
			n, err = e.Store.EnqueueVariants(ctx, c.Name, c.Class, now, rs, variants, dues)
		} else {
			n, err = enq.Enqueue(ctx, now, now, rs)
		}
		total += int64(len(batch))
		fresh += n
		if err != nil {
			return err
		}
		return growth.Add(ctx, n)
	})
	if err != nil {
		return fmt.Errorf("campaign %s: materializing segment %s: %w", c.Name, c.Segment, err)
	}
	if e.Metrics != nil {
		e.Metrics.Enqueued.WithLabelValues(kindCampaign, c.Name, "").Add(float64(fresh))
	}
	if invalid > 0 {
		e.Log.Warn("audience has contacts with malformed email addresses; they are not mailed", "campaign", c.Name, "segment", c.Segment, "invalid", invalid)
		if e.Metrics != nil {
			e.Metrics.InvalidAddresses.WithLabelValues(c.Name).Add(float64(invalid))
		}
	}
	e.Log.Info("audience materialized", "campaign", c.Name, "segment", c.Segment, "path", string(path), "matched", total, "enqueued", fresh, "invalid_addresses", invalid)
	if err := growth.Done(ctx, total); err != nil {
		return err
	}
	if err := e.Store.MarkMaterialized(ctx, c.Name, total, now); err != nil {
		return err
	}
	poke(e.wakeSend)
	return nil
}

// unsubscribeURL is the link of a message's unsubscribe page and one-click
// unsubscribe. subscription is the message's subscription type (its
// template's), which one-click withdraws; "" withdraws all marketing mail.
func (e *Engine) unsubscribeURL(campaign, step, email, subscription string) string {
	if e.Links == nil || e.PublicURL == "" {
		return ""
	}
	tok := e.Links.Sign(links.Claims{Campaign: campaign, Step: step, Email: normAddress(email), Subscription: subscription})
	return strings.TrimRight(e.PublicURL, "/") + "/u/" + url.PathEscape(tok)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
