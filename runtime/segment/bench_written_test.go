package segment_test

import (
	"context"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// benchWrittenLeads is the size of BenchmarkWrittenField's table; one lead in
// benchWrittenEvery has a stage a workflow wrote.
const (
	benchWrittenLeads = 100_000
	benchWrittenEvery = 100
)

// BenchmarkWrittenField materializes (Each, in batches of 1,000) a segment
// over 100,000 leads whose filter reads lead.stage, when a workflow of the
// plan writes lead.stage (1% of the leads have a written value) and when
// none does (the same filter, the CRM's column alone), on both paths.
//
//	go test -run '^$' -bench BenchmarkWrittenField -benchtime 5x ./runtime/segment/
func BenchmarkWrittenField(b *testing.B) {
	db, _ := storetest.Open(b)
	ctx := context.Background()
	if _, err := (&store.Store{DB: db}).Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	db.MustExec(leadDDL)
	db.MustExec(benchGenSQL, benchWrittenLeads)
	db.MustExec(`INSERT INTO campaignctl.contact_properties (model, contact_key, field, value, set_at, kind, object, step)
		SELECT 'lead', i::text, 'stage', 'Qualified', now(), 'workflow', 'qualify', 'mark'
		FROM generate_series($1::bigint, $2::bigint, $1::bigint) AS i`, benchWrittenEvery, benchWrittenLeads)
	db.MustExec(`VACUUM ANALYZE crm_lead`)
	db.MustExec(`VACUUM ANALYZE campaignctl.contact_properties`)
	seg := planSegment("unqualified", `!(lead.stage in ["Qualified", "Won"])`)
	unwritten, err := segment.New(&plan.Plan{Models: []plan.Model{leadModel()}, Segments: []plan.Segment{seg}})
	if err != nil {
		b.Fatal(err)
	}
	written, err := segment.New(writtenPlan(seg))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ev   *segment.Evaluator
	}{
		{"pushdown/unwritten", unwritten}, {"pushdown/written", written},
		{"in-process/unwritten", unwritten.ForcePath(segment.InProcess)},
		{"in-process/written", written.ForcePath(segment.InProcess)},
	} {
		b.Run(c.name, func(b *testing.B) {
			var n int
			for i := 0; i < b.N; i++ {
				n = 0
				if _, err := c.ev.Each(ctx, db, "unqualified", testNow, 1000, func(ms []segment.Match) error {
					n += len(ms)
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "contacts")
		})
	}
}
