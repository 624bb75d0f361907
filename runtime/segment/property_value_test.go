package segment_test

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment/sqlgen"
)

// TestPropertyValueAgreesWithPostgres: for many texts, generated from the
// pieces the forms are made of (every day number of every month of years
// around leap centuries, random numbers, offsets, words, spaces), the SQL a
// segment reads a written field with never fails, and reads NULL exactly
// where plan.PropertyValue refuses the text, and the same value elsewhere.
func TestPropertyValueAgreesWithPostgres(t *testing.T) {
	db := openLeads(t, 1, 1)
	m := leadModel()
	written := map[string]bool{"created_at": true, "score": true, "probability": true, "active": true}
	cols, _, err := sqlgen.OverlayColumns(&m, written)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(7))
	pick := func(parts ...string) string { return parts[r.Intn(len(parts))] }
	digits := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteByte(byte('0' + r.Intn(10)))
		}
		return b.String()
	}
	texts := map[string][]string{}
	for _, y := range []string{"0000", "0001", "0004", "0100", "0400", "1600", "1700", "1900", "1996", "2000", "2023", "2024", "2100", "2400", "9999"} {
		for mo := 0; mo <= 13; mo++ {
			for d := 0; d <= 32; d++ {
				date := fmt.Sprintf("%s-%02d-%02d", y, mo, d)
				texts["created_at"] = append(texts["created_at"], date, date+"T23:59:59Z")
			}
		}
	}
	for i := 0; i < 3000; i++ {
		texts["created_at"] = append(texts["created_at"], fmt.Sprintf("%s-%s-%sT%s:%s:%s%s%s", pick("2024", "2023", "0001", "9999"), pick("02", "04", "12", "13"),
			pick("28", "29", "30", "31"), pick("00", "23", "24"), pick("00", "59", "60"), pick("00", "59", "60"), pick("", ".5", ".1234567"),
			pick("", "Z", "z", "+01:00", "-15:59", "+16:00", "+23:59", "+0100", "+01", " ", "+24:00")))
		texts["score"] = append(texts["score"], pick("", "+", "-", " ")+digits(r.Intn(22))+pick("", "", ".", "e1", " "))
		texts["probability"] = append(texts["probability"], pick("", "+", "-", " ")+digits(r.Intn(4))+pick("", ".", ".5")+digits(r.Intn(3))+
			pick("", "", "e", "E", "e+", "e-")+fmt.Sprint(r.Intn(1200))+pick("", "", " ", "f"))
		texts["active"] = append(texts["active"], pick("", " ")+pick("true", "True", "TRUE", "tRUE", "t", "T", "1", "0", "yes", "no", "false", "F", "on")+pick("", "", " "))
	}
	texts["probability"] = append(texts["probability"], "inf", "-Inf", "+infinity", "nan", "NaN", "-nan", "+nan", "infinit", ".", "e5", "1e", "2.2250738585072014e-308",
		"2.2250738585072013e-308", "1.7976931348623157e308", "1.7976931348623158e308", "-0", "0e999")
	for field, vals := range texts {
		f, _ := m.Field(field)
		alias := cols[field][strings.Index(cols[field], "campaignctl_w"):]
		alias = alias[:strings.Index(alias, ".")]
		q := fmt.Sprintf(`SELECT %s FROM unnest($1::text[]) WITH ORDINALITY AS %s(campaignctl_v, campaignctl_k), (SELECT NULL::%s AS %q) AS crm ORDER BY %s.campaignctl_k`,
			cols[field], alias, map[plan.FieldType]string{plan.TypeTimestamp: "timestamptz", plan.TypeInt: "int8", plan.TypeFloat: "float8", plan.TypeBool: "bool"}[f.Type], field, alias)
		rows, err := db.Query(q, pq.Array(vals))
		if err != nil {
			t.Fatalf("%s: %v", field, err)
		}
		i := 0
		for ; rows.Next(); i++ {
			var got any
			if err := rows.Scan(&got); err != nil {
				t.Fatalf("%s %q: %v", field, vals[i], err)
			}
			want, err := plan.PropertyValue(f.Type, vals[i])
			if err != nil {
				want = nil
			}
			if tm, ok := want.(time.Time); ok {
				want = tm.Round(time.Microsecond)
			}
			if b, ok := got.([]byte); ok { // a float8 comes as text
				var x float64
				fmt.Sscan(string(b), &x)
				got = x
			}
			if fmt.Sprint(normal(got)) != fmt.Sprint(normal(want)) {
				t.Errorf("%s %q: Postgres reads %v, PropertyValue %v", field, vals[i], normal(got), normal(want))
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: after %d rows (%q): %v", field, i, vals[i], err)
		}
		rows.Close()
	}
}

func normal(v any) any {
	if tm, ok := v.(time.Time); ok {
		return tm.UTC()
	}
	return v
}
