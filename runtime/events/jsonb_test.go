package events

import (
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// jsonbProblem must refuse exactly what Postgres's jsonb input refuses: asked of
// the real server, each value below gets the same verdict from both.
func TestJSONBProblemAgreesWithPostgres(t *testing.T) {
	db, _ := storetest.Open(t)
	values := []string{
		"0", "-0", "1.5", "1e131071", "1e131072", "9.9e131071", "-1e131071", "123456e131066", "123456e131067",
		"0.001e131074", "0.001e131075", "0e999999", "0e-16383", "0e-16384", "0.0e-16383", "1e-16383", "1e-16384",
		"1.5e-16382", "1.5e-16383", "1E+5", "1e1073741822", "0e1073741823", "0e-1073741823", "0e99999999999999999999",
		"0." + strings.Repeat("0", 16383), "0." + strings.Repeat("0", 16384), "1" + strings.Repeat("0", 131071),
		"1" + strings.Repeat("0", 131072), "0.5e-16382",
		`"a"`, `"\u0000"`, `"\\u0000"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`, `"\ud83dx"`, `"\ud83d\u0041"`,
		`"\ude00\ud83d"`, `"\\ud83d"`, `["\uD83D\uDE00", "\uDBFF\uDFFF"]`, `{"\ud800":1}`, "\"caf\xe9\"",
		`{"a":[1,-2.5e3,{"b":"\"\\"}],"c":null}`,
	}
	for _, v := range values {
		doc := `{"v":` + v + `}`
		_, pgErr := db.Exec(`SELECT $1::jsonb`, doc)
		msg := jsonbProblem([]byte(doc))
		if (pgErr == nil) != (msg == "") {
			shown := v
			if len(shown) > 40 {
				shown = shown[:40] + "…"
			}
			t.Errorf("%s: Postgres says %v, jsonbProblem says %q", shown, pgErr, msg)
		}
	}
}
