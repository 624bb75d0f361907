package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/internal/testlog"
	"github.com/campaignctl/campaignctl/runtime/statuspage"
)

// docs/security.md: log lines carry no contact data. The status page's
// contact lookup logs what the store could not read (the page says to look
// in the log); when the store fails after the contact was found, the line
// must not name the contact looked up, by address or by key.
func TestUIContactLookupTheStoreCannotReadLogsNoContact(t *testing.T) {
	t.Parallel()
	dbURL := seedExplain(t)
	db := sqlx.MustOpen("postgres", dbURL)
	t.Cleanup(func() { db.Close() })
	const email, key = "zed.quarles@example.com", "7340001"
	db.MustExec(`INSERT INTO crm_lead VALUES (` + key + `, '` + email + `', 'Lost', 50, 'FR', NULL)`)
	var logs testlog.Buffer
	base := uiServerLogging(t, dbURL, time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC), &logs)
	lookup := func(q string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/ui/contact", strings.NewReader(url.Values{"q": {q}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+uiTestToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := lookup(email); code != http.StatusOK {
		t.Fatalf("lookup before the fault: %d\n%s", code, body)
	}
	// The CRM still answers; the runner's own tables do not.
	for _, table := range []string{"outbox", "events"} {
		db.MustExec(`ALTER TABLE campaignctl.` + table + ` RENAME TO ` + table + `_away`)
		for _, q := range []string{email, "lead:" + key} {
			if code, body := lookup(q); code != http.StatusServiceUnavailable {
				t.Errorf("lookup of %s with campaignctl.%s away: %d, want 503\n%s", q, table, code, body)
			}
		}
		db.MustExec(`ALTER TABLE campaignctl.` + table + `_away RENAME TO ` + table)
	}
	text := logs.String()
	if !strings.Contains(text, "status page: reading failed") {
		t.Fatalf("no failure logged:\n%s", text)
	}
	// What the operator needs is still there: what failed and why.
	for _, want := range []string{`reading the messages of contact <contact>`, `relation \"campaignctl.outbox\" does not exist`, `relation \"campaignctl.events\" does not exist`} {
		if !strings.Contains(text, want) {
			t.Errorf("the log lacks %q:\n%s", want, text)
		}
	}
	for _, needle := range []string{email, "zed.quarles", key} {
		if strings.Contains(text, needle) {
			t.Errorf("the log names the contact (%q):\n%s", needle, text)
		}
	}
}

// A short key goes where it stands whole, not inside other numbers; an
// address goes whole before a key it contains; the cause is kept.
func TestWithoutContact(t *testing.T) {
	cause := errors.New(`pq: relation "x" does not exist at position 11:6 (42P01)`)
	lead := &plan.Model{Name: "lead"}
	for _, tc := range []struct {
		err      error
		query    string
		contacts []contactRecord
		want     string
	}{
		{fmt.Errorf("reading the messages of contact 1: %w", cause), "lead:1", []contactRecord{{model: lead, key: "1"}},
			`reading the messages of contact <contact>: pq: relation "x" does not exist at position 11:6 (42P01)`},
		{fmt.Errorf("reading the events of lead 1 (%q): %w", "1", cause), "lead:1", []contactRecord{{model: lead, key: "1"}},
			`reading the events of lead <contact> ("<contact>"): pq: relation "x" does not exist at position 11:6 (42P01)`},
		{fmt.Errorf("contact %s for %s: %w", "ann@example.com1", " Ann@Example.com", cause), "ANN@example.com",
			[]contactRecord{{model: lead, key: "ann@example.com1", email: " Ann@Example.com"}},
			`contact <contact> for <contact>: pq: relation "x" does not exist at position 11:6 (42P01)`},
	} {
		got := withoutContact(tc.err, tc.query, tc.contacts)
		if got.Error() != tc.want || !errors.Is(got, cause) {
			t.Errorf("withoutContact(%q)\n = %q (cause kept: %v)\nwant %q", tc.err, got, errors.Is(got, cause), tc.want)
		}
	}
	ue := &statuspage.UserError{Msg: "no row of crm_lead has id = 9"}
	if got := withoutContact(ue, "lead:9", nil); got != error(ue) {
		t.Errorf("a UserError was reworded: %v", got)
	}
}
