package events

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
)

const (
	// DefaultBatchSize is how many events Import stores per COPY: large enough
	// that round trips do not dominate, small enough that a batch of big
	// properties stays a few megabytes.
	DefaultBatchSize = 5000
	// MaxLineBytes bounds one NDJSON line, so a file without newlines cannot make
	// Import hold gigabytes.
	MaxLineBytes = 1 << 20
	// partitionYears is how far from now Import creates monthly partitions. Events
	// further out (a backfill of ancient history, a clock gone wrong) stay in the
	// default partition rather than making one table per stray month.
	partitionYears = 10
)

// ImportOptions tunes Import. The zero value is the default.
type ImportOptions struct {
	// BatchSize is the number of events stored per COPY (default
	// DefaultBatchSize).
	BatchSize int
	// Now is the instant the partition window (±10 years) is centred on (default
	// the wall clock).
	Now time.Time
	// Schema, if set, refuses events whose declared properties have another
	// JSON type: the applied plan's (SchemaOf).
	Schema Schema
}

// Result counts what an import did.
type Result struct {
	Lines      int64    `json:"lines"`      // lines read, blank ones included
	Events     int64    `json:"events"`     // events read (non-blank lines)
	Inserted   int64    `json:"inserted"`   // events stored
	Duplicates int64    `json:"duplicates"` // events already stored (same model, id and time)
	Partitions []string `json:"partitions"` // monthly partitions created
	// Warnings say what went wrong after the events were stored.
	Warnings []string `json:"warnings,omitempty"`
}

// LineError is what is wrong with one line of an import.
type LineError struct {
	Name string // the input's name, as given to Import
	Line int64  // 1-based
	// Element is the event's 1-based position in a JSON array (ParseJSONArray),
	// where one line may hold several events; 0 for NDJSON.
	Element int
	Err     error // one or more *FieldError (errors.Join), or a problem of the whole line
}

// Error prefixes every problem with name:line, the way compilers point at source.
func (e *LineError) Error() string {
	prefix := fmt.Sprintf("%s:%d: ", e.Name, e.Line)
	if e.Element > 0 {
		prefix += fmt.Sprintf("element %d: ", e.Element)
	}
	return prefix + strings.ReplaceAll(e.Err.Error(), "\n", "\n"+prefix)
}

func (e *LineError) Unwrap() error { return e.Err }

// nothingImported is the suffix of every error after the transaction began: the
// user must know that nothing of the input is in the database and a fixed re-run
// starts from a clean slate.
const nothingImported = "; nothing was imported"

