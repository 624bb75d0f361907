package store_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
)

// Searches of the outbox and the enrollments by address read the indexes that
// lead with it (migrations 016 and 017): an erasure or an export of one
// person, explain's messages and enrollments of one object for one contact (a
// workflow's too), the frequency caps. Before, all but the last read the
// whole table or every row of the object. Here: 20,000 messages of two
// campaigns, 300 internal messages to one staff address and 30,000
// enrollments of two sequences and a workflow, analyzed, so reading
// everything is what Postgres would plan without a usable index. Each query
// is planned as the daemon and the CLI run it, with parameters, both as a
// custom and as a generic plan.
func TestAddressSearchesUseTheAddressIndexes(t *testing.T) {
	st, ctx := migrated(t), t.Context()
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	for _, c := range []string{"spring", "autumn"} {
		if n, err := st.EnqueueBatch(ctx, c, "", "marketing", now, now, people(10000)); err != nil || n != 10000 {
			t.Fatalf("enqueue %s: %d, %v", c, n, err)
		}
	}
	// Internal mail: one notification to staff per contact, all to one
	// address (so outside the address key), one of them about p7.
	internal := make([]store.Recipient, 300)
	for i := range internal {
		internal[i] = store.Recipient{Key: fmt.Sprint(i), Email: "staff@example.com"}
	}
	if n, err := st.EnqueueBatch(ctx, "notify", "", "internal", now, now, internal); err != nil || n != 300 {
		t.Fatalf("enqueue internal: %d, %v", n, err)
	}
	st.DB.MustExec(`UPDATE campaignctl.outbox SET status = 'sent', sent_at = $1 WHERE id % 2 = 0`, now)
	// Enrollments of two sequences and a workflow, the same 10,000 people.
	var rev int64
	if err := st.DB.Get(&rev, `INSERT INTO campaignctl.revisions (plan_hash, plan, applied_at) VALUES ('h', '{}', $1) RETURNING id`, now); err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct{ kind, name string }{{"sequence", "welcome"}, {"sequence", "winback"}, {"workflow", "onboard"}} {
		if n, err := st.EnrollBatch(ctx, o.kind, o.name, people(10000), now, now, rev); err != nil || n != 10000 {
			t.Fatalf("enroll %s: %d, %v", o.name, n, err)
		}
	}
	// explain's workflow variant of object-contact-enrollments lives with the
	// command (namedQueries reads its file).
	queries := namedQueries(t)
	st.DB.MustExec(`ANALYZE campaignctl.outbox`)
	st.DB.MustExec(`ANALYZE campaignctl.enrollments`)

	cases := []struct {
		query string
		args  []any
		want  []string // indexes the plan must read
	}{
		{"contact-object-keys", []any{"p7@example.com"}, []string{"outbox_address_object", "outbox_internal_address", "enrollments_address_object"}},
		{"contact-rows", []any{"p7@example.com", "{campaign,sequence}", "{spring,welcome}", "{7,7}", "{}", "{}"},
			[]string{"outbox_address_object", "outbox_internal_address", "outbox_contact_key", "enrollments_address_object", "enrollments_kind_object_contact_key_occurrence_key"}},
		{"forget-outbox", []any{"p7@example.com", "{campaign}", "{spring}", "{7}"}, []string{"outbox_address_object", "outbox_internal_address", "outbox_contact_key"}},
		{"forget-enrollments", []any{"p7@example.com", "{sequence}", "{welcome}", "{7}"}, []string{"enrollments_address_object", "enrollments_kind_object_contact_key_occurrence_key"}},
		{"object-contact-messages", []any{"campaign", "spring", "{\"\"}", "7", "p7@example.com"}, []string{"outbox_address_object"}},
		{"object-contact-enrollments", []any{"sequence", "welcome", "7", "p8@example.com"}, []string{"enrollments_address_object", "enrollments_kind_object_contact_key_occurrence_key"}},
		{"workflow-contact-enrollments", []any{"onboard", "7", "p8@example.com"}, []string{"enrollments_address_object", "enrollments_kind_object_contact_key_occurrence_key"}},
		{"cap-counts", []any{"{p7@example.com,p8@example.com}", now.Add(-7 * 24 * time.Hour), "{1,2}"}, []string{"outbox_address_object"}},
	}
	conn := planConn(t, st)
	for _, c := range cases {
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			text, err := explainPrepared(ctx, conn, queries[c.query], c.args, mode)
			if err != nil {
				t.Fatalf("%s (%s): %v", c.query, mode, err)
			}
			for _, table := range []string{"outbox", "enrollments"} {
				if strings.Contains(text, "Seq Scan on "+table) {
					t.Errorf("%s (%s) reads the whole %s:\n%s", c.query, mode, table, text)
				}
			}
			for _, idx := range c.want {
				if !strings.Contains(text, idx) {
					t.Errorf("%s (%s) does not read %s:\n%s", c.query, mode, idx, text)
				}
			}
		}
	}

	// What the searches find is what they found before: the person's rows
	// by address and by key, internal mail to the address included.
	keys, err := st.ObjectKeysOf(ctx, " Staff@Example.com ")
	if err != nil || len(keys) != 300 {
		t.Fatalf("ObjectKeysOf(staff) = %d keys, %v; want the 300 internal messages' keys", len(keys), err)
	}
	ref := store.ContactRef{Address: "p7@example.com", Objects: []store.ObjectKey{{Kind: "campaign", Object: "spring", Key: "7"}, {Kind: "campaign", Object: "notify", Key: "7"}}}
	exp, err := st.ExportContact(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	// spring and autumn by address, notify by key (its address is staff's).
	var rows []struct {
		Campaign string `json:"campaign"`
		Email    string `json:"email_normalized"`
	}
	if err := json.Unmarshal(exp["outbox"], &rows); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r.Campaign] = r.Email
	}
	want := map[string]string{"spring": "p7@example.com", "autumn": "p7@example.com", "notify": "staff@example.com"}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(rows) != 3 {
		t.Errorf("export of p7 holds outbox rows %v, want %v", rows, want)
	}
	if st.Erasure, err = store.NewErasure([]byte("erasure-key-0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	f, err := st.ForgetContact(ctx, store.ContactRef{Address: "staff@example.com"}, "dpo", "test", now)
	if err != nil {
		t.Fatal(err)
	}
	if f.Counts["outbox"] != 300 {
		t.Errorf("forgetting the staff address erased %d outbox rows, want its 300 internal messages", f.Counts["outbox"])
	}
	var left int
	if err := st.DB.Get(&left, `SELECT count(*) FROM campaignctl.outbox WHERE email_normalized = 'staff@example.com'`); err != nil || left != 0 {
		t.Errorf("%d rows to the forgotten address are left (%v)", left, err)
	}
}

// people is n recipients: contact key i, address p<i>@example.com.
func people(n int) []store.Recipient {
	rs := make([]store.Recipient, n)
	for i := range rs {
		rs[i] = store.Recipient{Key: fmt.Sprint(i), Email: fmt.Sprintf("p%d@example.com", i)}
	}
	return rs
}