// Import reads NDJSON events from r (named name in messages, e.g. the file name)
// and stores them in one transaction: either every event is stored (or skipped as
// a duplicate) or, on any error, none is. A *LineError (reachable with errors.As)
// names the first bad line and its field. After an error, the Result still counts
// the lines and events read, but Inserted is 0 and Partitions empty. The
// partitions of the events' months are created just before the events are
// stored, each in a short transaction of its own (they stay, empty, if the
// import fails after), so the import holds no lock on campaignctl.events
// while it reads r.
func Import(ctx context.Context, st *store.Store, r io.Reader, name string, opt ImportOptions) (res Result, err error) {
	defer func() {
		if err != nil {
			res.Inserted, res.Partitions = 0, nil
		}
	}()
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultBatchSize
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}

	tx, err := st.DB.BeginTxx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("importing %s: %w%s", name, err, nothingImported)
	}
	defer tx.Rollback()

	// The batches are staged in the transaction and stored together at the
	// end, once the partitions of their months exist: creating a partition
	// locks campaignctl.events until its transaction commits, so it is done in
	// short transactions of its own, never in the import's, which would keep
	// every writer and reader of the events waiting while it reads its input.
	batch := make([]store.Event, 0, opt.BatchSize)
	var batchFirst int64           // line of the batch's first event
	months := map[time.Time]bool{} // whose partitions the events need
	touched := map[string]bool{}   // the months written to, for AnalyzeEventMonths
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		for _, m := range PartitionMonths(batch, opt.Now) {
			months[m] = true
		}
		for _, e := range batch {
			touched[store.EventPartitionName(e.OccurredAt)] = true
		}
		if err := store.StageEventsTx(ctx, tx, batch); err != nil {
			return err
		}
		batch = batch[:0]
		return nil
	}
	batchError := func(err error) error {
		return fmt.Errorf("importing %s, lines %d-%d: %w%s", name, batchFirst, res.Lines, err, nothingImported)
	}

	sc := newLineScanner(r)
	for sc.Scan() {
		res.Lines++
		line := sc.Bytes()
		if res.Lines == 1 {
			line = trimBOM(line)
		}
		if len(line) > MaxLineBytes {
			return res, tooLong(name, res.Lines)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, err := opt.Schema.parseLine(line)
		if err != nil {
			return res, fmt.Errorf("%w%s", &LineError{Name: name, Line: res.Lines, Err: err}, nothingImported)
		}
		res.Events++
		if len(batch) == 0 {
			batchFirst = res.Lines
		}
		batch = append(batch, e)
		if len(batch) == opt.BatchSize {
			if err := flush(); err != nil {
				return res, batchError(err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return res, tooLong(name, res.Lines+1)
		}
		return res, fmt.Errorf("reading %s after line %d: %w%s", name, res.Lines, err, nothingImported)
	}
	if err := flush(); err != nil {
		return res, batchError(err)
	}
	for _, m := range slices.SortedFunc(maps.Keys(months), time.Time.Compare) {
		created, err := st.EnsureEventPartitions(ctx, m, m)
		if err != nil {
			return res, fmt.Errorf("importing %s: %w%s", name, err, nothingImported)
		}
		res.Partitions = append(res.Partitions, created...)
	}
	if res.Inserted, err = store.InsertStagedEventsTx(ctx, tx); err != nil {
		return res, fmt.Errorf("importing %s: %w%s", name, err, nothingImported)
	}
	if err := tx.Commit(); err != nil {
		// The outcome of a failed COMMIT is unknown only when the connection
		// dropped; re-running is safe for events that carry an id.
		return res, fmt.Errorf("importing %s: committing: %w (if the connection dropped, the events may or may not be stored; re-importing is safe for events with an \"id\")", name, err)
	}
	res.Duplicates = res.Events - res.Inserted
	sort.Strings(res.Partitions)
	// The next enrollment passes must not plan on partitions that look empty
	// until autovacuum's next round (AnalyzeEventMonths says why). A role
	// that does not own the table gets a warning from Postgres, not an
	// error, and waits for autovacuum as before. The events are stored
	// whatever happens here, so a failure is a warning, not Import's error.
	if res.Inserted >= store.AnalyzeEventsAfter {
		if err := st.AnalyzeEventMonths(ctx, touched); err != nil {
			res.Warnings = append(res.Warnings, err.Error()+" (the events are stored; autovacuum refreshes the statistics within about a minute)")
		}
	}
	return res, nil
}

func tooLong(name string, line int64) error {
	return fmt.Errorf("%w%s", lineTooLong(name, line), nothingImported)
}

func lineTooLong(name string, line int64) *LineError {
	return &LineError{Name: name, Line: line, Err: fmt.Errorf("line is longer than %d bytes (1 MiB); shrink the event's properties", MaxLineBytes)}
}

// newLineScanner reads r line by line, lines of up to MaxLineBytes.
func newLineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	// +2 leaves room for the line's "\r\n", so a line of exactly MaxLineBytes
	// fits; callers check the length without the terminator.
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes+2)
	return sc
}

// trimBOM drops the byte order mark Windows editors put before the first line.
func trimBOM(line []byte) []byte { return bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) }

// partitionWindow is the span of event times whose months get a partition of
// their own (see partitionYears).
func partitionWindow(now time.Time) (lo, hi time.Time) {
	return now.AddDate(-partitionYears, 0, 0), now.AddDate(partitionYears, 0, 0)
}
